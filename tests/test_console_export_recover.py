"""An export killed in another process a moment ago: the operator's `x` cleans it up at once and goes
on, rather than saying the instruction is being executed until the console's periodic clean-up."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from console import app as app_mod
from screens.exports.dialogs import FieldsForm
from services.access.duties import Duty
from services.core.config import Config
from services.instructions.store import State
from services.workspace import Workspace
from tests.support.console import Said, make_app, selected_state, show, unlock, until
from tests.support.export import manager, recording, start_cli_export


async def test_x_cleans_up_an_export_killed_elsewhere(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_mod, "RECOVER_EVERY_SECONDS", 3600.0)  # no periodic round meanwhile
    recording(spool, "in-0488291111-0312345678-20261001-100000-big.1.wav", 150_000_000, sparse=True)
    await ws.indexer.scan()
    ids = [r["id"] for r in await ws.db.fetchall("SELECT id FROM calls")]
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION), purpose="crime-prevention", medium="usb", call_ids=ids
    )
    usb = tmp_path / "usb"
    usb.mkdir()
    app = make_app(ws)
    said = Said(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await show(pilot, "instructions")
        await until(pilot, lambda: selected_state(app, ins.number) == State.ISSUED)

        # the CLI runs the export in another process, and is killed while it writes
        assert cfg.source is not None
        proc = start_cli_export(cfg.source, ins.number, "--dir", str(usb))
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".partial") and any(p.rglob("*.wav")) for p in usb.iterdir()):
            assert proc.poll() is None, "the export ended before it could be killed"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        await until(
            pilot,
            lambda: selected_state(app, ins.number) == State.IN_PROGRESS,
            timeout=10,
            what="the other console's export seen",
        )

        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="the export form")
        assert "途中で止まった出力データの作成（1件）" in said
        assert not any("実行中" in m for _, m in said.messages)
        assert list(usb.iterdir()) == []  # the half-written output removed
        assert (await ws.instructions.get(ins.id)).state == State.ISSUED
        history = await ws.exports.history(ins.number)
        assert [e.state for e in history] == ["failed"]
