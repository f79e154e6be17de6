"""Writing the indexer's decisions (services/indexing/plan.py) to the store, with their audit entries.

Every write is an idempotent insert or a state change conditional on the state it expects, so two
indexers on the same data agree, never duplicate a row, and audit each anomaly once.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite

from services.access.audit import SYSTEM, Action, AuditLog, Entry
from services.calls import PRESENT_STATES, CallState
from services.core.clock import to_epoch
from services.core.text import visible
from services.indexing.layouts import CallType
from services.indexing.plan import INSERT_COLUMNS, Ops, Reappeared, is_recording_row

SAMPLE_PATHS = 20  # paths named in one index.skipped entry
_PIECE = 200  # rows JSON-encoded at a time

# Rows go in as one JSON array per statement: SQLite unpacks it in C, so a batch of thousands is
# one step without the GIL (executemany binds row by row, and each row then waits for the GIL
# while the scan's threads hash the next files; this is twice as fast, and more under load).
_INSERT = (
    f"INSERT INTO calls ({', '.join(INSERT_COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(INSERT_COLUMNS)))
    + " FROM json_each(?) WHERE true ON CONFLICT (path) DO NOTHING"
)


@dataclass
class Applied:
    """What one transaction actually changed (other indexers may have been first)."""

    added_complete: int = 0
    added_recording: int = 0
    completed: int = 0
    grown: int = 0
    changed: int = 0
    missing: int = 0
    reappeared: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # seen this time, by reason
    new_skipped: Counter[str] = field(default_factory=Counter)  # first seen, by reason
    missing_paths: list[str] = field(default_factory=list)
    unknown: int = 0  # new calls whose name no layout reads (type unknown)
    anomalies: int = 0  # new calls whose name's date was not believed


def storable(text: str) -> str:
    """Text SQLite can store: a name with undecodable bytes is kept in its escaped form."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: bytes that were not UTF-8
        return visible(text)
    return text


def _encode(items: list[Any]) -> str:
    # Piece by piece: json.dumps holds the GIL from start to end, and a whole batch at once would
    # stall the event loop (and the console's screen) for tens of milliseconds.
    return (
        "["
        + ",".join(
            json.dumps(items[i : i + _PIECE], ensure_ascii=False, separators=(",", ":"))[1:-1]
            for i in range(0, len(items), _PIECE)
        )
        + "]"
    )


async def dumps(items: list[Any]) -> str:
    """A JSON array for SQLite's json_each; big ones encoded in a worker thread, in pieces."""
    if len(items) > _PIECE:
        return await asyncio.to_thread(_encode, items)
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


def json_list(items: Any) -> str:
    return json.dumps([storable(i) for i in items], ensure_ascii=False)


async def apply(conn: aiosqlite.Connection, ops: Ops, audit: AuditLog, at: datetime) -> Applied:
    """Apply `ops` inside the caller's write transaction."""
    done = Applied()
    entries: list[Entry] = []
    now = to_epoch(at)
    if ops.inserts:
        complete = [r for r in ops.inserts if not is_recording_row(r)]
        recording = [r for r in ops.inserts if is_recording_row(r)]
        for rows, attr in ((complete, "added_complete"), (recording, "added_recording")):
            if rows:
                cur = await conn.execute(_INSERT, (await dumps(rows),))
                setattr(done, attr, max(cur.rowcount, 0))
    if ops.flagged:
        await _flagged(conn, ops.flagged, at, done, entries)
    for text, _rows, of_recordings in ops.encoded:
        cur = await conn.execute(_INSERT, (text,))
        if of_recordings:
            done.added_recording += max(cur.rowcount, 0)
        else:
            done.added_complete += max(cur.rowcount, 0)
    if ops.completes:
        cur = await conn.executemany(
            "UPDATE calls SET sha256 = ?, size = ?, mtime_ns = ?, dev = ?, ino = ?, duration_s = ?,"
            " state = 'complete', completed_at = ? WHERE id = ? AND state = 'recording'",
            ops.completes,
        )
        done.completed = max(cur.rowcount, 0)
    if ops.grown:
        cur = await conn.executemany(
            "UPDATE calls SET size = ?, mtime_ns = ? WHERE id = ? AND state = 'recording'",
            ops.grown,
        )
        done.grown = max(cur.rowcount, 0)
    for c in ops.changed:
        cur = await conn.execute(
            "SELECT changed_at FROM calls WHERE id = ? AND state = 'complete'"
            " AND (size != ? OR mtime_ns != ?)",
            (c.id, c.size, c.mtime_ns),
        )
        row = await cur.fetchone()
        if row is None:
            continue  # another indexer got there first
        await conn.execute(
            "UPDATE calls SET size = ?, mtime_ns = ?, changed_at = coalesce(changed_at, ?) WHERE id = ?",
            (c.size, c.mtime_ns, now, c.id),
        )
        done.changed += 1
        if row[0] is None:
            entries.append(
                Entry(
                    at,
                    SYSTEM,
                    Action.CALL_CHANGED,
                    c.rel,
                    {"call_id": c.id, "size": c.size, "was": c.was_size, "mtime_ns": c.mtime_ns},
                )
            )
    if ops.missing:
        cur = await conn.execute(
            "UPDATE calls SET state = 'missing' WHERE id IN (SELECT value FROM json_each(?))"
            f" AND state IN ({', '.join('?' * len(PRESENT_STATES))}) RETURNING id, path",
            (await dumps([call_id for call_id, _ in ops.missing]), *PRESENT_STATES),
        )
        gone = sorted(await cur.fetchall(), key=lambda r: r[1])
        done.missing = len(gone)
        done.missing_paths = [r[1] for r in gone]
        entries.extend(
            Entry(at, SYSTEM, Action.CALL_MISSING, path, {"call_id": call_id}) for call_id, path in gone
        )
    for r in ops.reappeared:
        await _reappeared(conn, r, at, now, done, entries)
    if ops.skipped:
        await _skipped(conn, ops.skipped, at, done, entries)
    await audit.append_many(conn, entries)
    return done


async def _flagged(
    conn: aiosqlite.Connection, rows: list[tuple[Any, ...]], at: datetime, done: Applied, entries: list[Entry]
) -> None:
    cur = await conn.execute(_INSERT + " RETURNING id, path, type, anomaly, state", (await dumps(rows),))
    added = sorted(await cur.fetchall(), key=lambda r: r[1])
    unknown = [r for r in added if r[2] == CallType.UNKNOWN.value]
    for call_id, path, _type, anomaly, state in added:
        if state == CallState.RECORDING.value:
            done.added_recording += 1
        else:
            done.added_complete += 1
        if anomaly is not None:
            done.anomalies += 1
            entries.append(
                Entry(at, SYSTEM, Action.CALL_ANOMALY, path, {"call_id": call_id, "anomaly": anomaly})
            )
    done.unknown += len(unknown)
    if unknown:
        entries.append(
            Entry(
                at,
                SYSTEM,
                Action.INDEX_UNKNOWN,
                "",
                {
                    "count": len(unknown),
                    "examples": [visible(r[1]) for r in unknown[:SAMPLE_PATHS]],
                },
            )
        )


async def _reappeared(
    conn: aiosqlite.Connection, r: Reappeared, at: datetime, now: int, done: Applied, entries: list[Entry]
) -> None:
    cur = await conn.execute("SELECT changed_at FROM calls WHERE id = ? AND state = 'missing'", (r.id,))
    row = await cur.fetchone()
    if row is None:
        return  # another indexer got there first
    d = r.digest
    if r.ingest_sha256 is None:
        # It vanished while still recording: it completes now, hashed for the first time.
        same = True
        await conn.execute(
            "UPDATE calls SET state = 'complete', sha256 = ?, size = ?, mtime_ns = ?, dev = ?,"
            " ino = ?, duration_s = ?, completed_at = ? WHERE id = ?",
            (d.sha256, d.size, d.mtime_ns, d.dev, d.ino, r.duration_s, now, r.id),
        )
    else:
        same = d.sha256 == r.ingest_sha256
        await conn.execute(
            "UPDATE calls SET state = 'complete', size = ?, mtime_ns = ?, dev = ?, ino = ?,"
            " changed_at = ? WHERE id = ?",
            (d.size, d.mtime_ns, d.dev, d.ino, row[0] if same or row[0] is not None else now, r.id),
        )
    done.reappeared += 1
    entries.append(
        Entry(
            at,
            SYSTEM,
            Action.CALL_REAPPEARED,
            r.rel,
            {"call_id": r.id, "sha256": d.sha256, "same_content": same},
        )
    )
    if not same and row[0] is None:
        entries.append(
            Entry(
                at,
                SYSTEM,
                Action.CALL_CHANGED,
                r.rel,
                {"call_id": r.id, "size": d.size, "sha256": d.sha256, "ingest_sha256": r.ingest_sha256},
            )
        )


async def _skipped(
    conn: aiosqlite.Connection,
    skipped: list[tuple[str, str]],
    at: datetime,
    done: Applied,
    entries: list[Entry],
) -> None:
    for _rel, reason in skipped:
        done.skipped[reason] += 1
    cur = await conn.execute(
        "INSERT INTO skipped (path, reason, first_seen)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ? FROM json_each(?)"
        " WHERE true ON CONFLICT (path) DO NOTHING RETURNING path, reason",
        (to_epoch(at), await dumps([[storable(rel), str(reason)] for rel, reason in skipped])),
    )
    new = sorted(tuple(r) for r in await cur.fetchall())
    if not new:
        return
    counts = Counter(reason for _path, reason in new)
    done.new_skipped.update(counts)
    entries.append(
        Entry(
            at,
            SYSTEM,
            Action.INDEX_SKIPPED,
            "",
            {
                "counts": dict(sorted(counts.items())),
                "examples": [visible(path) for path, _reason in new[:SAMPLE_PATHS]],
            },
        )
    )
