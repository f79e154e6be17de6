"""The call store: filters, number search (both strategies), Japan-time date ranges, paging."""

from __future__ import annotations

import os
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from demo_data.synth import generate_spool, wav_header
from services import calls as calls_mod
from services.calls import Call, CallFilter, CallStore
from services.core.clock import JST
from services.core.errors import NotFound
from services.workspace import Workspace

COUNT = 1500


@pytest.fixture
async def store(ws: Workspace, spool: Path) -> CallStore:
    generate_spool(spool, COUNT, start=datetime(2026, 9, 1), span_days=60, seed=7)
    # Two calls either side of midnight at the end of October, Japan time.
    for name in (
        "in-0488291111-0312340000-20261031-235959-1.1.wav",
        "in-0488291111-0312340001-20261101-000000-2.1.wav",
    ):
        path = spool / "2026/10/31" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wav_header(0))
        os.utime(path, (0, 0))
    report = await ws.indexer.scan()
    assert report.added == COUNT + 2
    return ws.calls


async def everything(store: CallStore) -> list[dict]:
    rows = await store.db.fetchall(
        "SELECT id, started_at, type, state, numbers FROM calls ORDER BY started_at DESC, id DESC"
    )
    return [dict(r) for r in rows]


def expected(rows: list[dict], f: CallFilter) -> list[int]:
    lo = int(datetime.combine(f.date_from, datetime.min.time(), JST).timestamp()) if f.date_from else None
    hi = (
        int(datetime.combine(f.date_to + timedelta(days=1), datetime.min.time(), JST).timestamp())
        if f.date_to
        else None
    )
    return [
        r["id"]
        for r in rows
        if f.digits in r["numbers"]
        and (lo is None or r["started_at"] >= lo)
        and (hi is None or r["started_at"] < hi)
        and (not f.types or r["type"] in f.types)
        and (not f.states or r["state"] in f.states)
    ]


def needles(rows: list[dict]) -> list[str]:
    rng = random.Random(3)
    numbers = [n for r in rows for n in r["numbers"].split()]
    picked = {"", "0", "7", "12", "90", "048", "090", "0488291111", "2025550", "99999999999"}
    for n in rng.sample(numbers, 12):  # rare ones: pieces of real numbers
        start = rng.randrange(max(1, len(n) - 6))
        picked.add(n[start : start + rng.choice((3, 5, 8))])
    return sorted(picked)


@pytest.mark.parametrize("strategy", ["chosen", "trigram", "scan"])
async def test_number_search_matches_a_plain_filter(
    store: CallStore, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if strategy != "chosen":  # a sample as small as at any size, one way made the cheapest
        monkeypatch.setattr(calls_mod, "_SAMPLE", 1)
        monkeypatch.setattr(calls_mod, "_HIT_COST", 1e-9 if strategy == "trigram" else 1e9)
    rows = await everything(store)
    for needle in needles(rows):
        for f in (
            CallFilter(number=needle),
            CallFilter(number=needle, date_from=date(2026, 9, 15), types=("in", "q")),
        ):
            want = expected(rows, f)
            assert await store.count(f) == len(want), f
            assert [c.id for c in await store.page(f, limit=100)] == want[:100], f
            assert [c.id for c in await store.page(f, limit=50, offset=120)] == want[120:170], f


async def test_rare_needles_use_the_trigram_index_and_common_ones_the_time_index(
    store: CallStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls_mod, "_SAMPLE", 100)  # a sample smaller than the index, as at 1M
    rows = await everything(store)
    common = expected(rows, CallFilter(number="0488291111"))
    assert len(common) > COUNT // 10
    rare_number = next(r["numbers"].split()[-1] for r in rows if r["numbers"].startswith("048"))
    rare = expected(rows, CallFilter(number=rare_number))
    assert 1 <= len(rare) < 5
    for needle, want, index in ((rare_number, rare, "calls_fts"), ("0488291111", common, "calls_browse")):
        source, _, _ = await store._matching(CallFilter(number=needle), 100)
        assert index in source
        assert [c.id for c in await store.page(CallFilter(number=needle))] == want[:100]
    source, _, _ = await store._matching(CallFilter(number="12"), 100)  # too short for trigrams
    assert "calls_browse" in source


async def test_number_typed_with_separators_and_full_width(store: CallStore) -> None:
    plain = [c.id for c in await store.page(CallFilter(number="0488291111"))]
    assert [c.id for c in await store.page(CallFilter(number="048-829-1111"))] == plain
    assert [c.id for c in await store.page(CallFilter(number="０４８８２９１１１１"))] == plain


async def test_paging_covers_everything_once(store: CallStore) -> None:
    rows = await everything(store)
    seen: list[int] = []
    offset = 0
    while page := await store.page(CallFilter(), limit=97, offset=offset):
        seen.extend(c.id for c in page)
        offset += 97
    assert seen == [r["id"] for r in rows]
    starts = [r["started_at"] for r in rows]
    assert starts == sorted(starts, reverse=True)


async def test_date_range_is_japan_time(store: CallStore) -> None:
    october = await store.page(
        CallFilter(date_from=date(2026, 10, 31), date_to=date(2026, 10, 31)), limit=1000
    )
    assert "0312340000" in {c.other_number for c in october}
    assert "0312340001" not in {c.other_number for c in october}
    november = await store.page(CallFilter(date_from=date(2026, 11, 1)), limit=1000)
    assert [c.other_number for c in november] == ["0312340001"]
    assert all(c.started_at.date() == date(2026, 10, 31) for c in october)
    rows = await everything(store)
    for f in (
        CallFilter(date_from=date(2026, 9, 10), date_to=date(2026, 9, 20)),
        CallFilter(date_to=date(2026, 9, 1)),
        CallFilter(number="090", date_from=date(2026, 10, 1), date_to=date(2026, 10, 2)),
    ):
        want = expected(rows, f)
        assert await store.count(f) == len(want)
        assert [c.id for c in await store.page(f, limit=2000)] == want


async def test_type_and_state_filters(store: CallStore, ws: Workspace) -> None:
    async with ws.db.transaction() as conn:
        await conn.execute("UPDATE calls SET state = 'missing' WHERE id % 50 = 0")
    rows = await everything(store)
    for f in (
        CallFilter(types=("out", "external")),
        CallFilter(states=("missing",)),
        CallFilter(states=("complete",)),
        CallFilter(states=("recording", "complete")),
        CallFilter(number="12", states=("missing",)),
        CallFilter(number="0488291111", types=("in",), states=("complete",)),
    ):
        want = expected(rows, f)
        assert want, f
        assert await store.count(f) == len(want), f
        assert [c.id for c in await store.page(f, limit=len(want) + 5)] == want, f


async def test_get_and_get_many(store: CallStore) -> None:
    ids = [c.id for c in await store.page(CallFilter(), limit=5)]
    call = await store.get(ids[0])
    assert isinstance(call, Call) and call.id == ids[0]
    many = await store.get_many(ids[::-1])
    assert sorted(c.id for c in many) == sorted(ids)
    assert [c.started_at for c in many] == sorted(c.started_at for c in many)
    with pytest.raises(NotFound):
        await store.get(10**9)
    with pytest.raises(NotFound):
        await store.get_many([ids[0], 10**9])


async def test_json_fields(store: CallStore) -> None:
    (call,) = await store.page(CallFilter(number="0312340001"))
    data = call.to_json()
    for key in (
        "id",
        "path",
        "started_at",
        "type",
        "city_number",
        "other_number",
        "caller_id",
        "size",
        "duration_s",
        "sha256",
        "state",
        "raw_retention_until",
    ):
        assert key in data
    assert data["path"] == "2026/10/31/in-0488291111-0312340001-20261101-000000-2.1.wav"
    assert data["started_at"] == "2026-11-01T00:00:00+09:00"
    assert data["raw_retention_until"] == "2026-12-31"
    assert (data["city_number"], data["other_number"], data["caller_id"]) == (
        "0488291111",
        "0312340001",
        "number",
    )
    assert (data["size"], data["duration_s"], data["state"]) == (44, 0.0, "complete")
