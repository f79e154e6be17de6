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
from services.core.clock import FixedClock, to_epoch
from services.core.db import BUSY_TIMEOUT_MS, Database
from services.core.errors import StorageError
from services.retention.rules import raw_kept_through
from services.retention.status import RetentionStatus


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
    recording = await db.scalar("SELECT count(*) FROM calls WHERE state = ?", (CallState.RECORDING.value,))
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


async def flagged_counts(db: Database) -> tuple[int, int, int]:
    """Present recordings someone should look at: (those no layout names, those whose name's
    date was not believed, those a purge kept as not provably the indexed file). Each through
    its partial index: few calls have one."""
    present = " AND state IN ('recording', 'complete')"
    return (
        int(await db.scalar("SELECT count(*) FROM calls WHERE type = 'unknown'" + present)),
        int(await db.scalar("SELECT count(*) FROM calls WHERE anomaly IS NOT NULL" + present)),
        int(await db.scalar("SELECT count(*) FROM calls WHERE purge_kept IS NOT NULL" + present)),
    )


@dataclass(frozen=True)
class PurgeOutlook:
    expired: int  # recordings a purge would delete now: retention ended, not held or named
    expired_bytes: int
    oldest: date | None  # the earliest kept-through date among them
    next_day: date | None  # the next day more calls become deletable
    next_count: int
    blocked: int = 0  # retention ended, but held, named by an open instruction or recording


async def purge_outlook(db: Database, now: datetime, tz: tzinfo, grace_days: int = 0) -> PurgeOutlook:
    """What a purge would delete now, and when the next calls fall due: the retention preview's
    figures (services/retention/status.py), holds and open instructions taken into account."""
    p = await RetentionStatus(db, FixedClock(now, tz), grace_days).preview(now)
    oldest = p.purgeable.oldest
    return PurgeOutlook(
        expired=p.purgeable.count,
        expired_bytes=p.purgeable.bytes,
        oldest=raw_kept_through(oldest) if oldest else None,
        next_day=p.next_deletable_from.date() if p.next_deletable_from else None,
        next_count=p.next_count,
        blocked=len(p.blocked),
    )


@dataclass(frozen=True)
class DiskUsage:
    total: int
    used: int
    free: int

    @property
    def used_fraction(self) -> float:
        """As `df` counts it: of the space the recorder can use (blocks reserved for root, which
        `free` leaves out, count as neither used nor free), the part in use."""
        usable = self.used + self.free
        return self.used / usable if usable else 0.0


def disk_usage(path: Path) -> DiskUsage:
    """Space on the file system that holds `path` (the spool folder)."""
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        raise StorageError(f"{path}: {exc.strerror}", code="disk_unreadable", path=str(path)) from exc
    return DiskUsage(usage.total, usage.used, usage.free)
