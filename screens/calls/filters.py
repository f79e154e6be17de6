"""What the operator types into the calls filter, read leniently."""

from __future__ import annotations

from datetime import date, datetime

from services.calls import CallState
from services.core import JST, BadWhen, parse_when

# The state choices of the filter: (choice id, states). "all" is the default, as in
# `callrec calls`: deleted calls stay in the index as tombstones (who deleted them, when, under
# which instruction) and show as such. One state at a time keeps every choice on an index.
STATE_CHOICES: dict[str, tuple[str, ...]] = {
    "all": (),
    **{s.value: (s.value,) for s in CallState if s is not CallState.PURGING},
}


class BadDate(ValueError):
    pass


def parse_day(text: str, today: date) -> date | None:
    """2026-11-24, 2026/11/24, 20261124, 2026年11月24日, 令和8年11月24日, 11/24 (the latest such day
    not after today), today/今日, yesterday/昨日; full-width digits too (services/core/when.py).
    Empty -> None; a time of day or anything else -> BadDate."""
    if not text.strip():
        return None
    try:
        when = parse_when(text, today, JST)
    except BadWhen:
        raise BadDate(text) from None
    if when.at is not None:
        raise BadDate(text)
    return when.day


def parse_from(text: str, today: date) -> date | datetime | None:
    """The filter's first field: a day as `parse_day`, or a moment (2026-12-04 14:00, 12/4 14時,
    14時頃, 昨日 午後2時): the calls around it, closest first."""
    if not text.strip():
        return None
    try:
        when = parse_when(text, today, JST)
    except BadWhen:
        raise BadDate(text) from None
    return when.at if when.at is not None else when.day
