"""The indexer: spool folder -> layout parser -> store.

At start it walks the spool and reconciles (new, changed, vanished); then it follows watchfiles
events, rescanning every new folder (watchfiles does not report files created inside a folder that
was itself just created). A file whose size has not been stable for the settle time is `recording`;
once stable it is hashed (streamed) and becomes `complete`. A file that vanishes without a purge
becomes `missing`, an anomaly in the audit log. All writes are idempotent upserts and conditional
state changes, so two indexers on the same data agree and never duplicate a row.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import watchfiles

from services import audioinfo
from services.audit import SYSTEM, Action, AuditLog
from services.calls import PRESENT_STATES, CallState
from services.clock import Clock, to_epoch
from services.db import Database
from services.errors import SpoolError
from services.fileinfo import digest_file
from services.layouts import Layout, ParsedName, SkipReason, skip_reason_for_name
from services.retention import raw_kept_through
from services.text import visible

_BATCH = 1000
_SAMPLE_PATHS = 20


@dataclass
class ScanReport:
    seen: int = 0
    added: int = 0
    completed: int = 0
    recording: int = 0
    missing: int = 0
    reappeared: int = 0
    changed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    new_skipped: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "indexed": self.added,
            "completed": self.completed,
            "recording": self.recording,
            "missing": self.missing,
            "reappeared": self.reappeared,
            "changed": self.changed,
            "skipped": dict(sorted(self.skipped.items())),
            "new_skipped": dict(sorted(self.new_skipped.items())),
        }


@dataclass
class Health:
    role: str = "stopped"  # leader | follower | stopped
    last_scan_at: datetime | None = None
    last_event_at: datetime | None = None
    events: int = 0
    errors: int = 0
    last_error: str = ""
    pending: int = 0


@dataclass(slots=True)
class _Entry:
    rel: str
    dir: str
    name: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class _Existing:
    id: int
    size: int
    mtime_ns: int
    state: str
    sha256: str | None


@dataclass
class _Ops:
    """Writes gathered from one or more folders, applied in one transaction."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    completes: list[tuple[Any, ...]] = field(default_factory=list)
    grown: list[tuple[Any, ...]] = field(default_factory=list)
    changed: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)
    reappeared: list[tuple[int, str, tuple[Any, ...]]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.inserts) + len(self.completes) + len(self.grown) + len(self.changed)
                + len(self.missing) + len(self.reappeared) + len(self.skipped))


class Indexer:
    def __init__(
        self,
        *,
        db: Database,
        audit: AuditLog,
        layout: Layout,
        spool: Path,
        tz: tzinfo,
        settle_seconds: float,
        clock: Clock,
        hash_threads: int = 2,
    ) -> None:
        self.db = db
        self.audit = audit
        self.layout = layout
        self.spool = spool
        self.tz = tz
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.health = Health()
        self._pending: dict[str, tuple[int, int, float]] = {}  # rel -> size, mtime_ns, since
        self._pool = ThreadPoolExecutor(max(1, hash_threads), thread_name_prefix="callrec-hash")
        self._threads = max(1, hash_threads)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- walking -----------------------------------------------------------------------------

    def _check_spool(self) -> None:
        try:
            st = os.stat(self.spool)
        except FileNotFoundError:
            raise SpoolError(f"{self.spool}: spool folder missing", code="spool_missing",
                             path=str(self.spool)) from None
        except OSError as exc:
            raise SpoolError(f"{self.spool}: {exc.strerror}", path=str(self.spool)) from None
        if not stat.S_ISDIR(st.st_mode):
            raise SpoolError(f"{self.spool}: not a folder", path=str(self.spool))
        if not os.access(self.spool, os.R_OK | os.X_OK):
            raise SpoolError(f"{self.spool}: spool folder unreadable", code="spool_unreadable",
                             path=str(self.spool))

    def _list_dir(self, rel_dir: str) -> tuple[list[_Entry], list[tuple[str, str]], list[str]]:
        """(regular files, (rel, skip reason) for the rest, sub-folders) of one folder."""
        files: list[_Entry] = []
        skipped: list[tuple[str, str]] = []
        subdirs: list[str] = []
        base = self.spool / rel_dir if rel_dir else self.spool
        try:
            entries = list(os.scandir(base))
        except FileNotFoundError:
            return files, skipped, subdirs
        except OSError as exc:
            self._error(f"{visible(rel_dir or '.')}: {exc.strerror}")
            return files, skipped, subdirs
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            reason = skip_reason_for_name(name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if reason is SkipReason.HIDDEN:
                        continue  # hidden folders (.Trash etc.) are not the recorder's
                    if reason is None and self.layout.parse(name) is not None:
                        skipped.append((rel, SkipReason.NOT_REGULAR))
                    subdirs.append(rel)
                    continue
                if reason is not None:
                    skipped.append((rel, reason))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    skipped.append((rel, SkipReason.NOT_REGULAR))
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat
            files.append(_Entry(rel, rel_dir, name, st.st_size, st.st_mtime_ns))
        return files, skipped, subdirs

    def _walk(self, top: str) -> Iterable[tuple[str, list[_Entry], list[tuple[str, str]]]]:
        stack = [top]
        while stack:
            rel_dir = stack.pop()
            files, skipped, subdirs = self._list_dir(rel_dir)
            stack.extend(sorted(subdirs, reverse=True))
            yield rel_dir, files, skipped

    # -- examining ---------------------------------------------------------------------------

    def _row(self, e: _Entry, parsed: ParsedName, now: int, settled: bool) -> tuple[Any, ...]:
        sha = duration = completed = None
        state = CallState.RECORDING.value
        size, mtime = e.size, e.mtime_ns
        if settled:
            d = digest_file(self.spool / e.rel)
            sha, size = d.sha256, d.size
            duration = audioinfo.duration_seconds(d.head, parsed.fmt, d.size)
            state, completed = CallState.COMPLETE.value, now
        numbers = " ".join(n for n in (parsed.city_number, parsed.other_number) if n)
        return (
            e.rel, e.dir, int(parsed.started_at.timestamp()), parsed.type, parsed.city_number,
            parsed.other_number, parsed.caller_id.value, numbers, parsed.uniqueid, parsed.fmt,
            size, mtime, duration, sha, state,
            raw_kept_through(parsed.started_at, self.tz).isoformat(), now, completed,
        )

    def _settled(self, e: _Entry, wall_now: float) -> bool:
        return wall_now - e.mtime_ns / 1e9 >= self.settle_seconds

    def _examine(self, entries: list[_Entry], existing: dict[str, _Existing], now: int,
                 wall_now: float) -> _Ops:
        """Work out the writes for a folder's files (runs in a worker thread)."""
        ops = _Ops()
        for e in entries:
            old = existing.get(e.name)
            try:
                if old is None:
                    parsed = self.layout.parse(e.name)
                    if parsed is None:
                        ops.skipped.append((e.rel, SkipReason.UNPARSED))
                        continue
                    ops.inserts.append(self._row(e, parsed, now, self._settled(e, wall_now)))
                elif old.state in (CallState.PURGING.value, CallState.PURGED.value):
                    continue  # the purge journal owns these
                elif old.state == CallState.MISSING.value:
                    d = digest_file(self.spool / e.rel)
                    ops.reappeared.append((old.id, e.rel, (d.sha256, d.size, e.mtime_ns)))
                elif old.state == CallState.RECORDING.value:
                    if self._settled(e, wall_now):
                        d = digest_file(self.spool / e.rel)
                        parsed = self.layout.parse(e.name)
                        fmt = parsed.fmt if parsed else ""
                        duration = audioinfo.duration_seconds(d.head, fmt, d.size)
                        ops.completes.append((d.sha256, d.size, e.mtime_ns, duration, now, old.id))
                    elif (e.size, e.mtime_ns) != (old.size, old.mtime_ns):
                        ops.grown.append((e.size, e.mtime_ns, old.id))
                elif (e.size, e.mtime_ns) != (old.size, old.mtime_ns):
                    ops.changed.append((old.id, e.rel, {"size": e.size, "was": old.size,
                                                         "mtime_ns": e.mtime_ns}))
            except OSError:
                continue  # vanished or unreadable this instant; the next event or scan sees it
        return ops

    async def _examine_parallel(self, entries: list[_Entry], existing: dict[str, _Existing],
                                now: int) -> _Ops:
        loop = asyncio.get_running_loop()
        wall = time.time()
        if len(entries) < 64 or self._threads == 1:
            return await loop.run_in_executor(self._pool, self._examine, entries, existing, now,
                                              wall)
        step = -(-len(entries) // self._threads)
        parts = await asyncio.gather(*(
            loop.run_in_executor(self._pool, self._examine, entries[i : i + step], existing, now,
                                 wall)
            for i in range(0, len(entries), step)
        ))
        merged = _Ops()
        for part in parts:
            for name in merged.__dataclass_fields__:
                getattr(merged, name).extend(getattr(part, name))
        return merged

    async def _existing(self, rel_dir: str) -> dict[str, _Existing]:
        rows = await self.db.fetchall(
            "SELECT id, path, size, mtime_ns, state, sha256 FROM calls WHERE dir = ?", (rel_dir,)
        )
        return {
            r["path"].rpartition("/")[2]: _Existing(r["id"], r["size"], r["mtime_ns"], r["state"],
                                                    r["sha256"])
            for r in rows
        }

    # -- writing -----------------------------------------------------------------------------

    async def _apply(self, ops: _Ops, report: ScanReport) -> None:
        if not len(ops):
            return
        at = self.clock.now()
        async with self.db.transaction() as conn:
            if ops.inserts:
                await conn.executemany(
                    "INSERT INTO calls (path, dir, started_at, type, city_number, other_number,"
                    " caller_id, numbers, uniqueid, fmt, size, mtime_ns, duration_s, sha256, state,"
                    " raw_retention_until, indexed_at, completed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (path) DO NOTHING",
                    ops.inserts,
                )
                report.added += len(ops.inserts)
                for row in ops.inserts:
                    if row[14] == CallState.RECORDING.value:
                        self._pending[row[0]] = (row[10], row[11], time.monotonic())
                        report.recording += 1
                    else:
                        report.completed += 1
            if ops.completes:
                await conn.executemany(
                    "UPDATE calls SET sha256 = ?, size = ?, mtime_ns = ?, duration_s = ?,"
                    " state = 'complete', completed_at = ? WHERE id = ? AND state = 'recording'",
                    ops.completes,
                )
                report.completed += len(ops.completes)
            if ops.grown:
                await conn.executemany(
                    "UPDATE calls SET size = ?, mtime_ns = ? WHERE id = ? AND state = 'recording'",
                    ops.grown,
                )
                report.recording += len(ops.grown)
            for call_id, rel, detail in ops.changed:
                cur = await conn.execute(
                    "UPDATE calls SET size = ?, mtime_ns = ? WHERE id = ? AND state = 'complete'"
                    " AND (size != ? OR mtime_ns != ?)",
                    (detail["size"], detail["mtime_ns"], call_id, detail["size"],
                     detail["mtime_ns"]),
                )
                if cur.rowcount:
                    report.changed += 1
                    await self.audit.append(conn, at=at, actor=SYSTEM, action=Action.CALL_CHANGED,
                                            subject=rel, detail={"call_id": call_id, **detail})
            for call_id, rel in ops.missing:
                cur = await conn.execute(
                    "UPDATE calls SET state = 'missing' WHERE id = ? AND state IN (?, ?)",
                    (call_id, *PRESENT_STATES),
                )
                if cur.rowcount:
                    report.missing += 1
                    self._pending.pop(rel, None)
                    await self.audit.append(conn, at=at, actor=SYSTEM, action=Action.CALL_MISSING,
                                            subject=rel, detail={"call_id": call_id})
            for call_id, rel, (sha, size, mtime) in ops.reappeared:
                cur = await conn.execute(
                    "UPDATE calls SET state = 'complete', size = ?, mtime_ns = ?"
                    " WHERE id = ? AND state = 'missing'",
                    (size, mtime, call_id),
                )
                if cur.rowcount:
                    report.reappeared += 1
                    await self.audit.append(
                        conn, at=at, actor=SYSTEM, action=Action.CALL_REAPPEARED, subject=rel,
                        detail={"call_id": call_id, "sha256": sha},
                    )
            if ops.skipped:
                new: Counter[str] = Counter()
                samples: list[str] = []
                for rel, reason in ops.skipped:
                    report.skipped[reason] += 1
                    cur = await conn.execute(
                        "INSERT INTO skipped (path, reason, first_seen) VALUES (?, ?, ?)"
                        " ON CONFLICT (path) DO NOTHING",
                        (_storable(rel), str(reason), to_epoch(at)),
                    )
                    if cur.rowcount:
                        new[reason] += 1
                        if len(samples) < _SAMPLE_PATHS:
                            samples.append(visible(rel))
                if new:
                    report.new_skipped.update(new)
                    await self.audit.append(conn, at=at, actor=SYSTEM, action=Action.INDEX_SKIPPED,
                                            detail={"counts": dict(new), "examples": samples})

    # -- scanning ----------------------------------------------------------------------------

    async def scan(self, top: str = "") -> ScanReport:
        """Walk the spool (or one sub-folder of it) and reconcile the index with it."""
        self._check_spool()
        report = ScanReport()
        ops = _Ops()
        seen_dirs: set[str] = set()
        walker = iter(self._walk(top))
        loop = asyncio.get_running_loop()
        while True:
            item = await loop.run_in_executor(self._pool, next, walker, None)
            if item is None:
                break
            rel_dir, files, skipped = item
            seen_dirs.add(rel_dir)
            report.seen += len(files)
            existing = await self._existing(rel_dir)
            part = await self._examine_parallel(files, existing, to_epoch(self.clock.now()))
            names = {e.name for e in files}
            part.missing.extend(
                (old.id, f"{rel_dir}/{name}" if rel_dir else name)
                for name, old in existing.items()
                if name not in names and old.state in PRESENT_STATES
            )
            part.skipped.extend(skipped)
            for name in part.__dataclass_fields__:
                getattr(ops, name).extend(getattr(part, name))
            if len(ops) >= _BATCH:
                await self._apply(ops, report)
                ops = _Ops()
        # Folders in the index that the walk did not find: every present call there is missing.
        prefix = f"{top}/" if top else ""
        rows = await self.db.fetchall(
            "SELECT id, path, dir FROM calls WHERE state IN (?, ?)"
            " AND dir NOT IN (SELECT value FROM json_each(?))"
            " AND (? = '' OR dir = ? OR substr(dir, 1, length(?)) = ?)",
            (*PRESENT_STATES, _json_list(seen_dirs), top, top, prefix, prefix),
        )
        ops.missing.extend((r["id"], r["path"]) for r in rows)
        await self._apply(ops, report)
        if not top:
            await self._prune_skipped(report)
        self.health.last_scan_at = self.clock.now()
        self.health.pending = len(self._pending)
        return report

    async def _prune_skipped(self, report: ScanReport) -> None:
        """Forget skipped entries that are gone, so a file that comes back is reported again."""
        total = sum(report.skipped.values())
        listed = await self.db.scalar("SELECT count(*) FROM skipped")
        if listed <= total:
            return
        paths = [r[0] for r in await self.db.fetchall("SELECT path FROM skipped")]
        gone = [(p,) for p in paths if not os.path.lexists(self.spool / p)]
        if gone:
            await self.db.executemany("DELETE FROM skipped WHERE path = ?", gone)

    async def settle(self) -> int:
        """Complete every pending file whose size has held for the settle time."""
        if not self._pending:
            return 0
        loop = asyncio.get_running_loop()
        now_mono = time.monotonic()
        ready: list[str] = []
        for rel, (size, mtime, since) in list(self._pending.items()):
            try:
                st = await loop.run_in_executor(self._pool, os.lstat, self.spool / rel)
            except OSError:
                self._pending.pop(rel, None)
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                self._pending[rel] = (st.st_size, st.st_mtime_ns, now_mono)
            elif now_mono - since >= self.settle_seconds:
                ready.append(rel)
        if not ready:
            return 0
        report = ScanReport()
        now = to_epoch(self.clock.now())
        for rel in ready:
            self._pending.pop(rel, None)
        rows = await self.db.fetchall(
            "SELECT id, path, fmt FROM calls WHERE state = 'recording' AND path IN"
            " (SELECT value FROM json_each(?))",
            (_json_list(ready),),
        )
        ops = _Ops()

        def complete_all() -> None:
            for r in rows:
                try:
                    d = digest_file(self.spool / r["path"])
                    st = os.lstat(self.spool / r["path"])
                except OSError:
                    continue
                duration = audioinfo.duration_seconds(d.head, r["fmt"], d.size)
                ops.completes.append((d.sha256, d.size, st.st_mtime_ns, duration, now, r["id"]))

        await loop.run_in_executor(self._pool, complete_all)
        await self._apply(ops, report)
        self.health.pending = len(self._pending)
        return report.completed

    # -- following the recorder --------------------------------------------------------------

    async def apply_changes(self, changes: set[tuple[watchfiles.Change, str]]) -> ScanReport:
        report = ScanReport()
        self.health.events += len(changes)
        self.health.last_event_at = self.clock.now()
        root = str(self.spool)
        dirs_to_scan: set[str] = set()
        files: dict[str, list[_Entry]] = {}
        gone: list[str] = []
        skipped: list[tuple[str, str]] = []
        for _change, path in changes:
            rel = os.path.relpath(path, root)
            if rel.startswith("..") or rel == ".":
                continue
            rel = rel.replace(os.sep, "/")
            if any(part.startswith(".") for part in rel.split("/")[:-1]):
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                gone.append(rel)
                continue
            except OSError:
                continue
            rel_dir, _, name = rel.rpartition("/")
            reason = skip_reason_for_name(name)
            if stat.S_ISDIR(st.st_mode):
                if reason is not SkipReason.HIDDEN:
                    dirs_to_scan.add(rel)
            elif reason is not None:
                skipped.append((rel, reason))
            elif not stat.S_ISREG(st.st_mode):
                skipped.append((rel, SkipReason.NOT_REGULAR))
            else:
                files.setdefault(rel_dir, []).append(
                    _Entry(rel, rel_dir, name, st.st_size, st.st_mtime_ns)
                )
        ops = _Ops(skipped=skipped)
        now = to_epoch(self.clock.now())
        for rel_dir, entries in files.items():
            if any(rel_dir == d or rel_dir.startswith(d + "/") for d in dirs_to_scan):
                continue
            existing = await self._existing(rel_dir)
            # A file seen in an event is being written now: index it as recording first.
            wall = time.time()
            loop = asyncio.get_running_loop()
            part = await loop.run_in_executor(
                self._pool, self._examine_fresh, entries, existing, now, wall
            )
            for name in part.__dataclass_fields__:
                getattr(ops, name).extend(getattr(part, name))
        if gone:
            rows = await self.db.fetchall(
                "SELECT c.id, c.path FROM json_each(?) g JOIN calls c"
                " ON c.path = g.value OR c.dir = g.value OR substr(c.dir, 1, length(g.value) + 1)"
                " = g.value || '/' WHERE c.state IN (?, ?)",
                (_json_list(gone), *PRESENT_STATES),
            )
            ops.missing.extend((r["id"], r["path"]) for r in rows)
        await self._apply(ops, report)
        for rel_dir in sorted(dirs_to_scan):
            if not any(rel_dir.startswith(d + "/") for d in dirs_to_scan):
                sub = await self.scan(rel_dir)
                report.added += sub.added
                report.completed += sub.completed
                report.recording += sub.recording
                report.missing += sub.missing
        self.health.pending = len(self._pending)
        return report

    def _examine_fresh(self, entries: list[_Entry], existing: dict[str, _Existing], now: int,
                       wall: float) -> _Ops:
        ops = _Ops()
        new = [e for e in entries if e.name not in existing]
        for e in new:
            parsed = self.layout.parse(e.name)
            if parsed is None:
                ops.skipped.append((e.rel, SkipReason.UNPARSED))
                continue
            ops.inserts.append(self._row(e, parsed, now, settled=False))
        known = [e for e in entries if e.name in existing]
        if known:
            # Never complete from an event: a write just happened, so the file is not settled.
            older = self._examine(known, existing, now, wall_now=float("-inf"))
            for name in ops.__dataclass_fields__:
                getattr(ops, name).extend(getattr(older, name))
            for e in known:
                if existing[e.name].state == CallState.RECORDING.value:
                    self._pending[e.rel] = (e.size, e.mtime_ns, time.monotonic())
        return ops

    def _error(self, message: str) -> None:
        self.health.errors += 1
        self.health.last_error = message

    async def follow(self, stop: asyncio.Event, on_change: Callable[[], None] | None = None,
                     *, debounce_ms: int = 50) -> None:
        """Apply watchfiles events and settle pending files until `stop` is set.

        The watcher runs in its own thread (its setup walks the whole tree and would otherwise
        block the event loop); batches of changes arrive through a queue.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[set[tuple[watchfiles.Change, str]] | BaseException] = asyncio.Queue()
        thread_stop = threading.Event()

        def run_watcher() -> None:
            try:
                for changes in watchfiles.watch(
                    self.spool, stop_event=thread_stop, debounce=debounce_ms, step=10,
                    rust_timeout=200, yield_on_timeout=False, raise_interrupt=False,
                    ignore_permission_denied=True, watch_filter=None,
                ):
                    loop.call_soon_threadsafe(queue.put_nowait, changes)
            except BaseException as exc:  # reported to the loop; the caller decides
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        watcher = threading.Thread(target=run_watcher, name="callrec-watch", daemon=True)
        watcher.start()
        try:
            while not stop.is_set():
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=0.5)
                except TimeoutError:
                    item = None
                if isinstance(item, BaseException):
                    raise SpoolError(f"watching {self.spool} failed: {item}") from item
                changed = 0
                if item:
                    report = await self.apply_changes(item)
                    changed = report.added + report.missing + report.completed
                changed += await self.settle()
                if changed and on_change:
                    on_change()
        finally:
            thread_stop.set()
            await loop.run_in_executor(None, watcher.join, 2)


def _json_list(items: Iterable[str]) -> str:
    return json.dumps([_storable(i) for i in items], ensure_ascii=False)


def _storable(text: str) -> str:
    """Text SQLite can store: a name with undecodable bytes is kept in its escaped form."""
    return visible(text) if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in text) else text
