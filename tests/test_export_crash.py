"""An export whose process is killed (SIGKILL) mid-write: the next export cleans up and goes on."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from services.access.audit import Action
from services.core.config import Config
from services.workspace import Workspace
from tests.support.export import index, manager, needs_xorriso, recording, start_cli_export
from tests.support.workspace import CliRunner

pytestmark = needs_xorriso


async def test_sigkill_mid_export_then_recovery(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path, cli: CliRunner
) -> None:
    recording(spool, "in-0488291111-0312345678-20261001-100000-big.1.wav", 150_000_000, sparse=True)
    recording(spool, "in-0488291111-0312345678-20261001-110000-small.1.wav", 20_000)
    calls = await index(ws)
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="crime-prevention", medium="dvd-r", call_ids=[c.id for c in calls]
    )
    out = tmp_path / "out" / "o.iso"
    out.parent.mkdir()
    partial = out.with_name(".o.iso.partial")
    assert cfg.source is not None
    proc = start_cli_export(cfg.source, ins.number, "--out", str(out))
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 0):
        assert proc.poll() is None, "the export ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # Killed mid-write: the partial image is there, the instruction in progress.
    assert partial.exists() and not out.exists()
    assert (await ws.instructions.get(ins.number)).state == "in_progress"
    # The next execution finds the dead export, cleans up, gives the instruction back, goes on.
    done = cli("export", ins.number, "--out", str(out), "--pin-stdin", "--yes", "--json", input="2222\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "finished"
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.iso"]  # no partial left
    history = await ws.exports.history(ins.number)
    assert [e.state for e in history] == ["failed", "finished"]
    assert "stopped before it finished" in (history[0].error or "")
    actions = [
        r[0]
        for r in await ws.db.fetchall(
            "SELECT action FROM audit WHERE subject = ? ORDER BY seq", (ins.number,)
        )
    ]
    assert actions == [
        Action.INSTRUCTION_ISSUED,
        Action.INSTRUCTION_STARTED,
        Action.EXPORT_STARTED,
        Action.INSTRUCTION_REOPENED,
        Action.EXPORT_FAILED,
        Action.INSTRUCTION_STARTED,
        Action.EXPORT_STARTED,
        Action.INSTRUCTION_SUBMITTED,
        Action.EXPORT_FINISHED,
    ]
    assert (await ws.audit.verify()).ok and await ws.db.integrity_ok()
