"""Folders the console cannot read or write (issue 6): the spool or one of its folders unreadable,
the data folder read-only (as a command and as a console starting on it), and how a failed write
is put into words.

The tests run as root in CI; root reads everything, so the commands run under `setpriv` without
the file-permission capabilities, as the dedicated console user would (README: deployment).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.exits import Exit
from services.access.duties import Role
from services.core import config as config_mod
from services.core import db as db_mod
from services.core.config import Config
from services.workspace import Workspace
from tests.support.console import Terminal
from tests.support.export import fill, tmpfs
from tests.support.faults import assert_intact, fingerprint, one_line
from tests.support.retention import current_time, write_call
from tests.support.workspace import ROOT, CliRunner

UNPRIVILEGED = (
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
)

needs_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv not installed")


def run_unprivileged(cfg: Config, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = UNPRIVILEGED if os.geteuid() == 0 else ()
    return subprocess.run(
        [*prefix, sys.executable, "-m", "console.cli", "--lang", "en", "--config", str(cfg.source), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@needs_setpriv
def test_spool_unreadable(ws: Workspace, cfg: Config, cli: CliRunner) -> None:
    for i in range(3):
        write_call(cfg.spool, current_time(i), i)
    before = fingerprint(cfg.spool)
    os.chmod(cfg.spool, 0)
    try:
        line = one_line(run_unprivileged(cfg, "index"))
        assert "spool folder unreadable" in line and str(cfg.spool) in line
    finally:
        os.chmod(cfg.spool, 0o755)
    out = json.loads(cli("index", "--json", check=True).stdout)
    assert out["indexed"] == 3
    assert_intact(cfg, cli, before)


@needs_setpriv
def test_one_spool_folder_unreadable(ws: Workspace, cfg: Config, cli: CliRunner) -> None:
    paths = [write_call(cfg.spool, current_time(i), i) for i in range(3)]
    cli("index", check=True)
    folder = paths[0].parent
    write_call(cfg.spool, current_time(0), 99)  # arrives while its folder cannot be read
    before = fingerprint(cfg.spool)
    os.chmod(folder, 0)
    try:
        proc = run_unprivileged(cfg, "index", "--json")
        line = one_line(proc)
        rel = folder.relative_to(cfg.spool).as_posix()
        assert rel in line and "could not be read" in line
        report = json.loads(proc.stdout)
        assert report["unreadable"] == {rel: "Permission denied"}
        assert report["missing"] == 0  # what it cannot see is not called missing
    finally:
        os.chmod(folder, 0o755)
    report = json.loads(cli("index", "--json", check=True).stdout)
    assert report["indexed"] == 1 and report["unreadable"] == {}
    with sqlite3.connect(cfg.database) as raw:
        assert raw.execute("SELECT count(*) FROM calls WHERE state = 'complete'").fetchone()[0] == 4
    assert_intact(cfg, cli, before)


@needs_setpriv
def test_console_on_an_unreadable_spool_says_so_and_resumes(
    ws: Workspace, cfg: Config, cli: CliRunner
) -> None:
    write_call(cfg.spool, current_time(0), 1)
    before = fingerprint(cfg.spool)
    os.chmod(cfg.spool, 0)
    prefix = UNPRIVILEGED if os.geteuid() == 0 else ()
    term = Terminal("--config", str(cfg.source), prefix=prefix, size=(120, 40))
    try:
        term.read_until("役割の切替")
        term.read_until("録音フォルダの監視が止まっています", timeout=20)
        term.write(b"2222\r")
        term.read_until("通話一覧")
        term.write(b"3")
        term.read_until("録音フォルダを読めません")
        assert term.proc.poll() is None
        os.chmod(cfg.spool, 0o755)
        term.read_until("録音フォルダの監視を再開しました", timeout=30)
        os.kill(term.proc.pid, signal.SIGHUP)
        assert term.wait(10) == 129  # still a clean exit
    finally:
        os.chmod(cfg.spool, 0o755)
        term.close()
    with sqlite3.connect(cfg.database) as raw:
        assert raw.execute("SELECT count(*) FROM calls WHERE state = 'complete'").fetchone()[0] == 1
    assert_intact(cfg, cli, before)


def test_console_on_a_read_only_data_folder_says_so(spool: Path, tmp_path: Path) -> None:
    for i in range(2):
        write_call(spool, current_time(i), i)
    before = fingerprint(spool)
    config = tmp_path / "ro.toml"
    with tmpfs(tmp_path / "data", "8m") as data:
        config_mod.write(Config(spool=spool, data=data, settle_seconds=0.3), config)
        cfg = config_mod.load(config)

        async def create() -> None:
            ws = await Workspace.open(cfg, create=True)
            await ws.auth.set_pin(Role.OPERATOR, "2222")
            await ws.indexer.scan()
            await ws.close()

        asyncio.run(create())
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
        try:
            term = Terminal("--config", str(config))
            try:
                term.read_until("データフォルダが読み取り専用のため")
                assert term.wait(10) == Exit.STORAGE  # one line, no traceback, nothing half-started
                text = term.output.decode("utf-8", "replace")
                assert "Traceback" not in text
                assert len([ln for ln in text.splitlines() if "callrec:" in ln]) == 1
            finally:
                term.close()
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(data)], check=True)
        assert_intact(
            cfg,
            lambda *a: subprocess.run(
                [sys.executable, "-m", "console.cli", "--config", str(config), *a],
                capture_output=True,
                text=True,
                cwd=ROOT,
            ),
            before,
        )


def test_a_failed_write_says_why(tmp_path: Path) -> None:
    """What the console and the CLI say when a write fails inside a transaction: the data folder
    read-only (a disk the kernel remounted read-only after errors, which no test can do to a
    folder in use), full, or the database held by another process past the wait."""
    locked = db_mod._write_error(tmp_path / "callrec.db", sqlite3.OperationalError("database is locked"))
    assert locked.code == "db_busy" and "database is locked" not in locked.message
    with tmpfs(tmp_path / "ro", "1m", readonly=True) as ro:
        err = db_mod._write_error(ro / "callrec.db", sqlite3.OperationalError("disk I/O error"))
        assert err.code == "data_readonly" and "read-only" in err.message
    with tmpfs(tmp_path / "full", "1m") as full:
        fill(full)
        err = db_mod._write_error(full / "callrec.db", sqlite3.OperationalError("disk I/O error"))
        assert err.code == "data_full" and "full" in err.message


@needs_setpriv
def test_console_with_one_spool_folder_unreadable_warns(ws: Workspace, cfg: Config, cli: CliRunner) -> None:
    folder = write_call(cfg.spool, current_time(0), 1).parent
    before = fingerprint(cfg.spool)
    os.chmod(folder, 0)
    prefix = UNPRIVILEGED if os.geteuid() == 0 else ()
    term = Terminal("--config", str(cfg.source), prefix=prefix, size=(120, 40))
    try:
        term.read_until("録音フォルダの一部を索引できません", timeout=20)
        term.write(b"2222\r")
        term.read_until("通話一覧")
        assert term.proc.poll() is None
        os.kill(term.proc.pid, signal.SIGHUP)
        assert term.wait(10) == 129
    finally:
        os.chmod(folder, 0o755)
        term.close()
    assert_intact(cfg, cli, before)
