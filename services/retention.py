"""Retention dates of GUIDELINE 第4条6, all counted in Japan time. The only place these rules live."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, tzinfo

from services.clock import JST


def end_of_following_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


def fiscal_year(day: date) -> int:
    """Japanese fiscal year: FY2025 runs 2025-04-01 .. 2026-03-31."""
    return day.year if day.month >= 4 else day.year - 1


def raw_kept_through(started_at: datetime, tz: tzinfo = JST) -> date:
    """Recording data (第4条6(1)): through the end of the month after the month it was recorded."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    return end_of_following_month(started_at.astimezone(tz).date())


def output_kept_through(written_on: date) -> date:
    """Output data (第4条6(2)): through the end of the fiscal year after the one it was written in."""
    return date(fiscal_year(written_on) + 2, 3, 31)


def deletable_from(kept_through: date, tz: tzinfo = JST, grace_days: int = 0) -> datetime:
    """"Kept through D" means deletable from D+1 00:00 local time; never earlier.

    grace_days is the device allowance of 第4条6(1) ただし書: a device that cannot delete on the day
    deletes that many days later.
    """
    return datetime.combine(kept_through + timedelta(days=1 + grace_days), time(0), tz)


def is_expired(kept_through: date, now: datetime, grace_days: int = 0, tz: tzinfo = JST) -> bool:
    return now >= deletable_from(kept_through, tz, grace_days)


def last_expired_day(now: datetime, grace_days: int = 0, tz: tzinfo = JST) -> date:
    """The latest kept-through date that has ended at `now` (for index range queries)."""
    return now.astimezone(tz).date() - timedelta(days=1 + grace_days)
