"""Helpers for the export, register and instruction tests: real recordings, real readers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_data.synth import wav_header
from services.access.auth import Actor
from services.access.duties import Duty, Role
from services.calls import Call, CallFilter
from services.workspace import Workspace
from tests.support.faults import start_cli
from tests.support.workspace import MANAGER_PIN, OPERATOR_PIN

needs_xorriso = pytest.mark.skipif(
    shutil.which("xorriso") is None or shutil.which("osirrox") is None,
    reason="xorriso/osirrox not installed (apt-get install xorriso)",
)
needs_7z = pytest.mark.skipif(
    shutil.which("7z") is None, reason="7z not installed (apt-get install p7zip-full): no UDF reader"
)

JAPANESE = "in-0488291111-0312345678-20260924-111111-日本語テスト.1.wav"
LONG = "in-0488291111-09012345678-20260925-101010-" + "x" * 190 + "-日本語.1.wav"
BACKSLASH = "out-0312345678-2001-20260926-120000-back\\slash.1.wav"


def recording(spool: Path, name: str, size: int = 20_000, *, seed: int = 0, sparse: bool = False) -> Path:
    """A WAV recording in the day folder its name says, old enough to count as complete."""
    stamp = name.split("-")[3]  # type-dest-source-YYYYMMDD-...
    day = spool / stamp[:4] / stamp[4:6] / stamp[6:8]
    day.mkdir(parents=True, exist_ok=True)
    path = day / name
    with open(path, "wb") as fh:
        if size < 44:  # a recorder that wrote nothing (or too little for a header)
            fh.write(b"\0" * size)
            size = 44
        else:
            fh.write(wav_header(size - 44))
        if sparse:
            fh.truncate(size)
        else:
            block = hashlib.sha256(f"{name}{seed}".encode()).digest() * 64
            left = size - 44
            while left > 0:
                fh.write(block[:left])
                left -= min(left, len(block))
    past = time.time() - 3600
    os.utime(path, (past, past))
    return path


async def index(ws: Workspace) -> list[Call]:
    await ws.indexer.scan()
    calls = await ws.calls.page(CallFilter(), limit=10_000)
    return sorted(calls, key=lambda c: (c.started_at, c.id))


async def indexed_series(ws: Workspace, count: int, size: int, day_prefix: str) -> list[Call]:
    """`count` distinct recordings of `size` bytes, call i on day `{day_prefix}{i}`, indexed."""
    for i in range(count):
        recording(
            ws.config.spool, f"in-0488291111-0312345678-{day_prefix}{i}-10000{i}-pbx-{i}.1.wav", size, seed=i
        )
    return await index(ws)


async def manager(ws: Workspace, duty: Duty = Duty.ISSUE_INSTRUCTION) -> Actor:
    return await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, duty)


async def operator(ws: Workspace) -> Actor:
    return await ws.auth.authorize(Role.OPERATOR, OPERATOR_PIN, Duty.EXECUTE_INSTRUCTION)


def extract(image: Path, dest: Path, *, tree: str = "rockridge") -> Path:
    """Extract an image with osirrox (an independent reader), from the Rock Ridge or Joliet tree."""
    read = {"rockridge": [], "joliet": ["-read_fs", "norock"]}[tree]
    subprocess.run(
        ["osirrox", *read, "-indev", str(image), "-extract", "/", str(dest)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return dest


def listing(image: Path, *, tree: str) -> set[str]:
    read = {"rockridge": [], "joliet": ["-read_fs", "norock"], "iso9660": ["-read_fs", "ecma119"]}
    out = subprocess.run(
        ["xorriso", *read[tree], "-indev", str(image), "-find", "/", "-type", "f"],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return {line.strip().strip("'").lstrip("/") for line in out.stdout.splitlines() if line.strip()}


def udf_listing(image: Path) -> set[str]:
    out = subprocess.run(
        ["7z", "l", "-tudf", "-slt", str(image)],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    paths, folder = set(), set()
    current = None
    for line in out.stdout.splitlines():
        if line.startswith("Path = "):
            current = line[7:]
        elif line.startswith("Folder = ") and current is not None:
            (folder if line.endswith("+") else paths).add(current)
            current = None
    return paths


def sha256sum_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=root, capture_output=True, text=True
    )


def tree_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    """Anything an export may have left in a folder (partial files included)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", *, readonly: bool = False) -> Iterator[Path]:
    """A real small filesystem (full or read-only on demand); skips where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill a filesystem until at most `leave` bytes are free."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * max(free - leave, 0))


def start_cli_export(config: Path, number: str, *target: str) -> subprocess.Popen[str]:
    """`callrec export NUMBER TARGET...` by the operator in a process of its own (to be killed)."""
    return start_cli(
        config, "export", number, *target, "--pin-stdin", "--yes", stdin=f"{OPERATOR_PIN}\n", capture=False
    )
