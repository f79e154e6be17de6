"""A real `callrec purge` paused at a step, and the check that disk and index agree after it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from services.core import testpoints
from services.workspace import Workspace
from tests.support.faults import start_paused, wait_for_pause
from tests.support.retention import files_on_disk

BATCH = 4  # calls per purge batch in these tests


def start_purge(cfg_path: Path, ref: str, step: str, flag: Path) -> subprocess.Popen[str]:
    return start_paused(
        cfg_path,
        "--lang",
        "en",
        "purge",
        ref,
        "--yes",
        "--pin-stdin",
        step=step,
        flag=flag,
        stdin="2222\n",
        env={testpoints.PURGE_BATCH: str(BATCH)},
    )


def wait_for(flag: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    try:
        wait_for_pause(flag, proc, timeout)
    except AssertionError:
        proc.kill()
        raise


async def check_agreement(ws: Workspace, spool: Path, keep: set[str]) -> dict[str, str]:
    """Disk and index agree: every tombstone's file is gone, every other call's file is there,
    nothing is left purging or missing or pending, and each tombstone has exactly one audit
    entry."""
    rows = await ws.db.fetchall("SELECT id, path, state FROM calls")
    on_disk = files_on_disk(spool)
    states = {r["path"]: r["state"] for r in rows}
    assert set(states.values()) <= {"complete", "purged"}, states
    for path, state in states.items():
        assert (path in on_disk) == (state == "complete"), (path, state)
    assert keep <= on_disk  # held, named and current recordings were never touched
    purged = {r["id"] for r in rows if r["state"] == "purged"}
    entries = await ws.db.fetchall("SELECT detail FROM audit WHERE action = 'purge.deleted'")
    audited = [json.loads(e["detail"])["call_id"] for e in entries]
    assert sorted(audited) == sorted(purged)
    assert await ws.db.scalar("SELECT count(*) FROM purge_runs WHERE state = 'running'") == 0
    assert await ws.db.scalar("SELECT count(*) FROM purge_journal") == 0
    assert (await ws.audit.verify()).ok
    assert await ws.db.integrity_ok()
    return states
