"""What a folder's files mean for the index: new, still recording, complete, changed, back again.

Pure decisions over a listing and the rows already known for that folder, plus reading the files
that are ready to hash. Runs in worker threads; writes nothing (services/indexing/writer.py does).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.calls import CallState
from services.core.clock import JST, from_epoch
from services.indexing import audioinfo
from services.indexing.fileinfo import Digest, digest_file
from services.indexing.layouts import CallType, Layout, ParsedName, SkipReason
from services.indexing.listing import Entry
from services.indexing.recorded import date_recording, is_audio, read_head, unknown_recording
from services.retention.rules import raw_kept_through

_RECORDING = CallState.RECORDING.value
_COMPLETE = CallState.COMPLETE.value
_PURGE_OWNED = (CallState.PURGING.value, CallState.PURGED.value)


@dataclass(slots=True)
class Known:
    """A call already in the index, as the planner needs it."""

    id: int
    size: int
    mtime_ns: int
    state: str
    sha256: str | None


@dataclass(slots=True)
class Changed:
    id: int
    rel: str
    size: int
    mtime_ns: int
    was_size: int


@dataclass(slots=True)
class Reappeared:
    id: int
    rel: str
    digest: Digest
    duration_s: float | None
    ingest_sha256: str | None  # None: it vanished while still recording


@dataclass
class Ops:
    """The writes one or more folders call for, applied together in one transaction."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)  # INSERT_COLUMNS order
    flagged: list[tuple[Any, ...]] = field(default_factory=list)  # the same, unknown or anomalous
    completes: list[tuple[Any, ...]] = field(default_factory=list)  # sha, size, mtime, dev, ino, dur, at, id
    grown: list[tuple[int, int, int]] = field(default_factory=list)  # size, mtime_ns, id
    changed: list[Changed] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)  # id, rel
    reappeared: list[Reappeared] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # rel, reason
    pending: list[tuple[str, int, int]] = field(default_factory=list)  # rel, size, mtime_ns
    resolved: list[str] = field(default_factory=list)  # hashed now: no longer to be watched
    # inserts already as JSON arrays (text, rows, whether recording): see encode_inserts
    encoded: list[tuple[str, int, bool]] = field(default_factory=list)

    def extend(self, other: Ops) -> None:
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))

    def writes(self) -> int:
        return sum(
            len(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("pending", "resolved", "encoded")
        ) + sum(rows for _, rows, _ in self.encoded)

    def encode_inserts(self) -> None:
        """Turn the rows to insert into the JSON text SQLite unpacks (services/indexing/writer.py),
        where they were planned: a worker process sends one string back, not thousands of
        tuples to unpickle and encode in the console's process."""
        for recording in (False, True):
            rows = [r for r in self.inserts if is_recording_row(r) == recording]
            if rows:
                self.encoded.append(
                    (json.dumps(rows, ensure_ascii=False, separators=(",", ":")), len(rows), recording)
                )
        self.inserts = []

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


INSERT_COLUMNS = (
    "path",
    "dir",
    "started_at",
    "type",
    "city_number",
    "other_number",
    "caller_id",
    "numbers",
    "uniqueid",
    "fmt",
    "size",
    "mtime_ns",
    "duration_s",
    "sha256",
    "state",
    "raw_retention_until",
    "indexed_at",
    "completed_at",
    "anomaly",
    "dev",
    "ino",
)
_STATE = INSERT_COLUMNS.index("state")
_TYPE = INSERT_COLUMNS.index("type")
_ANOMALY = INSERT_COLUMNS.index("anomaly")


def is_recording_row(row: tuple[Any, ...]) -> bool:
    return bool(row[_STATE] == _RECORDING)


def is_flagged_row(row: tuple[Any, ...]) -> bool:
    """A row someone should look at: audio no layout reads, or a name whose date was not believed."""
    return row[_TYPE] == CallType.UNKNOWN.value or row[_ANOMALY] is not None


@lru_cache(maxsize=4096)
def _kept_through(day: date) -> str:
    """The retention date of a call recorded on `day` (Japan time, as 第4条6 counts)."""
    return raw_kept_through(datetime(day.year, day.month, day.day, 12, tzinfo=JST)).isoformat()


class Planner:
    def __init__(self, spool: Path, layout: Layout) -> None:
        self.spool = spool
        self.layout = layout  # reads the names in the recorder's time zone

    def row(self, e: Entry, parsed: ParsedName, now: int, digest: Digest | None) -> tuple[Any, ...]:
        city, other = parsed.city_number, parsed.other_number
        numbers = f"{city} {other}" if city and other else (city or other or "")
        tz = self.layout.tz
        dated = date_recording(parsed, e.dir, e.mtime_ns, tz, from_epoch(now, tz))
        started = dated.started_at
        if digest is None:
            size, mtime, duration, sha, state, completed = (e.size, e.mtime_ns, None, None, _RECORDING, None)
        else:
            size, mtime, sha, state, completed = (digest.size, digest.mtime_ns, digest.sha256, _COMPLETE, now)
            duration = audioinfo.duration_seconds(digest.head, parsed.fmt, digest.size)
        dev, ino = (digest.dev, digest.ino) if digest is not None else (None, None)
        return (
            e.rel,
            e.dir,
            int(started.timestamp()),
            parsed.type,
            city,
            other,
            parsed.caller_id.value,
            numbers,
            parsed.uniqueid,
            parsed.fmt,
            size,
            mtime,
            duration,
            sha,
            state,
            _kept_through(started.astimezone(JST).date()),
            now,
            completed,
            dated.anomaly,
            dev,
            ino,
        )

    def parse(self, e: Entry) -> ParsedName | None:
        """What the name says, or for audio no layout reads, an `unknown` recording."""
        parsed = self.layout.parse(e.name)
        if parsed is None and is_audio(read_head(str(self.spool / e.rel)), e.name):
            return unknown_recording(e.name)
        return parsed

    def _hash_if_steady(self, e: Entry) -> Digest | None:
        """The file's digest when it is exactly as listed and did not move while hashed."""
        d = digest_file(self.spool / e.rel)
        if d.steady and (d.size, d.mtime_ns) == (e.size, e.mtime_ns):
            return d
        return None

    def plan(
        self, entries: Iterable[Entry], known: dict[str, Known], now: int, settled: Callable[[Entry], bool]
    ) -> Ops:
        """The writes for `entries`, given the calls `known` for their paths (keyed by path).

        `settled(e)`: whether the file has been still for the settle time, so it may be hashed.
        """
        ops = Ops()
        for e in entries:
            try:
                self._plan_one(e, known.get(e.rel), now, settled, ops)
            except OSError:
                continue  # vanished or unreadable this instant; the next event or scan sees it
        return ops

    def _plan_one(
        self, e: Entry, old: Known | None, now: int, settled: Callable[[Entry], bool], ops: Ops
    ) -> None:
        if old is None:
            parsed = self.parse(e)
            if parsed is None:
                ops.skipped.append((e.rel, SkipReason.UNPARSED.value))
                return
            digest = self._hash_if_steady(e) if settled(e) else None
            row = self.row(e, parsed, now, digest)
            (ops.flagged if is_flagged_row(row) else ops.inserts).append(row)
            if digest is None:
                ops.pending.append((e.rel, e.size, e.mtime_ns))
            else:
                ops.resolved.append(e.rel)
        elif old.state in _PURGE_OWNED:
            return  # the purge journal owns these
        elif old.state == _RECORDING:
            digest = self._hash_if_steady(e) if settled(e) else None
            if digest is not None:
                ops.completes.append(
                    (
                        digest.sha256,
                        digest.size,
                        digest.mtime_ns,
                        digest.dev,
                        digest.ino,
                        self._duration(e, digest),
                        now,
                        old.id,
                    )
                )
                ops.resolved.append(e.rel)
                return
            if (e.size, e.mtime_ns) != (old.size, old.mtime_ns):
                ops.grown.append((e.size, e.mtime_ns, old.id))
            ops.pending.append((e.rel, e.size, e.mtime_ns))
        elif old.state == CallState.MISSING.value:
            digest = self._hash_if_steady(e) if settled(e) else None
            if digest is None:
                ops.pending.append((e.rel, e.size, e.mtime_ns))
                return
            ops.reappeared.append(Reappeared(old.id, e.rel, digest, self._duration(e, digest), old.sha256))
            ops.resolved.append(e.rel)
        elif (e.size, e.mtime_ns) != (old.size, old.mtime_ns):
            ops.changed.append(Changed(old.id, e.rel, e.size, e.mtime_ns, old.size))

    def _duration(self, e: Entry, digest: Digest) -> float | None:
        parsed = self.layout.parse(e.name) or unknown_recording(e.name)
        return audioinfo.duration_seconds(digest.head, parsed.fmt, digest.size)
