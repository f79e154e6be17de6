"""An export that cannot finish leaves nothing behind, gives the instruction back and says why."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from services.access.audit import Action
from services.core.errors import CallrecError, Conflict, NotPermitted, StorageError
from services.export import Cancelled, CancelToken, Phase, Progress
from services.export.streams import SourceChanged
from services.instructions.store import State
from services.workspace import Workspace
from tests.support.export import (
    fill,
    index,
    indexed_series,
    leftovers,
    manager,
    needs_xorriso,
    operator,
    recording,
    tmpfs,
)

pytestmark = needs_xorriso


@pytest.fixture
async def calls(ws: Workspace) -> list:
    return await indexed_series(ws, 4, 200_000, "2026092")


async def issue(ws: Workspace, calls: list, medium: str = "dvd-r") -> str:
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="proper-conduct", medium=medium, call_ids=[c.id for c in calls]
    )
    return ins.number


async def last_actions(ws: Workspace, number: str, n: int) -> list[str]:
    rows = await ws.db.fetchall(
        "SELECT action FROM audit WHERE subject = ? ORDER BY seq DESC LIMIT ?", (number, n)
    )
    return [r[0] for r in reversed(rows)]


async def assert_given_back(ws: Workspace, number: str, action: str) -> None:
    assert (await ws.instructions.get(number)).state == State.ISSUED
    assert await last_actions(ws, number, 2) == [Action.INSTRUCTION_REOPENED, action]
    export = (await ws.exports.history(number))[-1]
    assert export.state == ("cancelled" if action == Action.EXPORT_CANCELLED else "failed")
    assert (await ws.audit.verify()).ok


async def test_recording_changed_after_indexing_is_refused(
    ws: Workspace, calls: list, spool: Path, tmp_path: Path
) -> None:
    number = await issue(ws, calls)
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(tmp_path / "o.iso")))
    victim = spool / calls[2].path
    data = bytearray(victim.read_bytes())
    data[5000] ^= 0xFF  # same size, one bit of audio changed
    victim.write_bytes(bytes(data))
    with pytest.raises(SourceChanged) as err:
        await ws.exports.run(op, plan)
    assert err.value.params["call_id"] == calls[2].id
    assert not any(n.endswith((".iso", ".partial")) for n in leftovers(tmp_path))
    await assert_given_back(ws, number, Action.EXPORT_FAILED)
    row = await ws.db.fetchone(
        "SELECT detail FROM audit WHERE action = ? ORDER BY seq DESC", (Action.EXPORT_FAILED,)
    )
    assert str(calls[2].id) in row[0] and "export_source_changed" in row[0]


async def test_recording_shrunk_is_refused(ws: Workspace, calls: list, spool: Path, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(tmp_path / "o.iso")))
    os.truncate(spool / calls[0].path, 1000)
    with pytest.raises(SourceChanged):
        await ws.exports.run(op, plan)
    assert not (tmp_path / "o.iso").exists()
    await assert_given_back(ws, number, Action.EXPORT_FAILED)


async def test_destination_missing(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    with pytest.raises(StorageError) as err:
        await ws.exports.prepare(
            await operator(ws), number, ws.exports.target(out=str(tmp_path / "nowhere" / "o.iso"))
        )
    assert err.value.code == "destination_missing" and "\n" not in err.value.message
    assert (await ws.instructions.get(number)).state == State.ISSUED


async def test_destination_exists_is_never_overwritten(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    (tmp_path / "o.iso").write_bytes(b"precious")
    with pytest.raises(Conflict):
        await ws.exports.prepare(await operator(ws), number, ws.exports.target(out=str(tmp_path / "o.iso")))
    assert (tmp_path / "o.iso").read_bytes() == b"precious"


async def test_destination_read_only(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    with tmpfs(tmp_path / "ro", "4m", readonly=True) as ro:
        with pytest.raises(StorageError) as err:
            await ws.exports.prepare(await operator(ws), number, ws.exports.target(out=str(ro / "o.iso")))
        assert err.value.code == "destination_readonly"


async def test_destination_full_is_refused_before_writing(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    with tmpfs(tmp_path / "small", "1m") as small:
        with pytest.raises(StorageError) as err:
            await ws.exports.prepare(await operator(ws), number, ws.exports.target(out=str(small / "o.iso")))
        assert err.value.code == "destination_full" and "needs" in err.value.message
        assert leftovers(small) == []


class FillsTheDiskOnce(CancelToken):
    """Checked by the writer after every block it hashes: the first time, someone else takes the
    rest of the destination's space (a real fill of a real filesystem, mid-write)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.filled = False

    def check(self) -> None:
        if not self.filled:
            fill(self.folder)
            self.filled = True
        super().check()


async def test_destination_filling_up_while_writing(ws: Workspace, calls: list, tmp_path: Path) -> None:
    """Room at the start, full in the middle: ENOSPC mid-write aborts and removes the partial."""
    number = await issue(ws, calls)
    with tmpfs(tmp_path / "fs", "3m") as fs:
        op = await operator(ws)
        plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(fs / "o.iso")))
        token = FillsTheDiskOnce(fs)
        with pytest.raises(StorageError) as err:
            await ws.exports.run(op, plan, cancel=token)
        assert token.filled and err.value.code == "destination_full"
        assert leftovers(fs) == ["filler"]
    await assert_given_back(ws, number, Action.EXPORT_FAILED)


class CancelledAfter(CancelToken):
    """The operator presses cancel after `blocks` blocks were hashed and written."""

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self.left = blocks

    def check(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.cancel()
        super().check()


class PausedOnce(CancelToken):
    """Holds the writer mid-export until cancel() comes (from the service, when its task is
    cancelled), so the test can cancel the task while the writer is surely running."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = threading.Event()

    def check(self) -> None:
        if not self.reached.is_set():
            self.reached.set()
            self._event.wait(10)
        super().check()


async def test_cancel_mid_export_leaves_nothing(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(tmp_path / "o.iso")))
    seen: list[Progress] = []
    token = CancelledAfter(2)
    with pytest.raises(Cancelled):
        await ws.exports.run(op, plan, progress=seen.append, cancel=token)
    assert token.cancelled and not any(n.endswith((".iso", ".partial")) for n in leftovers(tmp_path))
    await assert_given_back(ws, number, Action.EXPORT_CANCELLED)
    # Given back, it can be executed again; progress is reported on the way.
    plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(tmp_path / "o.iso")))
    assert (await ws.exports.run(op, plan, progress=seen.append)).state == "finished"
    await asyncio.sleep(0)
    assert seen[-1].fraction == 1.0 and {p.phase for p in seen} >= {Phase.WRITE, Phase.VERIFY}


async def test_task_cancelled_waits_for_the_writer_then_cleans_up(
    ws: Workspace, calls: list, tmp_path: Path
) -> None:
    number = await issue(ws, calls)
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(tmp_path / "o.iso")))
    token = PausedOnce()
    task = asyncio.create_task(ws.exports.run(op, plan, cancel=token))
    assert await asyncio.to_thread(token.reached.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(n.endswith((".iso", ".partial")) for n in leftovers(tmp_path))
    await assert_given_back(ws, number, Action.EXPORT_CANCELLED)


async def test_duties_are_enforced_in_the_service(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls)
    target = ws.exports.target(out=str(tmp_path / "o.iso"))
    mgr = await manager(ws)
    with pytest.raises(NotPermitted):  # the manager's PIN cannot execute
        await ws.exports.prepare(mgr, number, target)
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, target)
    with pytest.raises(NotPermitted):
        await ws.exports.run(mgr, plan)
    with pytest.raises(NotPermitted):  # the operator's PIN cannot issue or cancel
        await ws.instructions.issue_export(
            op, purpose="proper-conduct", medium="dvd-r", call_ids=[calls[0].id]
        )
    with pytest.raises(NotPermitted):
        await ws.instructions.cancel(op, number)
    await ws.instructions.cancel(mgr, number)
    with pytest.raises(Conflict):  # nobody executes without an open instruction (第3条6)
        await ws.exports.prepare(op, number, target)
    with pytest.raises(Conflict):
        await ws.exports.run(op, plan)
    assert not (tmp_path / "o.iso").exists()


async def test_only_complete_recordings(ws: Workspace, calls: list, spool: Path, tmp_path: Path) -> None:
    growing = recording(spool, "in-0488291111-0312345678-20260930-100000-pbx-9.1.wav", 1000)
    os.utime(growing)  # just written: still recording
    await ws.indexer.scan()
    new = next(c for c in await index(ws) if c.name == growing.name)
    assert new.state == "recording"
    number = await issue(ws, [new])
    with pytest.raises(Conflict) as err:
        await ws.exports.prepare(await operator(ws), number, ws.exports.target(out=str(tmp_path / "o.iso")))
    assert err.value.code == "call_not_complete"


async def test_wrong_target_for_the_medium(ws: Workspace, calls: list, tmp_path: Path) -> None:
    number = await issue(ws, calls, medium="usb")
    with pytest.raises(CallrecError) as err:
        await ws.exports.prepare(await operator(ws), number, ws.exports.target(out=str(tmp_path / "o.iso")))
    assert err.value.code == "target_medium"


async def test_clock_set_back_refuses(ws: Workspace, calls: list, tmp_path: Path) -> None:
    from datetime import timedelta

    from services.core.clock import FixedClock

    number = await issue(ws, calls)
    op = await operator(ws)
    plan = await ws.exports.prepare(op, number, ws.exports.target(out=str(tmp_path / "o.iso")))
    ws.exports.clock = FixedClock(ws.clock.now() - timedelta(days=2))
    with pytest.raises(CallrecError) as err:
        await ws.exports.run(op, plan)
    assert err.value.code == "clock_behind"
    assert not (tmp_path / "o.iso").exists()
    assert (await ws.instructions.get(number)).state == State.ISSUED
