"""What every fault test checks afterwards: one clear line, and nothing lost or damaged."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from demo_data.synth import wav_header
from services.core.config import Config
from services.workspace import Workspace

DAY = "2026/11/02"
STAMP = "20261102-100000"

# Unique ids a hostile or careless recorder might write: markup, terminal escapes, bidi, newlines.
HOSTILE_UNIQUEIDS = {
    "markup": "[red]x[bold]y[link=e]z[@click=quit]",
    "osc_title": "t\x1b]0;pwned\x07",
    "csi_clear": "c\x1b[2J\x1b[H",
    "bidi": "abc\u202egpj.exe",
    "newline": "line1\nline2",
    "tab_bell": "a\tb\x07",
}


def spool_name(uniqueid: str, source: str = "09012345678") -> str:
    """A FreePBX recording name of an incoming call on DAY."""
    return f"in-0488291111-{source}-{STAMP}-{uniqueid}.wav"


def write_aged(folder: Path, name: str | bytes, data: bytes) -> None:
    """A file written an hour ago (settled), under a name that may not be valid UTF-8."""
    path = os.path.join(os.fsencode(folder), os.fsencode(name) if isinstance(name, str) else name)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, (time.time() - 3600,) * 2)


def write_hostile_names(folder: Path) -> str:
    """A recording under each hostile unique id, one undecodable name, the longest name a Linux
    file system allows and a name that is not a recording's; returns the longest."""
    audio = wav_header(800) + bytes(800)
    for i, uid in enumerate(HOSTILE_UNIQUEIDS.values()):
        write_aged(folder, spool_name(f"{uid}.{i}"), audio)
    write_aged(folder, b"in-0488291111-0901-" + STAMP.encode() + b"-bad\xff\xfe.1.wav", audio)
    longest = spool_name("x" * (255 - len(spool_name("")) - 2) + ".9")
    assert len(longest.encode()) == 255
    write_aged(folder, longest, audio)
    write_aged(folder, "[bold]not a recording.wav", audio)
    return longest


def write_odd_entries(folder: Path) -> None:
    """Entries that are not plain recordings: a FIFO (opening it to hash would block for ever), a
    symlink, a folder, an empty file, a header only, a truncated file and text; and one real call."""
    real = folder / spool_name("1.1")
    write_aged(folder, real.name, wav_header(8000) + bytes(8000))
    os.mkfifo(folder / spool_name("fifo.2"))
    os.symlink(real, folder / spool_name("link.3"))
    (folder / spool_name("dir.4")).mkdir()
    write_aged(folder, spool_name("zero.5"), b"")
    write_aged(folder, spool_name("unanswered.6"), wav_header(0))
    write_aged(folder, spool_name("truncated.7"), wav_header(16000) + bytes(1600))
    write_aged(folder, spool_name("text.8"), b"this is not audio at all\n" * 40)


class LiveRecorder:
    """A recorder mid-day: `finished` recordings already in the folder and `live` calls in
    progress, each written to every 10 ms by a thread until `stop()`."""

    def __init__(self, folder: Path, *, finished: int = 300, live: int = 5) -> None:
        for i in range(finished):
            write_aged(folder, spool_name(f"old.{i}"), wav_header(2000) + os.urandom(2000))
        self.growing = [folder / spool_name(f"live.{i}") for i in range(live)]
        self._stop, self._started = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._record)

    def start(self) -> LiveRecorder:
        self._thread.start()
        self._started.wait(5)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _record(self) -> None:
        handles = [open(p, "wb") for p in self.growing]  # noqa: SIM115
        for h in handles:
            h.write(wav_header(0))
            h.flush()
        self._started.set()
        while not self._stop.is_set():
            for h in handles:
                h.write(os.urandom(320))
                h.flush()
            time.sleep(0.01)
        for h in handles:
            h.close()


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


def start_cli(
    config: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None, capture: bool = True
) -> subprocess.Popen[str]:
    """A real `callrec --config CONFIG ARGS...` in a process of its own (to be paused or killed).
    Without `capture` its output is discarded, for a process that may write more than a pipe holds."""
    from tests.support.workspace import ROOT

    out = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(config), *args],
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=out,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # all its input is given: communicate() then only reads
    return proc


def start_paused(
    config: Path, *args: str, step: str, flag: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """A real `callrec` command that stops at testpoint `step` (services/core/testpoints.py)."""
    from services.core import testpoints

    return start_cli(
        config,
        *args,
        stdin=stdin,
        env={testpoints.PAUSE_AT: step, testpoints.PAUSE_FILE: str(flag), **(env or {})},
    )


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
