"""The data folder and the database under faults: read-only, full, locked, killed, wrong clock.

Every case: one clear line, then, once the fault is gone, a whole database, a verifying audit chain
and every recording as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from services.access.audit import Action
from services.access.duties import Duty
from services.core import config as config_mod
from services.core.config import Config
from services.workspace import Workspace
from tests.support.export import fill, tmpfs
from tests.support.faults import assert_intact, fingerprint, one_line, start_cli
from tests.support.retention import current_time, make_calls, write_call
from tests.support.workspace import MANAGER_PIN, OPERATOR_PIN, CliRunner, run_callrec


def _config_on(data: Path, spool: Path, tmp_path: Path) -> Path:
    path = tmp_path / "faulty.toml"
    config_mod.write(Config(spool=spool, data=data, settle_seconds=0.3), path)
    return path


def _init(config: Path) -> None:
    cfg = config_mod.load(config)

    async def create() -> None:
        ws = await Workspace.open(cfg, create=True)
        await ws.close()

    asyncio.run(create())


def test_read_only_data_folder(spool: Path, tmp_path: Path) -> None:
    make_calls(spool, 3, 2)
    before = fingerprint(spool)
    with tmpfs(tmp_path / "data", "8m") as data:
        config = _config_on(data, spool, tmp_path)
        _init(config)
        assert run_callrec(config, "index").returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        for i in range(3):
            write_call(spool, current_time(i), 20000 + i)
        line = one_line(run_callrec(config, "index"))
        assert "read-only" in line or "readonly" in line
        subprocess.run(["mount", "-o", "remount,rw", str(data)], check=True)
        out = run_callrec(config, "index", "--json", check=True)
        assert json.loads(out.stdout)["indexed"] == 3
        cfg = config_mod.load(config)
        assert_intact(cfg, lambda *a: run_callrec(config, *a), before)


def test_full_data_folder(spool: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "data", "2m") as data:
        config = _config_on(data, spool, tmp_path)
        _init(config)
        fill(data)
        make_calls(spool, 0, 400)
        before = fingerprint(spool)
        line = one_line(run_callrec(config, "index"))
        assert "full" in line
        (data / "filler").unlink()
        run_callrec(config, "index", check=True)
        out = json.loads(run_callrec(config, "calls", "--json", "--limit", "1000", check=True).stdout)
        assert len(out) == 400
        assert_intact(config_mod.load(config), lambda *a: run_callrec(config, *a), before)


def test_database_locked_by_another_process_waits(ws: Workspace, cfg: Config, cli: CliRunner) -> None:
    make_calls(cfg.spool, 2, 2)
    before = fingerprint(cfg.spool)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(cfg.database)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(2); c.execute('COMMIT')\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    out = cli("index", "--json")
    holder.wait(10)
    assert out.returncode == 0, out.stderr  # waited for the lock; no "database is locked"
    assert time.monotonic() - started >= 1.0
    assert json.loads(out.stdout)["indexed"] == 4
    assert_intact(cfg, cli, before)


def test_sigkill_during_index_then_reindex(ws: Workspace, cfg: Config, cli: CliRunner) -> None:
    make_calls(cfg.spool, 10000)  # spread over many day folders: written in many batches
    before = fingerprint(cfg.spool)
    proc = start_cli(cfg.source, "index", capture=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill it once it has written some, not all
        with sqlite3.connect(cfg.database) as raw:
            n = raw.execute("SELECT count(*) FROM calls").fetchone()[0]
        if n > 0:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(cfg.database) as raw:
        partial = raw.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert 0 < partial < 10000, partial
    cli("index", check=True)
    with sqlite3.connect(cfg.database) as raw:
        assert raw.execute("SELECT count(*), count(DISTINCT path) FROM calls").fetchone() == (10000, 10000)
        assert raw.execute("SELECT count(*) FROM calls WHERE state != 'complete'").fetchone()[0] == 0
    assert_intact(cfg, cli, before)


async def test_clock_set_back_refuses_destructive_actions(
    ws: Workspace, cfg: Config, cli: CliRunner, tmp_path: Path
) -> None:
    make_calls(cfg.spool, 3)
    await ws.indexer.scan()
    ids = [r["id"] for r in await ws.db.fetchall("SELECT id FROM calls ORDER BY id")]
    usb = tmp_path / "usb"
    usb.mkdir()
    boss = await ws.auth.authorize("manager", MANAGER_PIN, Duty.ISSUE_INSTRUCTION)
    done = await ws.instructions.issue_export(boss, purpose="proper-conduct", medium="usb", call_ids=ids[:1])
    op = await ws.auth.authorize("operator", OPERATOR_PIN, Duty.EXECUTE_INSTRUCTION)
    await ws.exports.run(op, await ws.exports.prepare(op, done.id, ws.exports.target(folder=str(usb))))
    entry = await ws.register.receive(
        await ws.auth.authorize("manager", MANAGER_PIN, Duty.RECEIVE_OUTPUT), done.id
    )
    pending = await ws.instructions.issue_export(
        boss, purpose="proper-conduct", medium="usb", call_ids=ids[1:2]
    )
    before = fingerprint(cfg.spool)
    purge = json.loads(
        cli("instruct", "purge", "--pin-stdin", "--json", input=f"{MANAGER_PIN}\n", check=True).stdout
    )
    # An entry written while the clock read a day later than it does now: the clock was set back.
    await ws.audit.record(
        at=ws.clock.now() + timedelta(days=1),
        actor="system",
        action=Action.CONFIG_WRITTEN,
        subject="clock test",
    )
    behind = "earlier than the newest audit entry"
    line = one_line(cli("purge", str(purge["id"]), "--yes", "--pin-stdin", input=f"{OPERATOR_PIN}\n"))
    assert "clock" in line and behind in line
    usb2 = tmp_path / "usb2"
    usb2.mkdir()
    assert behind in one_line(
        cli("export", pending.number, "--dir", str(usb2), "--yes", "--pin-stdin", input=f"{OPERATOR_PIN}\n")
    )
    assert behind in one_line(
        cli(
            "dispose",
            str(entry.id),
            "--method",
            "破砕",
            "--witness",
            "山田",
            "--yes",
            "--pin-stdin",
            input=f"{MANAGER_PIN}\n",
        )
    )
    assert list(usb2.iterdir()) == [] and (await ws.register.get(entry.id)).disposed_on is None
    assert (await ws.instructions.get(pending.id)).state == "issued"
    assert fingerprint(cfg.spool) == before
    assert_intact(cfg, cli, before)


@pytest.fixture(autouse=True)
def _no_leftover_mounts() -> None:
    yield
    os.sync()
