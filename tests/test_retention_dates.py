"""The retention rules of GUIDELINE 第4条6: the worked dates exactly, and properties at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.clock import JST
from services.retention.rules import (
    deletable_from,
    fiscal_year,
    is_expired,
    last_expired_day,
    output_kept_through,
    raw_kept_through,
)

# GUIDELINE.md "Worked dates": recorded -> raw kept through, fiscal year, output kept through
WORKED = [
    (datetime(2026, 1, 15, 10, 0, tzinfo=JST), date(2026, 2, 28), 2025, date(2027, 3, 31)),
    (datetime(2024, 1, 31, 10, 0, tzinfo=JST), date(2024, 2, 29), 2023, date(2025, 3, 31)),
    (datetime(2026, 3, 31, 23, 59, tzinfo=JST), date(2026, 4, 30), 2025, date(2027, 3, 31)),
    (datetime(2026, 3, 31, 15, 1, tzinfo=UTC), date(2026, 5, 31), 2026, date(2028, 3, 31)),
    (datetime(2026, 12, 31, 10, 0, tzinfo=JST), date(2027, 1, 31), 2026, date(2028, 3, 31)),
]


@pytest.mark.parametrize(("recorded", "raw", "fy", "output"), WORKED)
def test_worked_dates(recorded: datetime, raw: date, fy: int, output: date) -> None:
    assert raw_kept_through(recorded) == raw
    assert fiscal_year(recorded) == fy
    assert output_kept_through(recorded) == output
    # the same day given as a Japan-time date
    local = recorded.astimezone(JST).date()
    assert fiscal_year(local) == fy
    assert output_kept_through(local) == output


def test_the_utc_row_is_april_first_in_japan() -> None:
    recorded = datetime(2026, 3, 31, 15, 1, tzinfo=UTC)
    assert recorded.astimezone(JST) == datetime(2026, 4, 1, 0, 1, tzinfo=JST)
    # Counted in UTC it would wrongly be March (FY2025, kept through April).
    assert raw_kept_through(recorded) != date(2026, 4, 30)


def test_kept_through_means_deletable_from_the_next_midnight_in_japan() -> None:
    kept = date(2026, 2, 28)
    assert deletable_from(kept) == datetime(2026, 3, 1, 0, 0, tzinfo=JST)
    assert not is_expired(kept, datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=JST))
    assert is_expired(kept, datetime(2026, 3, 1, 0, 0, tzinfo=JST))
    # 2026-03-01 00:00 JST is 2026-02-28 15:00 UTC: the instant counts, not the UTC date.
    assert is_expired(kept, datetime(2026, 2, 28, 15, 0, tzinfo=UTC))
    assert not is_expired(kept, datetime(2026, 2, 28, 14, 59, 59, tzinfo=UTC))


def test_grace_days_delay_deletion() -> None:
    kept = date(2026, 4, 30)
    assert deletable_from(kept, grace_days=3) == datetime(2026, 5, 4, 0, 0, tzinfo=JST)
    assert not is_expired(kept, datetime(2026, 5, 3, 23, 59, tzinfo=JST), grace_days=3)
    assert is_expired(kept, datetime(2026, 5, 4, tzinfo=JST), grace_days=3)
    assert last_expired_day(datetime(2026, 5, 4, tzinfo=JST), grace_days=3) == kept
    with pytest.raises(ValueError):
        deletable_from(kept, grace_days=-1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        raw_kept_through(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        fiscal_year(datetime(2026, 4, 1))
    with pytest.raises(ValueError):
        is_expired(date(2026, 1, 31), datetime(2026, 3, 1))


# -- properties ------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 1),
    timezones=st.just(UTC),
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 1))
graces = st.integers(min_value=0, max_value=366)


@given(instants)
def test_raw_retention_is_the_last_day_of_the_following_month(at: datetime) -> None:
    local = at.astimezone(JST)
    kept = raw_kept_through(at)
    following = (kept + timedelta(days=1)).replace(day=1) - timedelta(days=1)
    assert kept == following  # the last day of its month
    months = (kept.year - local.year) * 12 + kept.month - local.month
    assert months == 1
    assert kept > local.date()


@given(instants, graces)
def test_never_deletable_before_the_day_after_kept_through(at: datetime, grace: int) -> None:
    kept = raw_kept_through(at)
    start = deletable_from(kept, grace_days=grace)
    assert start.astimezone(JST).time() == time(0)
    assert start.astimezone(JST).date() == kept + timedelta(days=1 + grace)
    assert not is_expired(kept, start - timedelta(microseconds=1), grace)
    assert is_expired(kept, start, grace)
    # a recording is never deletable in the month it was made or the month after
    assert start > at + timedelta(days=28)


@given(instants, instants)
def test_later_recordings_are_never_kept_for_less(a: datetime, b: datetime) -> None:
    first, second = sorted((a, b))
    assert raw_kept_through(first) <= raw_kept_through(second)
    assert output_kept_through(first) <= output_kept_through(second)
    assert fiscal_year(first) <= fiscal_year(second)


@given(instants, instants, graces)
def test_expiry_is_monotonic_in_time(a: datetime, b: datetime, grace: int) -> None:
    first, second = sorted((a, b))
    kept = date(2026, 2, 28)
    if is_expired(kept, first, grace):
        assert is_expired(kept, second, grace)


@given(days, instants, graces)
def test_last_expired_day_agrees_with_is_expired(kept: date, now: datetime, grace: int) -> None:
    assert (kept <= last_expired_day(now, grace)) == is_expired(kept, now, grace)


@given(days)
def test_fiscal_year_boundaries(day: date) -> None:
    fy = fiscal_year(day)
    assert date(fy, 4, 1) <= day <= date(fy + 1, 3, 31)
    kept = output_kept_through(day)
    assert kept == date(fy + 2, 3, 31)
    assert date(fy + 1, 3, 31) < kept  # always the whole next fiscal year


@given(st.integers(min_value=2000, max_value=2098))
def test_fiscal_year_turns_at_april_first_midnight_japan_time(year: int) -> None:
    turn = datetime(year, 4, 1, tzinfo=JST)
    assert fiscal_year(turn - timedelta(microseconds=1)) == year - 1
    assert fiscal_year(turn) == year
    assert output_kept_through(turn - timedelta(microseconds=1)) == date(year + 1, 3, 31)
    assert output_kept_through(turn) == date(year + 2, 3, 31)
