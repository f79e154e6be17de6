"""What every fault test checks afterwards: one clear line, and nothing lost or damaged."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.config import Config
from services.workspace import Workspace


def fingerprint(spool: Path) -> dict[str, str]:
    """sha256 of every regular file under the spool (symlinks and FIFOs are not recordings)."""
    out = {}
    for p in sorted(spool.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(spool))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """A failure is exactly one line on stderr, never a traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def assert_intact(cfg: Config, run, before: dict[str, str]) -> None:
    """Database whole, audit chain verifying, every recording still there and unchanged."""
    with sqlite3.connect(cfg.database) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dupes = raw.execute("SELECT count(*) - count(DISTINCT path) FROM calls").fetchone()[0]
        assert dupes == 0
    verify = run("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    after = fingerprint(cfg.spool)
    for name, digest in before.items():
        assert after.get(name) == digest, f"{name} lost or changed"


async def assert_intact_ws(ws: Workspace, before: dict[str, str]) -> None:
    """assert_intact for a test holding the workspace open (the console's Pilot tests)."""
    with sqlite3.connect(ws.config.database) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dupes = raw.execute("SELECT count(*) - count(DISTINCT path) FROM calls").fetchone()[0]
        assert dupes == 0
    verified = await ws.audit.verify()
    assert verified.ok, verified
    after = fingerprint(ws.config.spool)
    for name, digest in before.items():
        assert after.get(name) == digest, f"{name} lost or changed"


class Said:
    """Every one-line message the console showed (toasts expire; this keeps them all)."""

    def __init__(self, app: Any) -> None:
        self.messages: list[tuple[str, str]] = []
        original = app.notify

        def notify(message: str, *args: Any, severity: str = "information", **kw: Any) -> Any:
            self.messages.append((severity, message))
            return original(message, *args, severity=severity, **kw)

        app.notify = notify

    def __contains__(self, needle: str) -> bool:
        return any(needle in m for _, m in self.messages)

    def line(self, needle: str) -> str:
        """The one message holding `needle`: a single line, in the user's words, no traceback."""
        found = [m for _, m in self.messages if needle in m]
        assert found, f"{needle!r} never said; said: {self.messages}"
        line = found[-1]
        assert "\n" not in line and "Traceback" not in line and "database is locked" not in line, line
        return line

    def errors(self) -> list[str]:
        return [m for s, m in self.messages if s == "error"]


def start_paused(config: Path, *args: str, step: str, flag: Path, stdin: str = "",
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A real `callrec` command that stops at testpoint `step` (services/testpoints.py)."""
    from services import testpoints
    from tests.conftest import ROOT

    full_env = {**os.environ, testpoints.PAUSE_AT: step, testpoints.PAUSE_FILE: str(flag), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(config), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, env=full_env,
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def wait_for_pause(flag: Path, proc: subprocess.Popen[Any] | None = None, timeout: float = 60) -> None:
    """Until the process stopped at its testpoint has written the flag file."""
    deadline = time.monotonic() + timeout
    while not flag.exists():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ended before the testpoint: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError("never reached the testpoint")
        time.sleep(0.01)


def kill_at_pause(flag: Path, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    """Wait for the testpoint, then SIGKILL the process there."""
    try:
        wait_for_pause(flag, proc, timeout)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
