"""What every fault test checks afterwards: one clear line, and nothing lost or damaged."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

from services.config import Config


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
