"""The demo workspace (`callrec --demo`): built from nothing, self-contained, never a real config."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from demo_data.redate import months_before
from demo_data.workspace import DEMO_PINS, MARKER, build, prepare
from services import status
from services.access.duties import Duty
from services.calls import CallFilter
from services.core.clock import JST
from services.core.errors import CallrecError
from services.workspace import Workspace
from tests.support.console import Terminal

NOW = datetime(2026, 11, 24, 18, 30, tzinfo=JST)


async def test_demo_workspace_has_everything_the_views_need(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    cfg = await build(root, today=NOW.date(), now=NOW)
    assert cfg.source == root / "config.toml" and (root / MARKER).exists()
    assert cfg.spool == root / "spool" and cfg.data == root / "data"
    assert not cfg.kiosk
    ws = await Workspace.open(cfg)
    try:
        calls = await ws.calls.page(CallFilter(), limit=1000)
        assert len(calls) == 150
        days = {c.started_at.date() for c in calls}
        assert min(days) == months_before(NOW.date(), 3) and max(days) == NOW.date()
        assert all(c.started_at <= NOW for c in calls)
        for role, pin in DEMO_PINS.items():
            actor = await ws.auth.authorize(role, pin, Duty.VIEW_INDEX)
            assert actor.role is role
        items = await ws.instructions.list()
        states = sorted((i.kind, i.state) for i in items)
        assert states == [
            ("export", "cancelled"),
            ("export", "issued"),
            ("export", "issued"),
            ("export", "received"),
            ("export", "submitted"),
            ("purge", "issued"),
        ]
        assert items[0].state == "issued"  # open ones first
        outlook = await status.purge_outlook(ws.db, NOW, JST)
        assert outlook.expired > 0  # the oldest calls are past their retention
        [entry] = await ws.register.list()
        assert entry.custodian and entry.kept_through.month == 3  # 翌年度末
        for sums in (root / "media").glob("usb-*/*/SHA256SUMS"):  # written for real, as recorded
            check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=sums.parent)
            assert check.returncode == 0
        assert len(list((root / "media").glob("usb-*/*/SHA256SUMS"))) == 2
        [hold] = await ws.holds.active()
        blocked = (await ws.retention.preview()).blocked
        assert [b.id for b in blocked] == [hold.call_id]
    finally:
        await ws.close()


async def test_prepare_reuses_a_demo_folder_and_refuses_any_other(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first = await prepare(root)
    again = await prepare(root)
    assert again == first
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(CallrecError, match="not a demo workspace"):
        await prepare(busy)
    assert (busy / "notes.txt").read_text() == "mine"


def test_demo_runs_without_any_configuration_and_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    real = tmp_path / "real-config.toml"
    term = Terminal(
        "--demo",
        env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "CALLREC_CONFIG": str(real)},
    )
    try:
        term.read_until("デモ用PIN")
        match = re.search(
            rb"\xe6\xba\x96\xe5\x82\x99\xe3\x81\x97\xe3\x81\xa6\xe3\x81\x84\xe3\x81\xbe"
            rb"\xe3\x81\x99: (\S+)",
            term.output,
        )  # "準備しています: <path>"
        assert match
        workspace = Path(match[1].decode())
        assert (workspace / "config.toml").exists()
        term.write(b"2222\r")
        term.read_until("録音中", timeout=20)  # the simulated recorder is at work
        os.kill(term.proc.pid, signal.SIGHUP)
        assert term.wait(15) == 129
    finally:
        term.close()
    assert not real.exists()
    assert list(home.iterdir()) == []
    assert not workspace.exists()  # the temporary workspace is gone


def test_demo_with_a_workspace_folder_keeps_it(tmp_path: Path) -> None:
    folder = tmp_path / "kept"
    term = Terminal("--demo", "--workspace", str(folder), "--lang", "en")
    try:
        term.read_until("Demo PINs")
        os.kill(term.proc.pid, signal.SIGTERM)
        assert term.wait(15) == 129
    finally:
        term.close()
    assert (folder / MARKER).exists() and (folder / "data" / "callrec.db").exists()
    assert not any(p.name == "config.toml" for p in (tmp_path.parent).glob("*.toml"))
    assert datetime.now(JST) - timedelta(minutes=5) < datetime.fromtimestamp(
        (folder / "data" / "callrec.db").stat().st_mtime, JST
    )


def test_workspace_is_for_the_demo_only(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("--workspace", "/tmp/x")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "callrec: --workspace is for the demo only (use it with --demo)"


def test_the_configuration_chooses_the_language(tmp_path: Path) -> None:
    from console.i18n import configured_language
    from services.core import config as config_mod
    from services.core.config import Config

    path = tmp_path / "config.toml"
    config_mod.write(Config(spool=tmp_path, data=tmp_path / "data", language="en"), path)
    assert configured_language(config_mod.load(path).source) == "en"
    path.write_text(f'[paths]\nspool = "{tmp_path}"\ndata = "{tmp_path}/data"\n', encoding="utf-8")
    assert configured_language(path) is None  # then LANG, then Japanese
