"""The log (第14 issue, DESIGN: logs): a full workflow through the real command leaves one line per
event in the data folder's log, with its cause, and never a PIN, a full number or a raw control
character; under systemd the lines go to stderr for the journal; the level is the configuration's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from console.exits import Exit
from console.logs import log_file
from services.access import Role
from services.core import config as config_mod
from services.core.config import Config
from services.workspace import Workspace
from tests.support.faults import start_cli, write_hostile_names
from tests.support.retention import make_calls
from tests.support.workspace import run_callrec

MANAGER, OPERATOR, WRONG = "7391", "8462", "5283"  # digits no file name or number below holds
FULL_NUMBERS = ("09012345678", "090-1234-5678", "819012345678")


async def with_pins(cfg: Config) -> None:
    ws = await Workspace.open(cfg, create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, MANAGER)
        await ws.auth.set_pin(Role.OPERATOR, OPERATOR)
    finally:
        await ws.close()


async def test_a_full_workflow_is_logged_safely(cfg: Config, spool: Path) -> None:
    await with_pins(cfg)
    make_calls(spool, expired=3, current=1)
    write_hostile_names(spool)
    source = cfg.source
    assert source is not None

    def run(*args: str, pin: str = "") -> subprocess.CompletedProcess[str]:
        return run_callrec(source, *args, input=pin + "\n" if pin else None)

    assert run("index").returncode == Exit.OK
    assert run("calls", "--reveal", "manager", "--pin-stdin", pin=MANAGER).returncode == Exit.OK
    ids = [int(m) for m in re.findall(r"^\s*(\d+)\s", run("calls").stdout, re.M)]
    reason = "弁護士照会 090-1234-5678 \x1b[2J"
    assert run("hold", str(ids[0]), "--reason", reason, "--pin-stdin", pin=MANAGER).returncode == Exit.OK
    assert run("hold", str(ids[1]), "--reason", "x", "--pin-stdin", pin=WRONG).returncode == Exit.PIN
    assert run("instruct", "purge", "--pin-stdin", pin=MANAGER).returncode == Exit.OK
    assert run("purge", "1", "--yes", "--pin-stdin", pin=OPERATOR).returncode == Exit.OK
    assert run("purge", "1", "--yes", "--pin-stdin", pin=OPERATOR).returncode == Exit.REFUSED

    text = log_file(cfg).read_text(encoding="utf-8")
    lines = text.splitlines()
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+ (INFO|WARNING|ERROR) ")
    assert all(stamp.match(ln) for ln in lines)
    for needle in (
        "scan of ",  # each scan, with its counts
        "index.unknown",  # the odd names, as anomalies
        "hold.set by manager",
        "pin.failed",
        "instruction.issued",
        "purge.started",
        "purge.finished",
        "purge failed (",  # the refusal, with its code and exit code
        "exit 5",
    ):
        assert needle in text, f"{needle!r} not logged"
    said = "\n".join(ln.split(" ", 4)[4] for ln in lines)  # after the time and the process id
    for secret in (MANAGER, OPERATOR, WRONG, *FULL_NUMBERS):
        assert secret not in said, f"{secret} in the log"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)  # control characters shown escaped
    assert "\\x1b[2J" in text  # the reason's escape sequence, as text


def test_under_systemd_the_journal_gets_the_lines(cfg: Config, ws: Workspace) -> None:
    assert cfg.source is not None
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(cfg.source), "index"],
        capture_output=True,
        text=True,
        env={**os.environ, "JOURNAL_STREAM": "8:12345"},
        timeout=120,
    )
    assert proc.returncode == Exit.OK, proc.stderr
    assert "INFO services.indexing.indexer: scan of " in proc.stderr
    assert not log_file(cfg).exists()


def test_the_level_is_the_configurations(cfg: Config, ws: Workspace, spool: Path) -> None:
    assert cfg.source is not None
    quiet = cfg.source.with_name("quiet.toml")
    config_mod.write(config_mod.replace(cfg, log_level="warning"), quiet)
    make_calls(spool, expired=1)
    assert run_callrec(quiet, "index").returncode == Exit.OK
    assert not log_file(cfg).exists() or "INFO" not in log_file(cfg).read_text(encoding="utf-8")
    bad = cfg.source.with_name("bad.toml")
    bad.write_text(quiet.read_text(encoding="utf-8").replace('"warning"', '"loud"'), encoding="utf-8")
    refused = run_callrec(bad, "index")
    assert refused.returncode == Exit.CONFIG and "log.level" in refused.stderr


def test_the_indexer_says_at_once_why_it_cannot_index(cfg: Config, ws: Workspace, spool: Path) -> None:
    """Run by hand with the spool gone, `callrec indexer` says so on the terminal (once, not at
    every retry) and in the log, and keeps trying."""
    assert cfg.source is not None
    spool.rmdir()
    proc = start_cli(cfg.source, "--lang", "en", "indexer")
    try:
        assert proc.stderr is not None
        seen, deadline = "", time.monotonic() + 30
        while "indexing stopped" not in seen and time.monotonic() < deadline and proc.poll() is None:
            seen += proc.stderr.readline()
        assert "indexing stopped (spool_missing)" in seen, seen
        assert proc.poll() is None  # still trying
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == Exit.OK
    assert (seen + err).count("indexing stopped") == 1
    assert "indexing stopped (spool_missing)" in log_file(cfg).read_text(encoding="utf-8")
