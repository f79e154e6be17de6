"""Time: one place that says what "now" is, always timezone-aware."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

JST = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    tz: tzinfo

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock. Destructive actions always use this one."""

    def __init__(self, tz: tzinfo = JST) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


class FixedClock:
    """A clock that only moves when told to: tests, snapshots and previews."""

    def __init__(self, at: datetime, tz: tzinfo = JST) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.tz = tz
        self._at = at.astimezone(tz)

    def now(self) -> datetime:
        return self._at

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)


def to_epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def from_epoch(seconds: float, tz: tzinfo = JST) -> datetime:
    return datetime.fromtimestamp(seconds, tz)


def local_day(day: date | datetime, tz: tzinfo = JST) -> date:
    """The calendar day in `tz`. A datetime must be aware (a naive one has no place in time); a
    plain date is taken as already local."""
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError("a datetime must be timezone-aware")
        return day.astimezone(tz).date()
    return day


def fiscal_year(day: date | datetime, tz: tzinfo = JST) -> int:
    """Japanese fiscal year: FY2025 runs 2025-04-01 .. 2026-03-31 (Japan time)."""
    local = local_day(day, tz)
    return local.year if local.month >= 4 else local.year - 1


def fiscal_year_end(fy: int) -> date:
    return date(fy + 1, 3, 31)
