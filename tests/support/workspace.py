"""A test's workspace: the PINs, the project's root, the sample recordings, the real `callrec` command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from demo_data import SAMPLE_SPOOL

MANAGER_PIN = "1111"
OPERATOR_PIN = "2222"
ROOT = Path(__file__).resolve().parents[2]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def copy_samples(spool: Path) -> list[Path]:
    """Copy the committed sample spool (mtimes kept, so the files count as settled)."""
    shutil.copytree(SAMPLE_SPOOL, spool, dirs_exist_ok=True, copy_function=shutil.copy2)
    return sorted(p for p in spool.rglob("*") if p.is_file())


def run_callrec(
    config: Path, *args: str, input: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real `callrec` command in a subprocess, in English (the lines the tests read; the
    Japanese ones: test_cli_language.py)."""
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--lang", "en", "--config", str(config), *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"callrec {' '.join(args)} failed: {proc.stderr}")
    return proc


class Stopwatch:
    """The indexer's monotonic time, moved on by the test instead of waited for."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
