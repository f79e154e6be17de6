"""Crash injection: a real `callrec purge` process is killed with SIGKILL at each step of a purge;
the next command reconciles, and the disk and the index must agree exactly.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from services.access.duties import Duty
from services.workspace import Workspace
from tests.support.purge import BATCH, check_agreement, start_purge, wait_for
from tests.support.retention import files_on_disk, ids_by_path, make_calls, manager, operator
from tests.support.workspace import CliRunner

STEPS = [
    "after_start",
    "in_mark_tx",
    "after_mark",
    "mid_unlink",
    "after_unlink",
    "in_settle_tx",
    "after_settle",
    "before_finish",
    "after_finish",
]
EXPIRED, CURRENT = 12, 3
ALL = EXPIRED - 2  # one expired call is held, one named by an open export: batches of 4, 4, 2
# step -> (calls left marked, i.e. in the journal with their deletion pending: least, most; of
# them with the file deleted: least, most). Batches are handed to the helper as soon as they are
# marked, and up to three are marked ahead of the settling (pipeline.DEPTH): here, all of them.
LEFT = {
    "after_start": (0, 0, 0, 0),
    "in_mark_tx": (0, 0, 0, 0),  # killed inside the transaction: it never happened
    "after_mark": (BATCH, BATCH, 0, BATCH),  # the helper may be deleting it already
    "mid_unlink": (BATCH, ALL, BATCH // 2, BATCH // 2),  # the helper paused in the first batch
    "after_unlink": (BATCH, ALL, BATCH, ALL),  # the first done; the helper may go on
    # the first batch's settling never happened; the third may have been marked with it
    "in_settle_tx": (2 * BATCH, ALL, BATCH, ALL),
    "after_settle": (ALL - BATCH, ALL - BATCH, 0, ALL - BATCH),
    "before_finish": (0, 0, 0, 0),
    "after_finish": (0, 0, 0, 0),
}


def ended(pid: int) -> bool:
    """The process is gone (or a zombie nobody has reaped yet: it runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


@pytest.mark.parametrize("step", STEPS)
async def test_kill_at_each_step_then_reconcile(
    step: str, ws: Workspace, spool: Path, tmp_path: Path, cli: CliRunner
) -> None:
    old, new = make_calls(spool, expired=EXPIRED, current=CURRENT)
    await ws.indexer.scan()
    ids = await ids_by_path(ws)
    rel = [p.relative_to(spool).as_posix() for p in old]
    held, named = rel[3], rel[7]
    await ws.holds.set(await manager(ws), ids[held], "請求対応")
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    await ws.instructions.issue_export(boss, purpose="proper-conduct", medium="usb", call_ids=[ids[named]])
    ins = await ws.instructions.issue_purge(boss)
    keep = {held, named, *(p.relative_to(spool).as_posix() for p in new)}

    flag = tmp_path / "paused"
    proc = start_purge(ws.config.source, str(ins.id), step, flag)  # type: ignore[arg-type]
    try:
        wait_for(flag, proc)
        paused = int(flag.read_text())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    if step == "mid_unlink":  # paused in the helper process that deletes: it dies with the purge
        assert paused != proc.pid
        deadline = time.monotonic() + 10
        while not ended(paused):
            assert time.monotonic() < deadline, "the helper outlived the purge"
            time.sleep(0.01)

    # What the kill left: batches marked and not yet settled (while one batch's files are deleted,
    # the next is marked), some of their files deleted.
    low, high, gone_low, gone_high = LEFT[step]
    marked = await ws.db.fetchall(
        "SELECT path, state FROM calls WHERE id IN (SELECT value FROM purge_journal p, json_each(p.calls))"
    )
    assert low <= len(marked) <= high, (step, len(marked))
    assert {r["state"] for r in marked} <= {"purged"}  # a tombstone at once; its deletion pending
    absent = [r["path"] for r in marked if not (spool / r["path"]).exists()]
    assert gone_low <= len(absent) <= gone_high, (step, len(absent))

    # An indexer scanning before anyone reconciled must not call the purged files missing.
    await ws.indexer.scan()
    assert await ws.db.scalar("SELECT count(*) FROM calls WHERE state = 'missing'") == 0

    # The next command (any command) reconciles.
    index = cli("index", "--json", check=True)
    assert json.loads(index.stdout)["missing_total"] == 0
    states = await check_agreement(ws, spool, keep)
    # Killed with nothing left to delete, the run counts as finished; otherwise as interrupted,
    # and the instruction is open again. (After the first settling the helper may well have
    # deleted every file handed to it before the kill.)
    finished = list(states.values()).count("purged") == ALL
    assert finished or step not in ("before_finish", "after_finish")
    after = await ws.instructions.get(ins.id)
    assert after.state == ("done" if finished else "issued")
    runs = await ws.db.fetchall("SELECT state FROM purge_runs")
    assert [r["state"] for r in runs] == ["finished" if finished else "interrupted"]

    # The operator can finish the job under the same instruction, and the end is the same as an
    # uninterrupted purge: every expired recording deleted but the held and the named one.
    if after.state == "issued":
        plan = await ws.purge.plan(ins.id)
        await ws.purge.execute(await operator(ws), plan, typed_count=plan.count)
    states = await check_agreement(ws, spool, keep)
    assert sorted(p for p, s in states.items() if s == "complete") == sorted(keep)
    assert files_on_disk(spool) == keep
