"""Helpers for the retention, hold and purge tests: real recordings with real (past) dates.

Destructive tests run on the real clock, so "expired" calls are recorded well over two months
before today and "current" ones yesterday: both stay true whatever day the tests run.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from demo_data.synth import wav_header
from services.access.auth import Actor
from services.access.duties import Duty, Role
from services.core.clock import JST
from services.workspace import Workspace
from tests.support.workspace import MANAGER_PIN, OPERATOR_PIN


def write_call(
    spool: Path,
    when: datetime,
    seq: int,
    *,
    size: int = 2048,
    kind: str = "in",
    other: str = "09012345678",
    settled: bool = True,
    city: str = "0488291111",
) -> Path:
    """One FreePBX-named recording of `size` bytes, recorded at `when` (Japan time)."""
    local = when.astimezone(JST)
    folder = spool / f"{local:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    epoch = int(local.timestamp())
    path = folder / f"{kind}-{city}-{other}-{local:%Y%m%d-%H%M%S}-{epoch}.{seq}.wav"
    body = seq.to_bytes(8, "little") * ((size - 44) // 8 + 1)
    path.write_bytes(wav_header(size - 44) + body[: size - 44])
    if settled:
        os.utime(path, (epoch + 60, epoch + 60))
    return path


def expired_time(i: int = 0) -> datetime:
    """A time whose raw retention (翌月末) ended long ago by the real clock."""
    return datetime.now(JST).replace(microsecond=0) - timedelta(days=100 + i // 24, hours=i % 24)


def current_time(i: int = 0) -> datetime:
    """A time whose raw retention cannot have ended by the real clock."""
    return datetime.now(JST).replace(microsecond=0) - timedelta(hours=1 + i % 12)


def make_calls(spool: Path, expired: int, current: int = 0) -> tuple[list[Path], list[Path]]:
    old = [write_call(spool, expired_time(i), i) for i in range(expired)]
    new = [write_call(spool, current_time(i), 10000 + i) for i in range(current)]
    return old, new


async def ids_by_path(ws: Workspace) -> dict[str, int]:
    rows = await ws.db.fetchall("SELECT id, path FROM calls")
    return {r["path"]: r["id"] for r in rows}


async def manager(ws: Workspace, duty: Duty = Duty.HOLD) -> Actor:
    return await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, duty)


async def operator(ws: Workspace, duty: Duty = Duty.EXECUTE_INSTRUCTION) -> Actor:
    return await ws.auth.authorize(Role.OPERATOR, OPERATOR_PIN, duty)


async def states(ws: Workspace) -> dict[str, str]:
    return {r["path"]: r["state"] for r in await ws.db.fetchall("SELECT path, state FROM calls")}


def files_on_disk(spool: Path) -> set[str]:
    return {p.relative_to(spool).as_posix() for p in spool.rglob("*") if p.is_file()}
