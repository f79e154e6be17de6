"""Read-only figures for the console's status view, and cheap change detection.

Everything here only reads. Slow-ish queries (counts over a million rows) are meant to run on a
side reader (`open_side_reader`), a read-only connection of its own, so that they never hold up the
page queries of the calls list on the workspace's reader.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

import aiosqlite

from services.calls import PRESENT_STATES, CallState
from services.clock import to_epoch
from services.db import BUSY_TIMEOUT_MS, Database
from services.errors import StorageError
from services.retention import deletable_from, last_expired_day


async def open_side_reader(path: Path) -> Database:
    """A second, query-only connection to the database (its writer is the same read-only one)."""
    try:
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot open the database: {exc}", path=str(path)) from exc
    return Database(path, conn, conn)


async def data_version(db: Database) -> int:
    """Changes whenever another connection (the indexer, another console, the CLI) commits."""
    return int(await db.scalar("PRAGMA data_version"))


@dataclass(frozen=True)
class CallFigures:
    today: int
    this_month: int
    recording: int


def _midnight(day: date, tz: tzinfo) -> int:
    return to_epoch(datetime.combine(day, time(0), tz))


async def call_figures(db: Database, now: datetime, tz: tzinfo) -> CallFigures:
    """Calls started today and this month (Japan time), and recording now (index ranges only)."""
    today = now.astimezone(tz).date()
    tomorrow = _midnight(today + timedelta(days=1), tz)
    first = _midnight(today.replace(day=1), tz)
    row = await db.fetchone(
        "SELECT sum(started_at >= ?), count(*) FROM calls WHERE started_at >= ? AND started_at < ?",
        (_midnight(today, tz), first, tomorrow),
    )
    recording = await db.scalar("SELECT count(*) FROM calls WHERE state = ?",
                                (CallState.RECORDING.value,))
    return CallFigures(today=int(row[0] or 0), this_month=int(row[1] or 0), recording=int(recording))


async def present_count(db: Database) -> int:
    """Calls whose recording is in the spool (recording or complete): a full index count."""
    return int(await db.scalar("SELECT count(*) FROM calls WHERE state IN (?, ?)", PRESENT_STATES))


async def calls_per_hour(db: Database, now: datetime, hours: int = 72) -> list[int]:
    """Calls started in each of the last `hours` hours, oldest first; the last is the current hour."""
    end = to_epoch(now.replace(minute=0, second=0, microsecond=0)) + 3600
    start = end - hours * 3600
    counts = [0] * hours
    for bucket, n in await db.fetchall(
        "SELECT (started_at - ?) / 3600, count(*) FROM calls WHERE started_at >= ?"
        " AND started_at < ? GROUP BY 1",
        (start, start, end),
    ):
        if 0 <= bucket < hours:
            counts[bucket] = n
    return counts


async def skipped_count(db: Database) -> int:
    """Spool entries the indexer does not index (not a regular file, a name it cannot read or
    parse), each counted once."""
    return int(await db.scalar("SELECT count(*) FROM skipped"))


@dataclass(frozen=True)
class PurgeOutlook:
    expired: int  # present calls whose raw retention has ended now (第4条6(1))
    expired_bytes: int
    oldest: date | None  # the earliest kept-through date among them
    next_day: date | None  # the next day more calls become deletable
    next_count: int


async def purge_outlook(db: Database, now: datetime, tz: tzinfo, grace_days: int = 0) -> PurgeOutlook:
    """What a purge would cover now, and when the next calls fall due. Holds and open
    instructions are not subtracted here: the retention view says which calls they block."""
    last = last_expired_day(now, grace_days, tz).isoformat()
    row = await db.fetchone(
        "SELECT count(*), coalesce(sum(size), 0), min(raw_retention_until) FROM calls"
        " WHERE raw_retention_until <= ? AND state IN (?, ?)",
        (last, *PRESENT_STATES),
    )
    nxt = await db.fetchone(
        "SELECT raw_retention_until, count(*) FROM calls WHERE raw_retention_until = ("
        " SELECT min(raw_retention_until) FROM calls WHERE raw_retention_until > ?"
        " AND state IN (?, ?)) AND state IN (?, ?)",
        (last, *PRESENT_STATES, *PRESENT_STATES),
    )
    next_day = None
    if nxt and nxt[0]:
        next_day = deletable_from(date.fromisoformat(nxt[0]), tz, grace_days).date()
    return PurgeOutlook(
        expired=int(row[0]),
        expired_bytes=int(row[1]),
        oldest=date.fromisoformat(row[2]) if row[2] else None,
        next_day=next_day,
        next_count=int(nxt[1]) if next_day else 0,
    )


@dataclass(frozen=True)
class DiskUsage:
    total: int
    used: int
    free: int

    @property
    def used_fraction(self) -> float:
        return self.used / self.total if self.total else 0.0


def disk_usage(path: Path) -> DiskUsage:
    """Space on the file system that holds `path` (the spool folder)."""
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror}", code="disk_unreadable", path=str(path)) from exc
    return DiskUsage(usage.total, usage.used, usage.free)

