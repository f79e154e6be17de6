"""The retention preview at given instants (previews may use any date; purges never do)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from services.access.duties import Duty, Role
from services.core.clock import JST
from services.workspace import Workspace
from tests.support.retention import ids_by_path, manager, operator, write_call

# The worked dates of GUIDELINE.md, as recordings in the spool.
JAN15 = datetime(2026, 1, 15, 10, 0, tzinfo=JST)  # kept through 2026-02-28
MAR31 = datetime(2026, 3, 31, 23, 59, tzinfo=JST)  # kept through 2026-04-30
APR01 = datetime(2026, 3, 31, 15, 1, tzinfo=UTC)  # 2026-04-01 00:01 JST: kept through 2026-05-31
DEC31 = datetime(2025, 12, 31, 10, 0, tzinfo=JST)  # kept through 2026-01-31 (a recording may not
# be dated in the future of the real clock: it would still count as being written)
LEAP = datetime(2024, 1, 31, 10, 0, tzinfo=JST)  # kept through 2024-02-29


async def index_worked_dates(ws: Workspace, spool: Path) -> dict[datetime, int]:
    paths = {when: write_call(spool, when, n) for n, when in enumerate((LEAP, JAN15, MAR31, APR01, DEC31))}
    await ws.indexer.scan()
    ids = await ids_by_path(ws)
    return {when: ids[p.relative_to(spool).as_posix()] for when, p in paths.items()}


async def purgeable_at(ws: Workspace, at: datetime) -> set[int]:
    return {c.id async for c in ws.retention.purgeable_calls(at)}


async def test_the_index_stores_the_worked_dates(ws: Workspace, spool: Path) -> None:
    ids = await index_worked_dates(ws, spool)
    rows = {
        r["id"]: r["raw_retention_until"]
        for r in await ws.db.fetchall("SELECT id, raw_retention_until FROM calls")
    }
    assert {when: rows[i] for when, i in ids.items()} == {
        LEAP: "2024-02-29",
        JAN15: "2026-02-28",
        MAR31: "2026-04-30",
        APR01: "2026-05-31",
        DEC31: "2026-01-31",
    }


async def test_each_recording_becomes_purgeable_at_midnight_after_its_date(
    ws: Workspace, spool: Path
) -> None:
    ids = await index_worked_dates(ws, spool)

    def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
        return datetime(y, m, d, hh, mm, ss, tzinfo=JST)

    assert await purgeable_at(ws, at(2024, 2, 29, 23, 59, 59)) == set()
    assert await purgeable_at(ws, at(2024, 3, 1)) == {ids[LEAP]}
    assert await purgeable_at(ws, at(2026, 1, 31, 23, 59, 59)) == {ids[LEAP]}
    assert await purgeable_at(ws, at(2026, 2, 1)) == {ids[LEAP], ids[DEC31]}
    assert await purgeable_at(ws, at(2026, 2, 28, 23, 59, 59)) == {ids[LEAP], ids[DEC31]}
    assert await purgeable_at(ws, at(2026, 3, 1)) == {ids[LEAP], ids[DEC31], ids[JAN15]}
    assert await purgeable_at(ws, at(2026, 4, 30, 23, 59, 59)) == {ids[LEAP], ids[DEC31], ids[JAN15]}
    assert await purgeable_at(ws, at(2026, 5, 1)) == {ids[LEAP], ids[DEC31], ids[JAN15], ids[MAR31]}
    # 04-01 00:01 JST is 03-31 in UTC, and still counts as April
    assert ids[APR01] not in await purgeable_at(ws, at(2026, 5, 31, 23, 59, 59))
    assert ids[APR01] in await purgeable_at(ws, at(2026, 6, 1))
    # the same instant given in UTC
    assert ids[APR01] in await purgeable_at(ws, datetime(2026, 5, 31, 15, 0, tzinfo=UTC))
    assert ids[APR01] not in await purgeable_at(ws, datetime(2026, 5, 31, 14, 59, 59, tzinfo=UTC))


async def test_preview_counts_bytes_oldest_and_the_next_date(ws: Workspace, spool: Path) -> None:
    ids = await index_worked_dates(ws, spool)
    preview = await ws.retention.preview(datetime(2026, 5, 1, 9, 0, tzinfo=JST))
    assert preview.cutoff == date(2026, 4, 30)
    assert preview.purgeable.count == 4 and preview.purgeable.bytes == 4 * 2048
    assert preview.purgeable.oldest == LEAP
    assert preview.next_kept_through == date(2026, 5, 31)
    assert preview.next_deletable_from == datetime(2026, 6, 1, tzinfo=JST)
    assert (preview.next_count, preview.next_bytes) == (1, 2048)
    assert preview.register_available is True and preview.register_due == []  # none received

    # holding the oldest moves "oldest" on and lists it as blocked, with its reason
    await ws.holds.set(await manager(ws), ids[LEAP], "訴訟対応")
    preview = await ws.retention.preview(datetime(2026, 5, 1, 9, 0, tzinfo=JST))
    assert preview.purgeable.count == 3 and preview.purgeable.oldest == DEC31
    assert [(b.id, b.reason) for b in preview.blocked] == [(ids[LEAP], "hold")]
    assert preview.blocked[0].to_json()["hold_reason"] == "訴訟対応"


async def test_blocked_lists_every_reason(ws: Workspace, spool: Path) -> None:
    ids = await index_worked_dates(ws, spool)
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    await ws.holds.set(await manager(ws), ids[JAN15], "請求")
    export = await ws.instructions.issue_export(
        boss, purpose="crime-prevention", medium="usb", call_ids=[ids[JAN15], ids[MAR31]]
    )
    # a recording that never settled: the recorder is still writing it
    growing = write_call(spool, datetime(2026, 3, 2, 9, 0, tzinfo=JST), 99, settled=False)
    growing.touch()
    await ws.indexer.scan()
    growing_id = (await ids_by_path(ws))[growing.relative_to(spool).as_posix()]
    preview = await ws.retention.preview(datetime(2026, 6, 1, tzinfo=JST))
    got = {b.id: [r.value for r in b.reasons] for b in preview.blocked}
    assert got == {
        ids[JAN15]: ["hold", "instruction"],
        ids[MAR31]: ["instruction"],
        growing_id: ["recording"],
    }
    assert {b.id: b.instructions for b in preview.blocked}[ids[MAR31]] == (export.number,)
    assert preview.purgeable.count == 3  # LEAP, DEC31 and APR01
    assert await purgeable_at(ws, datetime(2026, 6, 1, tzinfo=JST)) == {ids[LEAP], ids[DEC31], ids[APR01]}


async def test_the_status_views_outlook_is_the_preview(ws: Workspace, spool: Path) -> None:
    """The status view's purge outlook is not a second version of the rule: held calls and calls
    named by an open instruction are left out, as the preview and the purge leave them out."""
    from services import status

    ids = await index_worked_dates(ws, spool)
    at = datetime(2026, 6, 1, tzinfo=JST)
    await ws.holds.set(await manager(ws), ids[LEAP], "請求")
    await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION),
        purpose="crime-prevention",
        medium="usb",
        call_ids=[ids[DEC31]],
    )
    outlook = await status.purge_outlook(ws.db, at, JST)
    preview = await ws.retention.preview(at)
    assert (
        (outlook.expired, outlook.expired_bytes)
        == (3, 3 * 2048)
        == (preview.purgeable.count, preview.purgeable.bytes)
    )
    assert outlook.blocked == 2
    assert outlook.oldest == date(2026, 2, 28)  # JAN15's, the held LEAP's is not counted
    assert outlook.next_day is None and outlook.next_count == 0  # nothing else to come
    earlier = await status.purge_outlook(ws.db, datetime(2026, 5, 1, tzinfo=JST), JST)
    assert (earlier.next_day, earlier.next_count) == (date(2026, 6, 1), 1)


async def test_grace_days_show_as_in_grace_then_purgeable(cfg, spool: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    ws = await Workspace.open(replace(cfg, raw_grace_days=5), create=True)
    try:
        ids = await index_worked_dates(ws, spool)
        preview = await ws.retention.preview(datetime(2026, 3, 3, 12, 0, tzinfo=JST))
        assert preview.grace_days == 5
        assert preview.purgeable.count == 2  # LEAP, DEC31; JAN15 waits for the grace period
        assert preview.in_grace.count == 1
        assert preview.next_kept_through == date(2026, 2, 28)
        assert preview.next_deletable_from == datetime(2026, 3, 6, tzinfo=JST)
        before = await purgeable_at(ws, datetime(2026, 3, 5, 23, 59, 59, tzinfo=JST))
        assert before == {ids[LEAP], ids[DEC31]}
        after = await purgeable_at(ws, datetime(2026, 3, 6, tzinfo=JST))
        assert after == {ids[LEAP], ids[DEC31], ids[JAN15]}
    finally:
        await ws.close()


async def test_output_data_due_for_disposal_shows_in_the_preview(
    cfg,
    spool: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """The register (出力データ管理簿) entries past 翌年度末 are listed with the preview."""
    from services.core.clock import FixedClock
    from tests.support.export import index, recording

    clock = FixedClock(datetime(2027, 3, 31, 10, 0, tzinfo=JST))
    ws = await Workspace.open(cfg, clock=clock, create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        recording(spool, "in-0488291111-0312345678-20270320-100000-pbx-1.1.wav", 8000)
        calls = await index(ws)
        boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
        ins = await ws.instructions.issue_export(
            boss, purpose="crime-prevention", medium="usb", call_ids=[c.id for c in calls]
        )
        op = await operator(ws)
        (tmp_path / "usb").mkdir()
        plan = await ws.exports.prepare(op, ins.number, ws.exports.target(folder=str(tmp_path / "usb")))
        await ws.exports.run(op, plan)
        entry = await ws.register.receive(await manager(ws, Duty.RECEIVE_OUTPUT), ins.number)
        assert entry.kept_through == date(2028, 3, 31)  # written 2027-03-31 (FY2026)

        preview = await ws.retention.preview()
        assert preview.register_available and preview.register_due == []
        assert (await ws.retention.preview(datetime(2028, 3, 31, 23, 59, tzinfo=JST))).register_due == []
        due = (await ws.retention.preview(datetime(2028, 4, 1, tzinfo=JST))).register_due
        assert [(d["id"], d["instruction"], d["kept_through"], d["status"]) for d in due] == [
            (entry.id, ins.number, "2028-03-31", "due")
        ]
    finally:
        await ws.close()
