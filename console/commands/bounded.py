"""Option values checked where they are read (argparse `type=`): whole numbers within SQLite's
64-bit range and sensible limits, dates and times within years a recorder can have seen. Anything
else is a usage error: one line, exit 2, nothing opened."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime

from services.core import visible

INT64_MAX = 2**63 - 1
LIST_MAX = 1_000_000  # rows a listing prints at most
FIRST_DAY = date(1970, 1, 1)  # times are stored as Unix seconds
LAST_DAY = date(2999, 12, 31)  # leaves room for a day or a time zone added to it


def count(least: int, most: int = LIST_MAX) -> Callable[[str], int]:
    """A whole number from `least` to `most`."""

    def parse(text: str) -> int:
        value = _whole(text)
        if not least <= value <= most:
            raise argparse.ArgumentTypeError(f"must be from {least} to {most}: {_shown(text)}")
        return value

    return parse


def ident(text: str) -> int:
    """A row id (a call, a register entry): a positive 64-bit integer."""
    value = _whole(text)
    if not 1 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"not an id (1 to {INT64_MAX}): {_shown(text)}")
    return value


def day(text: str) -> date:
    """YYYY-MM-DD between 1970 and 2999."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {_shown(text)} (use YYYY-MM-DD)") from None
    return _in_range(value, text)


def when(text: str) -> str:
    """A date or a date and time (ISO 8601, e.g. 2026-09-07 or 2026-09-07T09:30) between 1970 and
    2999; returned as typed, for the command to read in the configured time zone."""
    raw = text.strip()
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw).date()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {_shown(text)} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)"
        ) from None
    _in_range(value, text)
    return raw


def _whole(text: str) -> int:
    raw = text.strip()
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"not a whole number: {_shown(text)}")
    if len(digits) > 19:  # beyond any range checked here (and int() of thousands of digits fails)
        return -INT64_MAX - 2 if raw.startswith("-") else INT64_MAX + 1
    return int(raw)


def _in_range(value: date, text: str) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"out of range: {_shown(text)} (from {FIRST_DAY} to {LAST_DAY})")
    return value


def _shown(text: str) -> str:
    """The value as typed, escaped and cut short (it goes into a one-line message)."""
    shown = visible(text)
    return repr(shown if len(shown) <= 40 else shown[:40] + "…")
