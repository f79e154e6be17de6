"""Purge by instruction on the real clock: what is deleted, what is kept, who may do it."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from services.access.audit import Action
from services.access.duties import Duty, Role
from services.core.clock import FixedClock
from services.core.errors import CallrecError, Conflict, NotPermitted
from services.core.lease import Lease
from services.instructions.store import State
from services.retention import CancelToken, Purge, PurgeProgress
from services.workspace import Workspace
from tests.support.retention import files_on_disk, ids_by_path, make_calls, manager, operator, states


async def issue_purge(ws: Workspace, note: str = "") -> int:
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    return (await ws.instructions.issue_purge(boss, note=note)).id


async def test_purge_deletes_expired_recordings_and_keeps_tombstones(ws: Workspace, spool: Path) -> None:
    old, new = make_calls(spool, expired=6, current=3)
    await ws.indexer.scan()
    ins_id = await issue_purge(ws)
    plan = await ws.purge.plan(ins_id)
    assert plan.count == 6
    assert plan.bytes == sum(p.stat().st_size for p in old)
    assert plan.blocked == 0

    seen: list[PurgeProgress] = []
    result = await ws.purge.execute(
        await operator(ws), plan, typed_count=6, progress=lambda p: seen.append(PurgeProgress(**vars(p)))
    )
    assert (result.state, result.deleted, result.deleted_bytes) == ("finished", 6, plan.bytes)
    assert result.instruction.state == State.DONE
    assert seen and seen[-1].done == 6 and seen[-1].deleted == 6

    # disk and index agree: the old files are gone, the current ones untouched
    assert files_on_disk(spool) == {p.relative_to(spool).as_posix() for p in new}
    st = await states(ws)
    assert {st[p.relative_to(spool).as_posix()] for p in old} == {"purged"}
    assert {st[p.relative_to(spool).as_posix()] for p in new} == {"complete"}
    # empty day folders went with them
    assert all(not p.parent.exists() for p in old)

    # tombstones keep metadata and hash, who, when, under which instruction
    rows = await ws.db.fetchall(
        "SELECT sha256, size, started_at, purged_at, purged_by, purge_instruction_id FROM calls"
        " WHERE state = 'purged'"
    )
    assert len(rows) == 6
    for r in rows:
        assert len(r["sha256"]) == 64 and r["size"] == 2048 and r["started_at"] > 0
        assert r["purged_by"] == "operator" and r["purge_instruction_id"] == ins_id
        assert r["purged_at"] >= result.started_at.timestamp() - 1

    # one audit entry per deleted call, plus start / finish and the instruction's moves
    actions = [r["action"] for r in await ws.db.fetchall("SELECT action FROM audit ORDER BY seq")]
    assert actions.count(Action.PURGE_DELETED) == 6
    assert actions.count(Action.PURGE_STARTED) == 1 and actions.count(Action.PURGE_FINISHED) == 1
    assert Action.INSTRUCTION_STARTED in actions and Action.INSTRUCTION_DONE in actions
    assert (await ws.audit.verify()).ok

    # the indexer leaves tombstones alone: nothing becomes missing
    report = await ws.indexer.scan()
    assert report.missing == 0
    assert (await ws.calls.counts_by_state()) == {"purged": 6, "complete": 3}


async def test_holds_and_open_instructions_block_deletion(ws: Workspace, spool: Path) -> None:
    old, _ = make_calls(spool, expired=5)
    await ws.indexer.scan()
    ids = await ids_by_path(ws)
    held, named, *_ = (ids[p.relative_to(spool).as_posix()] for p in old)
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    await ws.holds.set(await manager(ws), held, "法令に基づく請求")
    export = await ws.instructions.issue_export(
        boss, purpose="crime-prevention", medium="dvd-r", call_ids=[named]
    )
    preview = await ws.retention.preview()
    assert preview.purgeable.count == 3
    reasons = {b.id: (b.reason, b.instructions) for b in preview.blocked}
    assert reasons == {held: ("hold", ()), named: ("instruction", (export.number,))}

    plan = await ws.purge.plan(await issue_purge(ws))
    assert plan.count == 3 and held not in plan.call_ids and named not in plan.call_ids
    assert plan.blocked == 2
    await ws.purge.execute(await operator(ws), plan, typed_count=3)
    st = await states(ws)
    by_id = {v: st[k] for k, v in ids.items()}
    assert by_id[held] == "complete" and by_id[named] == "complete"
    assert (spool / next(k for k, v in ids.items() if v == held)).exists()

    # once the hold is released and the export cancelled, the next purge takes them
    await ws.holds.release(await manager(ws), held, "done")
    await ws.instructions.cancel(await manager(ws, Duty.CANCEL_INSTRUCTION), export.id)
    plan = await ws.purge.plan(await issue_purge(ws))
    assert sorted(plan.call_ids) == sorted([held, named])
    result = await ws.purge.execute(await operator(ws), plan, typed_count=2)
    assert result.deleted == 2 and files_on_disk(spool) == set()


async def test_a_hold_set_after_the_plan_is_respected(ws: Workspace, spool: Path) -> None:
    """Holds are re-checked per call inside the transaction that marks it, not at plan time."""
    _old, _ = make_calls(spool, expired=4)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    late = plan.call_ids[2]
    await ws.holds.set(await manager(ws), late, "arrived while the operator was confirming")
    result = await ws.purge.execute(await operator(ws), plan, typed_count=4)
    assert (result.deleted, result.skipped) == (3, 1)
    row = await ws.db.fetchone("SELECT state, path FROM calls WHERE id = ?", (late,))
    assert row["state"] == "complete" and (spool / row["path"]).exists()


async def test_a_call_named_by_an_export_after_the_plan_is_kept(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=3)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    await ws.instructions.issue_export(
        boss, purpose="undue-pressure", medium="usb", call_ids=[plan.call_ids[0]]
    )
    result = await ws.purge.execute(await operator(ws), plan, typed_count=3)
    assert (result.deleted, result.skipped) == (2, 1)


async def test_duties_manager_cannot_execute_operator_cannot_issue(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=2)
    await ws.indexer.scan()
    with pytest.raises(NotPermitted):
        await ws.auth.authorize(Role.MANAGER, "1111", Duty.EXECUTE_INSTRUCTION)
    with pytest.raises(NotPermitted):
        await ws.auth.authorize(Role.OPERATOR, "2222", Duty.ISSUE_INSTRUCTION)
    with pytest.raises(NotPermitted):
        await ws.instructions.issue_purge(await operator(ws, Duty.VIEW_INDEX))
    plan = await ws.purge.plan(await issue_purge(ws))
    # a manager Actor minted for another duty is still refused by the purge service
    with pytest.raises(NotPermitted):
        await ws.purge.execute(await manager(ws), plan, typed_count=plan.count)
    assert len(files_on_disk(spool)) == 2
    assert (await ws.instructions.get(plan.instruction.id)).state == State.ISSUED


async def test_refusals_leave_everything_as_it_was(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=2)
    await ws.indexer.scan()
    op = await operator(ws)
    plan = await ws.purge.plan(await issue_purge(ws))
    with pytest.raises(CallrecError, match="does not match"):
        await ws.purge.execute(op, plan, typed_count=3)
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    export = await ws.instructions.issue_export(
        boss, purpose="proper-conduct", medium="usb", call_ids=[plan.call_ids[0]]
    )
    with pytest.raises(CallrecError, match="not a purge"):
        await ws.purge.plan(export.id)
    await ws.instructions.cancel(await manager(ws, Duty.CANCEL_INSTRUCTION), export.id)
    assert len(files_on_disk(spool)) == 2
    await ws.purge.execute(op, plan, typed_count=2)
    with pytest.raises(Conflict, match="done"):
        await ws.purge.plan(plan.instruction.id)
    # a second execution of the same (now done) plan is refused
    with pytest.raises(Conflict):
        await ws.purge.execute(op, plan, typed_count=2)


async def test_nothing_to_delete_is_refused(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=0, current=2)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    assert plan.count == 0
    with pytest.raises(CallrecError, match="nothing to delete"):
        await ws.purge.execute(await operator(ws), plan, typed_count=0)
    assert (await ws.instructions.get(plan.instruction.id)).state == State.ISSUED


async def test_a_clock_behind_the_audit_log_deletes_nothing(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=2)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    future = ws.clock.now() + timedelta(days=2)
    await ws.audit.record(at=future, actor="system", action=Action.CONFIG_WRITTEN, subject="t")
    with pytest.raises(CallrecError, match="earlier than the newest audit entry"):
        await ws.purge.execute(await operator(ws), plan, typed_count=2)
    assert len(files_on_disk(spool)) == 2
    assert (await ws.instructions.get(plan.instruction.id)).state == State.ISSUED


def test_a_purge_refuses_any_clock_but_the_real_one(ws: Workspace) -> None:
    with pytest.raises(TypeError):
        Purge(
            ws.db,
            ws.audit,
            ws.instructions,
            ws.retention,
            spool=ws.config.spool,
            lock_path=ws.config.data / "x.lock",
            grace_days=0,
            clock=FixedClock(ws.clock.now()),
        )  # type: ignore[arg-type]


async def test_cancel_stops_after_a_batch_and_reopens_the_instruction(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=20)
    await ws.indexer.scan()
    ws.purge.batch_size = 4
    plan = await ws.purge.plan(await issue_purge(ws))
    token = CancelToken()
    result = await ws.purge.execute(
        await operator(ws), plan, typed_count=20, progress=lambda p: token.cancel(), cancel=token
    )
    # cancelled as the first batch was recorded: no batch is marked after that, and those
    # marked by then (up to pipeline.DEPTH ahead, one more marked as the first was settled) are
    # finished: 3 or 4 of the 5 batches, as the deleting went
    assert result.state == "cancelled" and result.deleted in (12, 16)
    assert result.instruction.state == State.ISSUED
    assert len(files_on_disk(spool)) == 20 - result.deleted
    assert (await ws.calls.counts_by_state()) == {"purged": result.deleted, "complete": 20 - result.deleted}
    last = await ws.db.fetchone(
        "SELECT action, detail FROM audit WHERE action = ?", (Action.PURGE_INTERRUPTED,)
    )
    assert json.loads(last["detail"])["reason"] == "cancelled"
    # the same instruction can be executed again for the rest
    left = 20 - result.deleted
    plan = await ws.purge.plan(plan.instruction.id)
    assert plan.count == left
    result = await ws.purge.execute(await operator(ws), plan, typed_count=left)
    assert result.instruction.state == State.DONE and files_on_disk(spool) == set()


async def test_a_folder_where_the_recording_was_stays_and_is_marked(ws: Workspace, spool: Path) -> None:
    old, _ = make_calls(spool, expired=3)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    # the recorder's path became a non-empty folder: not the recording, so not touched
    stuck = old[1]
    stuck.unlink()
    stuck.mkdir()
    (stuck / "x").write_bytes(b"x")
    result = await ws.purge.execute(await operator(ws), plan, typed_count=3)
    assert result.state == "finished" and result.deleted == 2 and result.refused == 1
    assert (stuck / "x").read_bytes() == b"x"
    st = await states(ws)
    assert st[stuck.relative_to(spool).as_posix()] == "complete"
    assert sorted(st.values()) == ["complete", "purged", "purged"]
    row = await ws.db.fetchone("SELECT purge_kept FROM calls WHERE state = 'complete'")
    assert row["purge_kept"] == "not_regular"
    shutil.rmtree(stuck)


async def test_a_file_already_gone_is_recorded_as_such(ws: Workspace, spool: Path) -> None:
    old, _ = make_calls(spool, expired=2)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    old[0].unlink()  # vanished between the plan and the purge, before any scan
    result = await ws.purge.execute(await operator(ws), plan, typed_count=2)
    assert (result.deleted, result.absent) == (2, 1)
    rows = await ws.db.fetchall("SELECT detail FROM audit WHERE action = ?", (Action.PURGE_DELETED,))
    assert sorted(json.loads(r["detail"]).get("absent", False) for r in rows) == [False, True]


async def test_grace_days_hold_back_recent_expiries(cfg, spool: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from services.core.clock import JST
    from services.retention.rules import raw_kept_through
    from tests.support.retention import write_call

    # A call whose retention ended yesterday is deletable without grace, not with 3 days of it.
    ws = await Workspace.open(replace(cfg, raw_grace_days=3), create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        now = ws.clock.now().astimezone(JST)
        first_of_month = now.replace(day=1, hour=12, minute=0, second=0)
        write_call(spool, first_of_month - timedelta(days=40), 1)  # ended at least ~9 days ago
        await ws.indexer.scan()
        kept = raw_kept_through(first_of_month - timedelta(days=40))
        preview = await ws.retention.preview(now)
        expired = kept <= now.date() - timedelta(days=4)
        assert preview.grace_days == 3
        assert preview.purgeable.count == (1 if expired else 0)
        assert preview.in_grace.count == (0 if expired else (1 if kept < now.date() else 0))
        plan = await ws.purge.plan(await issue_purge(ws))
        assert plan.grace_days == 3 and plan.count == preview.purgeable.count
    finally:
        await ws.close()


def test_a_mark_is_on_disk_before_any_of_its_files_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mark must survive a power cut (else deleted files' calls would come back 'complete'):
    the journal commits without waiting for the disk, and the write-ahead log is synced before
    the batch's first unlink; if it cannot be, nothing is deleted."""
    import os

    from services.retention import unlinker as purge_unlinker

    wal = tmp_path / "callrec.db-wal"
    wal.write_bytes(b"frames")
    (tmp_path / "d").mkdir()
    for name in ("a.wav", "b.wav"):
        (tmp_path / "d" / name).write_bytes(b"x")
    events: list[str] = []
    real_fsync, real_unlink = os.fsync, os.unlink

    def fsync(fd: int) -> None:
        events.append("fsync " + os.readlink(f"/proc/self/fd/{fd}").rpartition("/")[2])
        real_fsync(fd)

    def unlink(path: str, *args: object, **kwargs: object) -> None:
        events.append("unlink " + str(path).rpartition("/")[2])
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "unlink", unlink)
    done = purge_unlinker.delete_files(str(tmp_path), ["d/a.wav", "d/b.wav"], str(wal))
    assert not done.kept and events == ["fsync callrec.db-wal", "unlink a.wav", "unlink b.wav"]
    purge_unlinker.after_deletion(str(tmp_path), ["d"])  # before the deletions are recorded
    assert events[-1] == "fsync d"

    (tmp_path / "d" / "c.wav").write_bytes(b"x")

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    done = purge_unlinker.delete_files(str(tmp_path), ["d/c.wav"], str(wal))
    assert done.kept == [(0, f"cannot sync {wal}: Input/output error")]
    assert (tmp_path / "d" / "c.wav").exists()


async def test_the_journal_commits_without_waiting_for_the_disk(ws: Workspace) -> None:
    """(The sync comes from whoever deletes the files, off the database's critical path.)"""
    from services.retention.journal import JournalWriter, wal_of

    writer = JournalWriter(ws.db.path, ws.audit)
    writer.open()
    try:
        assert writer._conn is not None
        assert writer._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert writer._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        writer.close()
    assert wal_of(ws.db.path).exists()


async def test_a_transaction_cancelled_while_it_begins_leaves_the_writer_usable(ws: Workspace) -> None:
    """A worker cancelled at any moment (the console's cancel, Ctrl-C at the command line) must
    not leave the writer connection inside a transaction nobody will end."""
    for _ in range(20):

        async def write() -> None:
            async with ws.db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")

        task = asyncio.create_task(write())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with ws.db.transaction() as conn:
            await conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('ok', 'yes')")
    assert await ws.db.scalar("SELECT value FROM meta WHERE key = 'ok'") == "yes"
    assert await ws.db.scalar("SELECT count(*) FROM meta WHERE key = 'k'") == 0


async def test_a_purge_task_cancelled_midway_settles_what_it_did(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=20)
    await ws.indexer.scan()
    ws.purge.batch_size = 4
    plan = await ws.purge.plan(await issue_purge(ws))
    op = await operator(ws)
    task: asyncio.Task[object] | None = None

    def cancel_now(_: PurgeProgress) -> None:
        assert task is not None
        task.cancel()

    task = asyncio.create_task(ws.purge.execute(op, plan, typed_count=20, progress=cancel_now))
    with pytest.raises(asyncio.CancelledError):
        await task
    # nothing left marked; disk and index agree; the instruction is open again
    st = await states(ws)
    assert "purging" not in st.values() and not await ws.purge.journal.pending_ids()
    assert {p for p, s in st.items() if s == "complete"} == files_on_disk(spool)
    assert 0 < list(st.values()).count("purged") < 20
    assert (await ws.instructions.get(plan.instruction.id)).state == State.ISSUED
    run = await ws.db.fetchone("SELECT state FROM purge_runs")
    assert run["state"] == "cancelled"
    assert (await ws.audit.verify()).ok
    assert await ws.purge.running_elsewhere() is None
    lease = Lease(ws.purge.lock_path)
    assert lease.try_acquire()
    lease.release()
