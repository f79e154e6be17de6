"""Option values checked where they are read (argparse `type=`): whole numbers within SQLite's
64-bit range and sensible limits, dates and times within years a recorder can have seen. Anything
else is a usage error: one line, exit 2, nothing opened."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date

from console import i18n
from services.core import DAY_FORMS, BadWhen, Phrase, read_when, refused_when, visible

INT64_MAX = 2**63 - 1
LIST_MAX = 1_000_000  # rows a listing prints at most


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
    """A whole day written out with its year (2026-09-07, 2026年9月7日, 令和8年9月7日, R8.9.7, ...):
    one the command line reads the same whatever day it is."""
    try:
        value = read_when(text)
    except BadWhen:
        value = None
    if value is None or value.day is None or value.clock is not None:
        refused = refused_when(text, "a day with its year", DAY_FORMS)
        raise argparse.ArgumentTypeError(i18n.tr_error(refused))
    return value.day


def phrase(text: str) -> Phrase:
    """A date or a time of day in any form services/core/when.py reads (今日, 12/4, 14時頃, ...),
    checked now and placed against the workspace's today by the command."""
    return _read(text)


def when(text: str) -> str:
    """A date or a date and time (2026-09-07, 2026-09-07T09:30, 令和8年9月7日 14時, ...) between
    1970 and 2999; returned as typed, for the command to read in the configured time zone."""
    _read(text)
    return text.strip()


def _read(text: str) -> Phrase:
    try:
        return read_when(text)
    except BadWhen as exc:  # one line in the user's language, naming the forms taken
        raise argparse.ArgumentTypeError(i18n.tr_error(exc)) from None


def _whole(text: str) -> int:
    raw = text.strip()
    digits = raw.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"not a whole number: {_shown(text)}")
    if len(digits) > 19:  # beyond any range checked here (and int() of thousands of digits fails)
        return -INT64_MAX - 2 if raw.startswith("-") else INT64_MAX + 1
    return int(raw)


def _shown(text: str) -> str:
    """The value as typed, escaped and cut short (it goes into a one-line message)."""
    shown = visible(text)
    return repr(shown if len(shown) <= 40 else shown[:40] + "…")
