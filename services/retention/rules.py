"""Retention dates of GUIDELINE 第4条6, all counted in Japan time. The only place these rules live.

- Recording data (第4条6(1)): kept through the end of the month after the month it was recorded
  (翌月末). A device that cannot delete on that day may follow its own schedule (ただし書): the
  optional `raw_grace_days` of the configuration, applied by `deletable_from`.
- Output data (第4条6(2)): kept through the end of the fiscal year after the one it was written in
  (翌年度末; the Japanese fiscal year runs 1 April - 31 March), counted from the day it was written.
- "Kept through D" means: deletable from D+1 00:00 Japan time on, never earlier.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, tzinfo

from services.core.clock import JST, fiscal_year, fiscal_year_end, local_day


def end_of_following_month(day: date) -> date:
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


def raw_kept_through(started_at: datetime, tz: tzinfo = JST) -> date:
    """Recording data (第4条6(1)): through the end of the month after the month it was recorded."""
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    return end_of_following_month(local_day(started_at, tz))


def output_kept_through(written_on: date | datetime, tz: tzinfo = JST) -> date:
    """Output data (第4条6(2)): through the end of the fiscal year after the one it was written in.

    Counted from the day the output data was written to its medium (say so wherever it is shown)."""
    return fiscal_year_end(fiscal_year(written_on, tz) + 1)


def deletable_from(kept_through: date, tz: tzinfo = JST, grace_days: int = 0) -> datetime:
    """ "Kept through D" means deletable from D+1 00:00 local time; never earlier.

    grace_days is the device allowance of 第4条6(1) ただし書: a device that cannot delete on the day
    deletes that many days later.
    """
    if grace_days < 0:
        raise ValueError("grace_days cannot be negative")
    return datetime.combine(kept_through + timedelta(days=1 + grace_days), time(0), tz)


def is_expired(kept_through: date, now: datetime, grace_days: int = 0, tz: tzinfo = JST) -> bool:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now >= deletable_from(kept_through, tz, grace_days)


def last_expired_day(now: datetime, grace_days: int = 0, tz: tzinfo = JST) -> date:
    """The latest kept-through date that has ended at `now` (for index range queries):
    D <= last_expired_day(now) exactly when is_expired(D, now)."""
    if grace_days < 0:
        raise ValueError("grace_days cannot be negative")
    return local_day(now, tz) - timedelta(days=1 + grace_days)
