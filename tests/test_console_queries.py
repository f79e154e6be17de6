"""The store queries the console pages and counts with, and the status figures (services/status.py)."""

from __future__ import annotations

import sqlite3
import subprocess
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from services import status
from services.calls import CallFilter
from services.core.clock import JST
from services.core.errors import StorageError
from services.retention.rules import deletable_from
from services.workspace import Workspace
from tests.support.console import INSERT_CALL, insert_synthetic, synthetic_rows

END = datetime(2026, 11, 24, 15, 0, tzinfo=JST)


async def all_pages(ws: Workspace, f: CallFilter, size: int = 97) -> list:
    out = []
    while True:
        page = await ws.calls.page(f, limit=size, offset=len(out))
        out.extend(page)
        if len(page) < size:
            return out


def matches(call, f: CallFilter) -> bool:
    digits = f.digits
    numbers = " ".join(n for n in (call.city_number, call.other_number) if n)
    day = call.started_at.astimezone(JST).date()
    return (
        (not digits or digits in numbers)
        and (f.date_from is None or day >= f.date_from)
        and (f.date_to is None or day <= f.date_to)
        and (not f.types or call.type in f.types)
        and (not f.states or call.state in f.states)
    )


FILTERS = [
    CallFilter(),
    CallFilter(number="090"),
    CallFilter(number="1"),
    CallFilter(number="048-8"),
    CallFilter(types=("out",)),
    CallFilter(states=("complete",)),
    CallFilter(states=("missing",)),
    CallFilter(states=("recording", "missing")),
    CallFilter(date_from=date(2026, 11, 1), date_to=date(2026, 11, 10)),
    CallFilter(number="090", types=("in",), states=("complete",)),
    CallFilter(number="0120", date_from=date(2026, 10, 1)),
]


@pytest.mark.parametrize("f", FILTERS, ids=repr)
async def test_pages_and_counts_agree(ws: Workspace, f: CallFilter) -> None:
    await insert_synthetic(ws, 1500, end=END, states=("complete",) * 8 + ("missing", "recording"))
    everything = await all_pages(ws, CallFilter())
    assert len(everything) == 1500
    expected = [c for c in everything if matches(c, f)]
    got = await all_pages(ws, f)
    assert [c.id for c in got] == [c.id for c in expected]  # newest first, nothing lost or doubled
    assert await ws.calls.count(f) == len(expected)
    keys = [(c.started_at, c.id) for c in got]
    assert keys == sorted(keys, reverse=True)


NEAR = datetime(2026, 11, 20, 12, 0, tzinfo=JST)


@pytest.mark.parametrize(
    "f",
    [
        CallFilter(near=NEAR, within=timedelta(days=2)),
        CallFilter(near=NEAR, within=timedelta(days=3), number="090"),
        CallFilter(near=NEAR, within=timedelta(hours=20), states=("complete",), types=("in",)),
        CallFilter(near=NEAR, within=timedelta(minutes=1)),
    ],
    ids=repr,
)
async def test_pages_around_a_moment_are_closest_first(ws: Workspace, f: CallFilter) -> None:
    await insert_synthetic(ws, 1500, end=END, states=("complete",) * 8 + ("missing", "recording"))
    assert f.near is not None
    centre = f.near.timestamp()
    everything = await all_pages(ws, CallFilter())
    expected = sorted(
        (c for c in everything if matches(c, f) and abs(c.started_at - f.near) <= f.within),
        key=lambda c: (abs(c.started_at.timestamp() - centre), c.id),
    )
    got = await all_pages(ws, f)
    assert [c.id for c in got] == [c.id for c in expected]  # closest first, nothing lost or doubled
    assert await ws.calls.count(f) == len(expected)
    assert [c for c, _ in await ws.calls.around(f.near, f.within, replace(f, near=None), limit=50)] == got[
        :50
    ]


async def test_side_reader_sees_commits_and_cannot_write(ws: Workspace) -> None:
    side = await status.open_side_reader(ws.config.database)
    try:
        before = await status.data_version(side)
        await insert_synthetic(ws, 3, end=END)
        assert await status.data_version(side) != before
        assert await side.scalar("SELECT count(*) FROM calls") == 3
        with pytest.raises(sqlite3.OperationalError):
            await side.fetchall("DELETE FROM calls")
    finally:
        await side.close()
    assert await ws.db.scalar("SELECT count(*) FROM calls") == 3


async def test_call_figures_and_hourly(ws: Workspace) -> None:
    rows = list(synthetic_rows(400, end=END, days=40))
    rows[0] = (*rows[0][:14], "recording", *rows[0][15:])
    await ws.db.executemany(INSERT_CALL, rows)
    figures = await status.call_figures(ws.db, END, JST)
    starts = [datetime.fromtimestamp(r[2], JST) for r in rows]
    assert figures.today == sum(1 for s in starts if s.date() == END.date())
    assert figures.this_month == sum(1 for s in starts if (s.year, s.month) == (2026, 11))
    assert figures.recording == 1
    assert await status.present_count(ws.db) == 400
    hourly = await status.calls_per_hour(ws.db, END, hours=72)
    assert len(hourly) == 72
    hour = END.replace(minute=0)
    first = hour - timedelta(hours=71)
    assert sum(hourly) == sum(1 for s in starts if first <= s < hour + timedelta(hours=1))
    assert hourly[-1] == sum(1 for s in starts if s >= hour)


async def test_purge_outlook_follows_the_retention_rules(ws: Workspace) -> None:
    rows = list(synthetic_rows(600, end=END, days=120))
    await ws.db.executemany(INSERT_CALL, rows)
    outlook = await status.purge_outlook(ws.db, END, JST)
    kept = [date.fromisoformat(r[15]) for r in rows]
    expired = [k for k in kept if deletable_from(k, JST) <= END]
    assert outlook.expired == len(expired) > 0
    assert outlook.oldest == min(expired)
    later = sorted(k for k in kept if deletable_from(k, JST) > END)
    assert outlook.next_day == deletable_from(later[0], JST).date()
    assert outlook.next_count == later.count(later[0])
    with_grace = await status.purge_outlook(ws.db, END, JST, grace_days=40)
    assert with_grace.expired < outlook.expired


def test_disk_usage(tmp_path: Path) -> None:
    usage = status.disk_usage(tmp_path)
    assert usage.total >= usage.used > 0 and usage.free > 0
    assert 0 < usage.used_fraction < 1
    df = subprocess.run(
        ["df", "--output=pcent", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    # df rounds up; the file system is shared with other work, so allow a point either way
    assert abs(usage.used_fraction * 100 - int(df.rstrip("%"))) <= 1.5
    # space reserved for root is neither used nor free (here: as much as the free space)
    assert status.DiskUsage(total=300, used=100, free=100).used_fraction == 0.5
    with pytest.raises(StorageError):
        status.disk_usage(tmp_path / "nowhere")
