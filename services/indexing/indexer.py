"""The indexer: spool folder -> layout parser -> store.

At start it walks the spool and reconciles (new, changed, vanished); then it follows watchfiles
events, rescanning every new folder. A file whose size has not been stable for the settle time is
`recording`; once stable it is hashed (streamed) and becomes `complete`. A file that vanishes
without a purge becomes `missing`, an anomaly in the audit log.

    spool_listing  what the folder holds (regular files; everything else with its skip reason)
    spool_watch    watchfiles in a thread of its own
    index_rows     what the index already knows about a folder or some paths
    index_plan     what the files mean for the index (runs in worker threads, hashes)
    index_writer   writing that, with its audit entries, idempotently

The event loop only coordinates: listing, hashing and SQLite all run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from services.access.audit import AuditLog
from services.core import testpoints
from services.core.clock import Clock, to_epoch
from services.core.db import Database
from services.core.errors import CallrecError, SpoolError
from services.core.text import visible
from services.indexing import listing as spool_listing
from services.indexing.layouts import Layout, SkipReason
from services.indexing.listing import Entry
from services.indexing.plan import Known, Ops, Planner
from services.indexing.rows import IndexRows
from services.indexing.watch import Changes, SpoolWatcher
from services.indexing.worker import Folder, Job, WorkerDied, WorkerPool, plan_folder
from services.indexing.writer import Applied, apply, storable

BATCH_ROWS = 5000  # writes per transaction during a scan
# Files are hashed on several threads only when they are big enough for hashing (which runs
# without the GIL) to outweigh parsing (which holds it and would slow the writer and the UI).
_PARALLEL_MIN_FILES = 8
_PARALLEL_MIN_AVG_BYTES = 256 * 1024
_RECHECK_SECONDS = 5.0  # how often `settle` adopts `recording` rows another process wrote
# Hidden and temporary files seen in events are left to the next scan: they are mostly a copy in
# progress (rsync's .name.XXXXXX, name.part) renamed a moment later, not worth a report each.
_TRANSIENT = (SkipReason.HIDDEN, SkipReason.TEMPORARY)
_SPOOL_CHECK_SECONDS = 2.0  # how often `follow` checks the spool folder is still the one watched
_CHUNK = 1000  # paths handled between two awaits when events come in thousands
_IN_FLIGHT = 2  # folders handed out at once during a scan (one planned while one waits)
_WORKERS = 1  # worker processes: one, beside the writer, keeps both cores busy
_PROCESS_AFTER = 5000  # files a scan plans in threads before it starts worker processes
T = TypeVar("T")

_log = logging.getLogger(__name__)


@dataclass
class ScanReport:
    seen: int = 0
    added: int = 0
    completed: int = 0  # hashed and complete (new files included)
    recording: int = 0  # new files still being written
    grown: int = 0
    missing: int = 0
    reappeared: int = 0
    changed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    new_skipped: Counter[str] = field(default_factory=Counter)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, why): not indexed
    unknown: int = 0  # new calls no layout names (indexed as type unknown)
    anomalies: int = 0  # new calls whose name's date was not believed

    @property
    def changes(self) -> int:
        """Rows that changed: what a live view needs to refresh for."""
        return self.added + self.completed + self.grown + self.missing + self.reappeared + self.changed

    def add(self, a: Applied) -> None:
        self.added += a.added_complete + a.added_recording
        self.completed += a.added_complete + a.completed
        self.recording += a.added_recording
        self.grown += a.grown
        self.missing += a.missing
        self.reappeared += a.reappeared
        self.changed += a.changed
        self.skipped.update(a.skipped)
        self.new_skipped.update(a.new_skipped)
        self.unknown += a.unknown
        self.anomalies += a.anomalies

    def merge(self, other: ScanReport) -> None:
        for name in (
            "seen",
            "added",
            "completed",
            "recording",
            "grown",
            "missing",
            "reappeared",
            "changed",
            "unknown",
            "anomalies",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped.update(other.skipped)
        self.new_skipped.update(other.new_skipped)
        self.unreadable.extend(other.unreadable)

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "indexed": self.added,
            "completed": self.completed,
            "recording": self.recording,
            "missing": self.missing,
            "reappeared": self.reappeared,
            "changed": self.changed,
            "unknown": self.unknown,
            "anomalies": self.anomalies,
            "skipped": dict(sorted(self.skipped.items())),
            "new_skipped": dict(sorted(self.new_skipped.items())),
            "unreadable": {visible(rel or "."): why for rel, why in self.unreadable},
        }


@dataclass
class Health:
    role: str = "stopped"  # leader | follower | stopped
    last_scan_at: datetime | None = None
    last_event_at: datetime | None = None
    events: int = 0
    errors: int = 0
    last_error: str = ""
    problem: CallrecError | None = None  # the last error, when one a console can translate
    pending: int = 0


@dataclass(slots=True)
class _Pending:
    size: int
    mtime_ns: int
    since: float  # time.monotonic() when this size was first seen


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
        processes: bool = True,
        poll: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """processes: big scans plan in worker processes (see services/indexing/worker.py);
        poll: watch the spool by walking it (a network spool) rather than by inotify;
        monotonic: what the settle time is measured with."""
        self.db = db
        self.audit = audit
        self.layout = layout
        self.spool = spool
        self.tz = tz
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.monotonic = monotonic
        self.health = Health()
        self._planner = Planner(spool, layout)
        self.rows = IndexRows(db)
        self._pending: dict[str, _Pending] = {}
        self._threads = max(1, hash_threads)
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="callrec-index")
        self._last_recheck = float("-inf")
        self.processes = processes
        self.poll = poll
        self.worker_peak_rss_mb = 0.0  # the largest worker process's peak, for the benchmarks
        self.used_workers = False

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _looks_like_recording(self, name: str) -> bool:
        return self.layout.parse(name) is not None

    async def _in_pool(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    def _error(self, message: str) -> None:
        _log.warning("indexing: %s", message)
        self.health.errors += 1
        self.health.last_error = message
        self.health.problem = None

    # -- writing -----------------------------------------------------------------------------

    async def _apply(self, ops: Ops, report: ScanReport, *, fresh: bool) -> None:
        """Write `ops` in one transaction and track the files still to settle.

        fresh: the pending files were just written to (an event), so their settle time starts now
        rather than at their modification time.
        """
        if ops.writes():
            at = self.clock.now()
            async with self.db.transaction() as conn:
                applied = await apply(conn, ops, self.audit, at)
            report.add(applied)
            for rel in applied.missing_paths:
                self._pending.pop(rel, None)
        for rel in ops.resolved:
            self._pending.pop(rel, None)
        self._track(ops.pending, fresh=fresh)
        self.health.pending = len(self._pending)

    def _track(self, items: Iterable[tuple[str, int, int]], *, fresh: bool) -> None:
        mono, wall = self.monotonic(), time.time()
        for rel, size, mtime_ns in items:
            old = self._pending.get(rel)
            if old is not None and (old.size, old.mtime_ns) == (size, mtime_ns):
                continue
            since = mono if fresh else mono - max(0.0, wall - mtime_ns / 1e9)
            self._pending[rel] = _Pending(size, mtime_ns, min(since, mono))

    # -- scanning ----------------------------------------------------------------------------

    async def _plan(
        self, entries: list[Entry], known: dict[str, Known], now: int, settled: Callable[[Entry], bool]
    ) -> Ops:
        if (
            self._threads == 1
            or len(entries) < _PARALLEL_MIN_FILES
            or sum(e.size for e in entries) < _PARALLEL_MIN_AVG_BYTES * len(entries)
        ):
            return await self._in_pool(self._planner.plan, entries, known, now, settled)
        step = -(-len(entries) // self._threads)
        parts = await asyncio.gather(
            *(
                self._in_pool(self._planner.plan, entries[i : i + step], known, now, settled)
                for i in range(0, len(entries), step)
            )
        )
        ops = Ops()
        for part in parts:
            ops.extend(part)
        return ops

    async def scan(self, top: str = "") -> ScanReport:
        """Walk the spool (or one folder of it) and reconcile the index with it.

        Folders are listed and planned two at a time while earlier ones are being written; once a
        scan has met _PROCESS_AFTER files, in worker processes (services/indexing/worker.py)."""
        await self._in_pool(spool_listing.check_spool, self.spool)
        if not top:  # the spool is there again: what went wrong before no longer stands
            self.health.last_error, self.health.problem = "", None
        report = ScanReport()
        seen: set[str] = set()
        unreadable: list[tuple[str, str]] = []
        skipped_seen: set[str] = set()
        wall = time.time()
        folders = spool_listing.walk_folders(self.spool, top, self._looks_like_recording)
        # Planned two at a time, written strictly in walk order: ids do not depend on timing.
        running: deque[tuple[asyncio.Future[Folder], Job]] = deque()
        more = True
        planned = 0
        workers: WorkerPool | None = None
        writer = _BatchWriter(self, report)
        try:
            while more or running:
                if workers is None and self.processes and planned >= _PROCESS_AFTER:
                    workers = WorkerPool(_WORKERS)
                while more and len(running) < _IN_FLIGHT:
                    rel_dir = await self._in_pool(next, folders, None)
                    if rel_dir is None:
                        more = False
                        break
                    job = Job(
                        self._planner,
                        rel_dir,
                        await self.rows.known_in(rel_dir),
                        to_epoch(self.clock.now()),
                        wall,
                        self.settle_seconds,
                    )
                    running.append((self._submit(job, workers), job))
                if not running:
                    break
                future, job = running.popleft()
                try:
                    folder = await future
                except (WorkerDied, OSError) as exc:  # no worker process: carry on in threads
                    self._error(f"index worker: {exc}")
                    self.processes = False
                    if workers is not None:
                        await workers.close()
                        workers = None
                    folder = await self._submit(job, None)
                if folder.error is not None:
                    unreadable.append((folder.rel_dir, folder.error))
                    continue
                seen.add(folder.rel_dir)
                report.seen += folder.files
                planned += folder.files
                self.worker_peak_rss_mb = max(self.worker_peak_rss_mb, folder.peak_rss_mb)
                self.used_workers = self.used_workers or folder.peak_rss_mb > 0
                skipped_seen.update(storable(rel) for rel, _ in folder.ops.skipped)
                await writer.put(folder.ops)
            for rel, why in unreadable:
                self._error(f"{visible(rel or '.')}: {why}")
            report.unreadable.extend(unreadable)
            # Folders the index has calls in that the walk did not find: those calls are missing
            # (but not where a folder could not be read: what is in it is unknown).
            blind = [rel for rel, _ in unreadable]
            lost = [
                d
                for d in await self.rows.dirs_under(top)
                if d not in seen and not any(_within(d, b) for b in blind)
            ]
            if lost:
                gone = await self.rows.present_in_dirs(lost)
                if gone and not top and report.seen == 0 and not unreadable:
                    # Nothing at all where the index holds recordings: an unmounted disk leaves
                    # its empty mount point. Calling every call missing would flood the audit log
                    # and re-hash them all when it is back: say so instead, and wait.
                    raise SpoolError(
                        f"{self.spool}: spool folder is empty while the index holds"
                        f" {len(gone)} recordings (is its disk mounted?)",
                        code="spool_empty",
                        path=str(self.spool),
                        n=len(gone),
                    )
                await writer.put(Ops(missing=gone))
            await writer.close()
        except BaseException:
            for future, _job in running:
                future.cancel()
            await writer.abort()
            raise
        finally:
            if workers is not None:
                await workers.close()
        if not top:
            await self._prune_skipped(skipped_seen, [rel for rel, _ in unreadable])
        self.health.last_scan_at = self.clock.now()
        _log.info(
            "scan of %s: %d files, %d new, %d completed, %d missing, %d reappeared, %d changed,"
            " %d unknown, %d date anomalies, %d skipped, %d folders unreadable",
            visible(str(self.spool / top)),
            report.seen,
            report.added,
            report.completed,
            report.missing,
            report.reappeared,
            report.changed,
            report.unknown,
            report.anomalies,
            sum(report.skipped.values()),
            len(report.unreadable),
        )
        return report

    def _submit(self, job: Job, workers: WorkerPool | None) -> asyncio.Future[Folder]:
        if workers is not None:
            return asyncio.ensure_future(workers.run(job))
        return asyncio.get_running_loop().run_in_executor(self._pool, plan_folder, job)

    async def _prune_skipped(self, seen: set[str], blind: list[str]) -> None:
        """Forget skipped entries a whole scan no longer found (gone, or indexable now), so one
        that comes back is reported again."""
        listed = await self.rows.skipped_paths(more_than=len(seen))
        gone = [p for p in listed if p not in seen and not any(_within(p, b) for b in blind)]
        if gone:
            await self.rows.forget_skipped(gone)

    # -- following the recorder --------------------------------------------------------------

    async def apply_changes(self, changes: Changes) -> ScanReport:
        """Bring the index up to date with a batch of watch events."""
        report = ScanReport()
        self.health.events += len(changes)
        self.health.last_event_at = self.clock.now()
        batch = await self._in_pool(self._sort_events, changes)
        now = to_epoch(self.clock.now())
        for files in _chunks(batch.files):
            known = await self.rows.known_paths(e.rel for e in files)
            # Never hashed from an event: the file was just written, so it has not settled.
            ops = await self._in_pool(self._planner.plan, files, known, now, _never)
            await self._apply(ops, report, fresh=True)
        if batch.not_files:
            # A spool that went away as a whole (unmounted, say) is an error, not mass deletion.
            await self._in_pool(spool_listing.check_spool, self.spool)
            for paths in _chunks(batch.not_files):
                ops = Ops(missing=await self.rows.present_at_or_under(paths))
                await self._apply(ops, report, fresh=True)
        for skipped in _chunks(batch.skipped):
            await self._apply(Ops(skipped=skipped), report, fresh=True)
        for top in batch.new_folders:
            report.merge(await self.scan(top))
        return report

    def _sort_events(self, changes: Changes) -> _Events:
        """What the paths named by watch events are now (in a worker thread: a copy into the
        spool can name tens of thousands at once)."""
        rels = sorted(
            {r for _change, path in changes if (r := spool_listing.relative(self.spool, path)) is not None}
        )
        out = _Events()
        folders: list[str] = []
        for rel in rels:
            seen = spool_listing.look(self.spool, rel, self._looks_like_recording)
            if seen.ignored:
                continue
            if seen.skip is not None and seen.skip not in _TRANSIENT:
                out.skipped.append((rel, seen.skip.value))
            if seen.gone or seen.skip is not None:
                out.not_files.append(rel)
            if seen.folder and seen.skip is not SkipReason.BAD_ENCODING:
                folders.append(rel)
            if seen.entry is not None:
                out.files.append(seen.entry)
        # A new folder is scanned whole: files created in it before it was watched were not
        # reported. Its files seen in events are left to that scan.
        out.new_folders = [f for f in folders if not any(_within(f, o) and f != o for o in folders)]
        if out.new_folders:
            out.files = [e for e in out.files if not any(_within(e.rel, t) for t in out.new_folders)]
        return out

    async def settle(self) -> int:
        """Complete every pending file whose size has held for the settle time; returns how many
        rows changed."""
        now_mono = self.monotonic()
        if now_mono - self._last_recheck >= _RECHECK_SECONDS:
            self._last_recheck = now_mono
            await self._adopt_recording()
        if not self._pending:
            return 0
        snapshot = list(self._pending.items())
        ready, vanished, moved = await self._in_pool(
            _sort_pending, self.spool, snapshot, now_mono, self.settle_seconds
        )
        for rel, size, mtime_ns in moved:
            self._pending[rel] = _Pending(size, mtime_ns, now_mono)
        for rel in vanished:
            self._pending.pop(rel, None)
        report = ScanReport()
        for entries in _chunks(ready):
            for e in entries:
                self._pending.pop(e.rel, None)
            known = await self.rows.known_paths(e.rel for e in entries)
            ops = await self._plan(entries, known, to_epoch(self.clock.now()), _always)
            await self._apply(ops, report, fresh=False)
        for paths in _chunks(vanished):
            await self._apply(Ops(missing=await self.rows.present_at_or_under(paths)), report, fresh=False)
        return report.changes

    async def _adopt_recording(self) -> None:
        """Watch `recording` rows this indexer does not know about (written by another process,
        or before a restart), so they complete even if no event comes for them."""
        rows = await self.rows.recording()
        pending = self._pending
        new = await self._in_pool(lambda: [r for r in rows if r[0] not in pending])
        self._track(new, fresh=False)
        self.health.pending = len(self._pending)

    async def follow(
        self,
        stop: asyncio.Event,
        on_change: Callable[[], None] | None = None,
        *,
        debounce_ms: int = 50,
        scan_first: bool = False,
    ) -> None:
        """Apply watch events and settle pending files until `stop` is set.

        scan_first: reconcile once the watcher is set up, so nothing written meanwhile is missed.
        """
        identity = await self._in_pool(_identity, self.spool)
        watcher = SpoolWatcher(self.spool, debounce_ms=debounce_ms, poll=self.poll)
        await watcher.start()
        try:
            if scan_first:
                await self.scan()
                if on_change:
                    on_change()
            checked = time.monotonic()
            while not stop.is_set():
                changes = await watcher.next(timeout=0.25)
                changed = 0
                if changes:
                    changed += (await self.apply_changes(changes)).changes
                changed += await self.settle()
                if changed and on_change:
                    on_change()
                if time.monotonic() - checked >= _SPOOL_CHECK_SECONDS:
                    checked = time.monotonic()
                    # Unmounted, renamed or replaced, the folder watched is no longer the spool:
                    # no event says so. The caller starts over (scan, new watcher) when it is back.
                    if await self._in_pool(_identity, self.spool) != identity:
                        raise SpoolError(
                            f"{self.spool}: spool folder gone or replaced",
                            code="spool_replaced",
                            path=str(self.spool),
                        )
        finally:
            await watcher.stop()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _within(rel: str, folder: str) -> bool:
    return not folder or rel == folder or rel.startswith(folder + "/")


def _never(_e: Entry) -> bool:
    return False


def _always(_e: Entry) -> bool:
    return True


def _sort_pending(
    spool: Path,
    pending: list[tuple[str, _Pending]],
    now: float,
    settle: float,
) -> tuple[list[Entry], list[str], list[tuple[str, int, int]]]:
    """(still for the settle time, gone, written to again) among the pending files."""
    ready: list[Entry] = []
    vanished: list[str] = []
    moved: list[tuple[str, int, int]] = []
    for rel, p in pending:
        e = spool_listing.look(spool, rel, lambda _name: False).entry
        if e is None:
            vanished.append(rel)
        elif (e.size, e.mtime_ns) != (p.size, p.mtime_ns):
            moved.append((rel, e.size, e.mtime_ns))
        elif now - p.since >= settle:
            ready.append(e)
    return ready, vanished, moved


def _chunks(items: list[T], size: int = _CHUNK) -> Iterator[list[T]]:
    """Slices small enough that the event loop is never held long between two awaits."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Events:
    files: list[Entry] = field(default_factory=list)
    not_files: list[str] = field(default_factory=list)  # gone, or no longer regular files
    skipped: list[tuple[str, str]] = field(default_factory=list)
    new_folders: list[str] = field(default_factory=list)


class _BatchWriter:
    """Writes a scan's ops in batches from a task of its own, so that the next folders are listed
    and hashed while the last ones are being written."""

    def __init__(self, indexer: Indexer, report: ScanReport) -> None:
        self._indexer = indexer
        self._report = report
        self._buffer = Ops()
        self._queue: asyncio.Queue[Ops | None] = asyncio.Queue(maxsize=1)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while (ops := await self._queue.get()) is not None:
            await self._indexer._apply(ops, self._report, fresh=False)
            testpoints.pause("index_batch_written")

    async def _send(self, item: Ops | None) -> None:
        put = asyncio.ensure_future(self._queue.put(item))
        await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
        if self._task.done():
            self._task.result()  # the writer failed: raise its error here
            if item is not None:
                raise RuntimeError("index writer stopped early")

    async def put(self, ops: Ops) -> None:
        self._buffer.extend(ops)
        if self._buffer.writes() + len(self._buffer.pending) >= BATCH_ROWS:
            batch, self._buffer = self._buffer, Ops()
            await self._send(batch)

    async def close(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, Ops()
            await self._send(batch)
        await self._send(None)
        await self._task

    async def abort(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
