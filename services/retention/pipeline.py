"""The purge's batch pipeline: batches flow mark -> delete -> settle.

Two tasks run side by side: `Pipeline.run` marks batches (each durable before its files go) and
settles those deleted, one transaction on the journal's own connection doing both; the deleting task
takes the marked batches in order and has the helper process (services/retention/unlinker.py)
delete their files. At most DEPTH batches are marked and not yet settled, so the helper always has
the next batch at hand, and neither side waits for the other's slowest batch. The audit entries of
settled batches are chained on the event loop while SQLite marks the next batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from services.access.audit import AuditLog, Head
from services.core import testpoints
from services.core.clock import Clock
from services.core.errors import CallrecError
from services.jobs import CancelToken
from services.retention.deleter import FileDeleter, HelperFailed, delete_here
from services.retention.journal import (
    Batch,
    Chain,
    Marked,
    Outcome,
    PurgeJournal,
    Run,
    StepTimes,
    deleted_rows,
    disk_outcome,
    joined,
)
from services.retention.records import ProgressCallback, PurgePlan, PurgeProgress, PurgeResult
from services.retention.rules import last_expired_day
from services.retention.unlinker import after_deletion

BATCH = 2000
FIRST_BATCH = 500  # at least (unless the batches are smaller)
DEPTH = 3  # batches marked and not yet settled, at most: one being deleted, the next ones at hand
T = TypeVar("T")


class FileThread:
    """The purge's one thread for file work, off the event loop."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="callrec-purge")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """If the task is cancelled meanwhile, wait for the work to end first, so the caller can
        record exactly what was done on disk."""
        work = self._pool.submit(fn, *args)
        try:
            return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            concurrent.futures.wait([work])
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class MarkedBatch:
    batch: Batch
    planned: int  # calls of the plan this batch was made from (some may have been skipped)
    sent: bool = False  # handed to the helper process already


@dataclass(frozen=True)
class DeletedBatch:
    marked: MarkedBatch
    outcome: Outcome


@dataclass(frozen=True)
class Settings:
    """What a pipeline needs of the Purge that runs it."""

    journal: PurgeJournal
    audit: AuditLog
    clock: Clock
    grace_days: int
    spool: Path
    wal: Path
    files: FileThread


class Pipeline:
    """One purge run's batches. `folders` collects the folders of the deleted files, `removed` those
    of them removed (emptied) as the purge went."""

    def __init__(
        self,
        settings: Settings,
        run: Run,
        result: PurgeResult,
        deleter: FileDeleter,
        *,
        folders: set[str],
        removed: set[str],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        self.settings = settings
        self.run_row = run
        self.result = result
        self.deleter = deleter
        self.folders = folders
        self.removed = removed
        self.progress = progress
        self.cancel = cancel
        self.marked_q: asyncio.Queue[MarkedBatch | None] = asyncio.Queue()
        self.deleted: list[DeletedBatch] = []  # deleted on disk, not yet settled
        self.arrived = asyncio.Event()
        self.halt = False  # a deletion failed: nothing more is marked or deleted

    async def run(self, plan: PurgePlan, batch_size: int) -> None:
        """Mark and settle every batch of the plan; the deleting runs meanwhile."""
        result, deleter = self.result, self.deleter
        batches = in_batches(plan.targets, batch_size)
        counts = PurgeProgress(plan.count, plan.bytes)
        started = self.settings.clock.now()
        deleting = asyncio.ensure_future(self._delete_all())
        try:
            k = 0  # the next batch to mark
            in_flight = 0  # marked, not yet settled
            while True:
                settle, self.deleted[:] = list(self.deleted), []
                mark: Sequence[Marked] = ()
                if not self.halt and k < len(batches) and in_flight - len(settle) < DEPTH:
                    if self.cancel is not None and self.cancel.cancelled:
                        result.state = "cancelled"
                        k = len(batches)
                    else:
                        mark = batches[k]
                if not settle and not mark:
                    if not in_flight or deleting.done():
                        break
                    self.arrived.clear()
                    if not self.deleted:
                        waited = time.perf_counter()
                        await self.arrived.wait()
                        result.timings.waiting += time.perf_counter() - waited
                    continue
                marked = await self._step(settle, mark, counts, started)
                in_flight -= len(settle)
                if marked is not None:
                    k += 1
                    if marked.batch.calls:
                        in_flight += 1
                        if deleter.running and not self.halt:
                            with contextlib.suppress(HelperFailed):  # (then received: failed)
                                deleter.send(marked.batch.calls)
                            marked = replace(marked, sent=True)
                        self.marked_q.put_nowait(marked)
                    else:  # nothing in it was deletable any more: done with it
                        self._count(counts, [DeletedBatch(marked, Outcome())])
                    if k == 1:
                        testpoints.pause("after_mark")
            self.marked_q.put_nowait(None)
            await deleting  # it ends at that; raises what it raised
        finally:
            self.halt = True
            self.marked_q.put_nowait(None)
            try:
                await _finish(deleting)  # its batch's deletions must be known first
            except Exception:  # raised above already, or the purge fails anyway
                pass
            finally:
                # A batch marked and not settled (a failure, a cancellation) is settled from the
                # disk.
                await asyncio.shield(self._settle_leftovers())
        if result.state == "running":
            result.state = "finished"

    def _tidy(self, calls: Sequence[Marked]) -> list[str]:
        """Folders earlier batches emptied (those this one has files in stay)."""
        return sorted(self.folders - self.removed - {m.path.rpartition("/")[0] for m in calls})

    async def _delete_all(self) -> None:
        s, result = self.settings, self.result
        try:
            while not self.halt and (item := await self.marked_q.get()) is not None:
                calls = item.batch.calls
                if item.sent:  # the helper has it already: its outcome, when it comes
                    outcome = await self._received(calls)
                else:
                    outcome = await s.files.run(delete_here, s.spool, calls, s.wal)
                # the deletions on disk before they are recorded; emptied folders removed
                gone = {m.path.rpartition("/")[0] for m in outcome.gone}
                began = time.perf_counter()
                self.removed.update(
                    await s.files.run(after_deletion, os.fspath(s.spool), sorted(gone), self._tidy(calls))
                )
                result.timings.syncing += time.perf_counter() - began
                testpoints.pause("after_unlink")
                result.timings.deleting += outcome.seconds
                self.folders.update(gone)
                self.deleted.append(DeletedBatch(item, outcome))
                if outcome.problem:
                    # batches marked after this one are put back by the leftovers below
                    self.halt = True
                    result.state, result.problem = "failed", outcome.problem
                self.arrived.set()
        finally:
            self.arrived.set()

    def _chain_here(self, outcome: Outcome, at: datetime, times: StepTimes) -> Chain:
        """For the writer's thread: make and chain settled batches' audit rows on this event loop
        (idle while it waits for the step) while SQLite marks the next batch there."""
        loop = asyncio.get_running_loop()
        audit, run = self.settings.audit, self.run_row

        def chain(head: Head) -> concurrent.futures.Future[Any]:
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def seal() -> None:
                began = time.perf_counter()
                try:
                    done.set_result(deleted_rows(audit, head, run, outcome, at, run.actor))
                except BaseException as exc:
                    done.set_exception(exc)
                times.sealing += time.perf_counter() - began

            loop.call_soon_threadsafe(seal)
            return done

        return chain

    async def _step(
        self, settle: list[DeletedBatch], mark: Sequence[Marked], counts: PurgeProgress, started: datetime
    ) -> MarkedBatch | None:
        """One transaction: settle deleted batches and/or mark the next (made durable before its
        files go: see JournalWriter)."""
        s, result = self.settings, self.result
        began = time.perf_counter()
        now = s.clock.now()
        cutoff = None
        if mark:
            # checked against the audit log as the purge began; a clock set back since stops it
            if now < started:
                raise CallrecError(
                    f"the clock went back during the purge ({now:%H:%M:%S} <"
                    f" {started:%H:%M:%S}); fix the clock first",
                    code="clock_behind",
                    now=now.isoformat(),
                    latest=started.isoformat(),
                )
            cutoff = last_expired_day(now, s.grace_days, s.clock.tz)
        times = result.timings.steps
        outcome = joined([d.outcome for d in settle])
        _deleted, marked = await s.journal.step(
            self.run_row,
            now,
            settle=[(d.marked.batch, d.outcome) for d in settle],
            mark=mark,
            cutoff=cutoff,
            times=times,
            chain=self._chain_here(outcome, now, times) if settle else None,
        )
        result.timings.database += time.perf_counter() - began
        if mark:
            result.skipped += len(mark) - len(marked.calls)
        if settle:
            testpoints.pause("after_settle")
            self._count(counts, settle)
        return MarkedBatch(marked, len(mark)) if mark else None

    def _count(self, counts: PurgeProgress, settled: list[DeletedBatch]) -> None:
        result = self.result
        for d in settled:
            outcome = d.outcome
            result.deleted += len(outcome.gone) + len(outcome.absent)
            result.deleted_bytes += sum(m.size for m in (*outcome.gone, *outcome.absent))
            result.absent += len(outcome.absent)
            result.kept += len(outcome.kept)
            result.refused += len(outcome.refused)
            counts.done += d.marked.planned
        counts.deleted, counts.deleted_bytes = result.deleted, result.deleted_bytes
        counts.skipped = result.skipped
        if self.progress is not None:
            self.progress(counts)

    async def _read_disk(self, marked: Sequence[Marked]) -> Outcome:
        return await self.settings.files.run(disk_outcome, self.settings.spool, marked)

    async def _settle_leftovers(self) -> None:
        await self.settings.journal.settle_pending(self._read_disk, run_id=self.run_row.id, reconciled=False)

    async def _received(self, marked: Sequence[Marked]) -> Outcome:
        """The outcome of a batch sent to the helper. If the helper died meanwhile, what it did
        is read from the disk, and the purge stops."""
        try:
            return await self.deleter.receive(marked)
        except HelperFailed as exc:
            outcome = await self._read_disk(marked)
            # what is still there was not deleted, and the purge stops here
            outcome.gone, outcome.absent = outcome.absent, []
            outcome.problem = str(exc)
            return outcome


def in_batches(targets: Sequence[Marked], size: int) -> list[Sequence[Marked]]:
    """The plan in batches; the first and the last are smaller, so that the deleting starts
    sooner and the last settling (which nothing overlaps) is short."""
    small = max(FIRST_BATCH, size // 4)
    if small >= size or len(targets) <= 2 * size:
        return [targets[i : i + size] for i in range(0, len(targets), size)]
    head, body, last = targets[:small], targets[small:-small], targets[-small:]
    return [head, *(body[i : i + size] for i in range(0, len(body), size)), last]


def remove_empty_folders(spool: Path, folders: set[str], removed_already: set[str]) -> int:
    """Remove day folders a purge emptied, and their parents if emptied too (never the spool);
    `removed_already` were removed as the purge went. rmdir refuses a folder that is not empty,
    so a recording that arrives meanwhile is safe. Not synced: an empty folder that came back
    after a power cut would be harmless. Returns how many were removed in all."""
    removed = len(removed_already)
    level = (folders - removed_already) | {f.rpartition("/")[0] for f in removed_already}
    while level:
        parents = set()
        for folder in sorted(level):
            if not folder:
                continue
            try:
                os.rmdir(spool / folder)
            except OSError:
                continue
            removed += 1
            parents.add(folder.rpartition("/")[0])
        level = parents
    return removed


async def _finish(work: asyncio.Future[T]) -> T:
    """A batch's deletions: if the purge is cancelled meanwhile, they end first."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():
            with contextlib.suppress(BaseException):
                await work
        raise
