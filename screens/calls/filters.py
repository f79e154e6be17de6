"""What the operator types into the calls filter, read leniently."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from services.calls import CallState

_FULL = re.compile(r"(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?")
_SHORT = re.compile(r"(\d{1,2})[-/.月](\d{1,2})日?")
_WORDS = {"today": 0, "今日": 0, "きょう": 0, "yesterday": 1, "昨日": 1, "きのう": 1}

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
    """2026-11-24, 2026/11/24, 20261124, 2026年11月24日, 11/24 (the latest such day not after
    today), today/今日, yesterday/昨日; full-width digits too. Empty -> None; else BadDate."""
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if not value:
        return None
    if value in _WORDS:
        return today - timedelta(days=_WORDS[value])
    try:
        m = _FULL.fullmatch(value)
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        m = _SHORT.fullmatch(value)
        if m:
            day = date(today.year, int(m[1]), int(m[2]))
            return day if day <= today else date(today.year - 1, day.month, day.day)
    except ValueError:
        pass
    raise BadDate(text)
