"""Purge by instruction (GUIDELINE 第3条6, 第4条6(1)): the manager issues a purge instruction, the
operator executes it, and recordings whose retention has ended are deleted.

- Only the real clock decides (SystemClock, refused when it reads earlier than the newest audit
  entry); a preview date (`--as-of`) never reaches this module.
- The operator confirms a plan (count and bytes). Execution deletes only calls of that plan that are
  still deletable at the moment they are marked: holds, open instructions and the date are checked
  again, per call, inside the transaction that marks it (services/retention/journal.py).
- One purge at a time across processes: a lease (flock on data/purge.lock) plus the instruction's
  conditional transition. A second purge is refused with a clear message.
- Crash-safe: see purge_journal. `reconcile()` is run when a workspace opens and before each purge.
- Fast: each call's state changes once (a tombstone as it is marked); batches flow through a
  pipeline where one batch's files are deleted by a helper process (purge_files.py) while one
  transaction on the journal's own connection settles the batch before and marks the batch after,
  the audit entries being chained on the event loop meanwhile (tests/bench/bench_purge.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from services.access.audit import Action, AuditLog, Head
from services.access.auth import Actor
from services.access.duties import Duty
from services.core import testpoints
from services.core.clock import Clock, SystemClock, to_epoch
from services.core.db import Database
from services.core.errors import CallrecError, Conflict, StorageError
from services.core.lease import Lease
from services.instructions.store import Instruction, Instructions, Kind, State
from services.retention.deleter import FileDeleter, HelperFailed, delete_here
from services.retention.journal import (
    Batch,
    Chain,
    Marked,
    Outcome,
    PurgeJournal,
    ReconcileReport,
    Run,
    StepTimes,
    deleted_rows,
    disk_outcome,
    joined,
    wal_of,
)
from services.retention.rules import last_expired_day
from services.retention.status import RetentionStatus
from services.retention.unlinker import after_deletion

BATCH = 2000
FIRST_BATCH = 500  # at least (unless the batches are smaller)
DEPTH = 3  # batches marked and not yet settled, at most: one being deleted, the next ones at hand
T = TypeVar("T")


@dataclass(frozen=True)
class PurgePlan:
    """What the operator confirms: the calls deletable now under this instruction."""

    instruction: Instruction
    planned_at: datetime
    cutoff: date  # kept through this day or earlier (grace included)
    grace_days: int
    targets: tuple[Marked, ...]  # the calls (id, path, size), oldest first
    bytes: int
    oldest: datetime | None
    newest: datetime | None
    blocked: int  # past their date but held, named by an open instruction, or still recording

    @property
    def count(self) -> int:
        return len(self.targets)

    @property
    def call_ids(self) -> tuple[int, ...]:
        return tuple(t.id for t in self.targets)

    def to_json(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction.number,
            "instruction_id": self.instruction.id,
            "planned_at": self.planned_at.isoformat(timespec="seconds"),
            "cutoff": self.cutoff.isoformat(),
            "grace_days": self.grace_days,
            "count": self.count,
            "bytes": self.bytes,
            "oldest": self.oldest.isoformat(timespec="seconds") if self.oldest else None,
            "newest": self.newest.isoformat(timespec="seconds") if self.newest else None,
            "blocked": self.blocked,
        }


@dataclass
class PurgeProgress:
    total: int
    total_bytes: int
    done: int = 0  # calls of the plan handled (deleted or kept)
    deleted: int = 0
    deleted_bytes: int = 0
    skipped: int = 0  # no longer deletable when marked (a hold, an instruction, ...)


ProgressCallback = Callable[[PurgeProgress], None]


class CancelToken:
    """Set from any thread (the console's cancel button); the purge stops after the current batch
    and the instruction goes back to issued."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass
class PurgeTimings:
    """Where a purge's time went (seconds of wall time; the deleting overlaps the database)."""

    database: float = 0.0  # the transactions that mark and settle, commits (and syncs) included
    deleting: float = 0.0  # in the helper process (or the file thread): the unlinks
    syncing: float = 0.0  # the deleted files' folders synced, emptied ones removed (file thread)
    waiting: float = 0.0  # the database side waiting for deletions
    steps: StepTimes = field(default_factory=StepTimes)  # inside the transactions


@dataclass(frozen=True)
class _Marked:
    batch: Batch
    planned: int  # calls of the plan this batch was made from (some may have been skipped)
    sent: bool = False  # handed to the helper process already


@dataclass(frozen=True)
class _Deleted:
    marked: _Marked
    outcome: Outcome


@dataclass
class PurgeResult:
    instruction: Instruction
    run_id: int
    state: str  # finished | cancelled | failed
    planned: int
    deleted: int = 0
    deleted_bytes: int = 0
    absent: int = 0  # already gone when reached (counted in deleted)
    skipped: int = 0
    kept: int = 0  # could not be deleted (permissions...): still there, still indexed
    refused: int = 0  # not provably the indexed recording: kept, the call marked (purge.kept)
    folders_removed: int = 0
    problem: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    reconciled: ReconcileReport = field(default_factory=ReconcileReport)
    timings: PurgeTimings = field(default_factory=PurgeTimings)

    def to_json(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction.to_json(),
            "run": self.run_id,
            "state": self.state,
            "planned": self.planned,
            "deleted": self.deleted,
            "deleted_bytes": self.deleted_bytes,
            "absent": self.absent,
            "skipped": self.skipped,
            "kept": self.kept,
            "refused": self.refused,
            "folders_removed": self.folders_removed,
            "problem": self.problem,
            "started_at": self.started_at.isoformat(timespec="seconds") if self.started_at else None,
            "ended_at": self.ended_at.isoformat(timespec="seconds") if self.ended_at else None,
        }


class Purge:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        instructions: Instructions,
        status: RetentionStatus,
        *,
        spool: Path,
        lock_path: Path,
        grace_days: int,
        clock: SystemClock,
        batch_size: int = BATCH,
    ) -> None:
        if not isinstance(clock, SystemClock):
            raise TypeError("a purge runs on the real clock only")
        self.db = db
        self.audit = audit
        self.instructions = instructions
        self.status = status
        self.spool = spool
        self.lock_path = lock_path
        self.grace_days = grace_days
        self.clock: Clock = clock
        self.batch_size = testpoints.purge_batch(batch_size)
        self.journal = PurgeJournal(db, audit, instructions, spool, clock)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="callrec-purge")
        # delete in a thread of this process instead of the helper process (tests compare both)
        self.in_process = False

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.journal.close()

    async def running_elsewhere(self) -> str | None:
        """The pid of a process running a purge now, or None: read from the runs table, so that
        a plan or a preview never takes (and so never blocks, nor is blocked by) the purge lease.
        A run left 'running' by a process that has died does not count (reconcile ends it)."""
        for (pid,) in await self.db.fetchall("SELECT pid FROM purge_runs WHERE state = 'running'"):
            if _alive(pid):
                return str(pid)
        return None

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run file work off the event loop. If the task is cancelled meanwhile, wait for the work
        to end first, so the caller can record exactly what was done on disk."""
        return await _wait(self._pool.submit(fn, *args))

    # -- reconcile ---------------------------------------------------------------------------

    async def reconcile(self) -> ReconcileReport:
        """Settle what a killed purge left behind (cheap when there is nothing: one query)."""
        if not await self.journal.needs_reconcile():
            return ReconcileReport()
        lease = Lease(self.lock_path)
        if not lease.try_acquire():
            return ReconcileReport(busy=True)
        try:
            return await self._reconcile_locked()
        finally:
            lease.release()

    async def reconcile_at_start(self) -> ReconcileReport:
        """For Workspace.open. A failure here must not stop anyone reading the index: it is kept in
        the report, and the next purge reconciles again (inside its lease) and fails loudly."""
        try:
            return await self.reconcile()
        except (CallrecError, sqlite3.Error, OSError) as exc:
            return ReconcileReport(problem=_describe(exc))

    async def _reconcile_locked(self) -> ReconcileReport:
        async def read_disk(marked: Sequence[Marked]) -> Outcome:
            return await self._in_thread(disk_outcome, self.spool, marked)

        cutoff = last_expired_day(self.clock.now(), self.grace_days, self.clock.tz)
        return await self.journal.reconcile_locked(read_disk=read_disk, cutoff=cutoff)

    # -- plan --------------------------------------------------------------------------------

    async def _purge_instruction(self, ref: str | int) -> Instruction:
        ins = await self.instructions.get(ref)
        if ins.kind != Kind.PURGE:
            raise CallrecError(
                f"instruction {ins.number} is an {ins.kind} instruction, not a purge",
                code="not_purge",
                number=ins.number,
            )
        if ins.state != State.ISSUED:
            raise Conflict(
                f"instruction {ins.number} is {ins.state}; only an issued purge instruction can be executed",
                code="not_executable",
                number=ins.number,
                state=ins.state,
            )
        return ins

    async def plan(self, ref: str | int) -> PurgePlan:
        """The calls deletable now under an issued purge instruction, for the confirmation.
        Refused at once while another purge runs (executing it would be refused too)."""
        holder = await self.running_elsewhere()
        if holder is not None:
            raise _running(holder)
        ins = await self._purge_instruction(ref)
        now = self.clock.now()
        targets: list[Marked] = []
        total = 0
        oldest = newest = None
        async for c in self.status.purgeable_calls(now):
            targets.append(Marked(c.id, c.path, c.size, c.mtime_ns, c.sha256, c.dev, c.ino))
            total += c.size
            oldest = oldest or c.started_at
            newest = c.started_at
        blocked = len(await self.status.blocked(now))
        return PurgePlan(
            ins,
            now,
            last_expired_day(now, self.grace_days, self.clock.tz),
            self.grace_days,
            tuple(targets),
            total,
            oldest,
            newest,
            blocked,
        )

    # -- execute -----------------------------------------------------------------------------

    async def execute(
        self,
        actor: Actor,
        plan: PurgePlan,
        *,
        typed_count: int,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> PurgeResult:
        """Delete the plan's calls that are still deletable, batch by batch.

        `typed_count` is what the operator typed to confirm; it must be the plan's count."""
        actor.require(Duty.EXECUTE_INSTRUCTION)
        if typed_count != plan.count:
            raise CallrecError(
                f"the confirmation does not match: type {plan.count} to delete {plan.count} recordings",
                code="confirm_mismatch",
                expected=plan.count,
            )
        if not plan.count:
            raise CallrecError("nothing to delete now", code="nothing_to_purge")
        lease = Lease(self.lock_path)
        if not lease.try_acquire():
            raise _running(lease.holder() or "?")
        try:
            reconciled = await self._reconcile_locked()
            now = self.clock.now()
            await self.audit.check_clock(now)
            ins = await self._purge_instruction(plan.instruction.id)
            run = await self._start(actor, ins, plan, now)
            result = PurgeResult(ins, run.id, "running", plan.count, started_at=now, reconciled=reconciled)
            testpoints.pause("after_start")
            folders: set[str] = set()  # the folders of the deleted files
            removed: set[str] = set()  # of them, removed (empty) as the purge went
            deleter = FileDeleter(self.spool, journal=wal_of(self.db.path), keep_open=(lease.fileno(),))
            try:
                if not self.in_process:
                    await deleter.start()
                async with self.journal.writing():
                    await self._pipeline(run, plan, result, folders, removed, progress, cancel, deleter)
            except BaseException as exc:
                stopped = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
                result.state = "cancelled" if stopped else "failed"
                result.problem = result.problem or _describe(exc)
                await asyncio.shield(self._end(run, ins, result))
                raise
            finally:
                await asyncio.shield(deleter.close())
            testpoints.pause("before_finish")
            await self._end(run, ins, result)
            testpoints.pause("after_finish")
            result.folders_removed = await self._in_thread(remove_empty_folders, self.spool, folders, removed)
            result.instruction = await self.instructions.get(ins.id)
            if result.state == "failed":
                raise StorageError(
                    f"the purge stopped: {result.problem} ({result.deleted} deleted;"
                    f" instruction {ins.number} is open again)",
                    code="purge_failed",
                    deleted=result.deleted,
                )
            return result
        finally:
            lease.release()

    async def _start(self, actor: Actor, ins: Instruction, plan: PurgePlan, now: datetime) -> Run:
        async with self.db.transaction() as conn:
            await self.instructions.transition(
                conn, ins, State.IN_PROGRESS, actor.role.value, Action.INSTRUCTION_STARTED
            )
            cur = await conn.execute(
                "INSERT INTO purge_runs (instruction_id, state, actor, pid, started_at, grace_days,"
                " planned, planned_bytes) VALUES (?, 'running', ?, ?, ?, ?, ?, ?)",
                (
                    ins.id,
                    actor.role.value,
                    os.getpid(),
                    to_epoch(now),
                    self.grace_days,
                    plan.count,
                    plan.bytes,
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            await self.audit.append(
                conn,
                at=now,
                actor=actor.role.value,
                action=Action.PURGE_STARTED,
                subject=ins.number,
                detail={
                    "run": run_id,
                    "planned": plan.count,
                    "bytes": plan.bytes,
                    "kept_through_or_before": plan.cutoff.isoformat(),
                    "grace_days": self.grace_days,
                },
            )
        return Run(run_id, ins.id, ins.number, actor.role.value)

    async def _pipeline(
        self,
        run: Run,
        plan: PurgePlan,
        result: PurgeResult,
        folders: set[str],
        removed: set[str],
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        deleter: FileDeleter,
    ) -> None:
        """Batches flow through mark -> delete -> settle. Two tasks run side by side: this one
        marks batches (each durable before its files go) and settles those deleted, one
        transaction doing both; the deleting task takes the marked batches in order and has the
        helper process (purge_files.py) delete their files. At most DEPTH batches are marked and
        not yet settled, so the helper always has the next batch at hand, and neither side waits
        for the other's slowest batch."""
        batches = self._batches(plan.targets)
        counts = PurgeProgress(plan.count, plan.bytes)
        started = self.clock.now()
        marked_q: asyncio.Queue[_Marked | None] = asyncio.Queue()
        deleted: list[_Deleted] = []  # deleted on disk, not yet settled
        arrived = asyncio.Event()
        halt = False  # a deletion failed: nothing more is marked or deleted

        def tidy(calls: Sequence[Marked]) -> list[str]:
            """Folders earlier batches emptied (those this one has files in stay)."""
            return sorted(folders - removed - {m.path.rpartition("/")[0] for m in calls})

        async def delete_all() -> None:
            nonlocal halt
            try:
                while not halt and (item := await marked_q.get()) is not None:
                    calls = item.batch.calls
                    if item.sent:  # the helper has it already: its outcome, when it comes
                        outcome = await self._received(deleter, calls)
                    else:
                        outcome = await self._in_thread(delete_here, self.spool, calls, wal_of(self.db.path))
                    # the deletions on disk before they are recorded; emptied folders removed
                    gone = {m.path.rpartition("/")[0] for m in outcome.gone}
                    began = time.perf_counter()
                    removed.update(
                        await self._in_thread(
                            after_deletion, os.fspath(self.spool), sorted(gone), tidy(calls)
                        )
                    )
                    result.timings.syncing += time.perf_counter() - began
                    testpoints.pause("after_unlink")
                    result.timings.deleting += outcome.seconds
                    folders.update(gone)
                    deleted.append(_Deleted(item, outcome))
                    if outcome.problem:
                        # batches marked after this one are put back by the leftovers below
                        halt = True
                        result.state, result.problem = "failed", outcome.problem
                    arrived.set()
            finally:
                arrived.set()

        deleting = asyncio.ensure_future(delete_all())
        try:
            k = 0  # the next batch to mark
            in_flight = 0  # marked, not yet settled
            while True:
                settle, deleted[:] = list(deleted), []
                mark: Sequence[Marked] = ()
                if not halt and k < len(batches) and in_flight - len(settle) < DEPTH:
                    if cancel is not None and cancel.cancelled:
                        result.state = "cancelled"
                        k = len(batches)
                    else:
                        mark = batches[k]
                if not settle and not mark:
                    if not in_flight or deleting.done():
                        break
                    arrived.clear()
                    if not deleted:
                        waited = time.perf_counter()
                        await arrived.wait()
                        result.timings.waiting += time.perf_counter() - waited
                    continue
                marked = await self._step(run, result, settle, mark, counts, progress, started)
                in_flight -= len(settle)
                if marked is not None:
                    k += 1
                    if marked.batch.calls:
                        in_flight += 1
                        if deleter.running and not halt:
                            with contextlib.suppress(HelperFailed):  # (then received: failed)
                                deleter.send(marked.batch.calls)
                            marked = replace(marked, sent=True)
                        marked_q.put_nowait(marked)
                    else:  # nothing in it was deletable any more: done with it
                        self._count(result, counts, [_Deleted(marked, Outcome())], progress)
                    if k == 1:
                        testpoints.pause("after_mark")
            marked_q.put_nowait(None)
            await deleting  # it ends at that; raises what it raised
        finally:
            halt = True
            marked_q.put_nowait(None)
            try:
                await _finish(deleting)  # its batch's deletions must be known first
            except Exception:  # raised above already, or the purge fails anyway
                pass
            finally:
                # A batch marked and not settled (a failure, a cancellation) is settled from the
                # disk.
                await asyncio.shield(self._settle_leftovers(run))
        if result.state == "running":
            result.state = "finished"

    def _batches(self, targets: Sequence[Marked]) -> list[Sequence[Marked]]:
        """The plan in batches; the first and the last are smaller, so that the deleting starts
        sooner and the last settling (which nothing overlaps) is short."""
        size = self.batch_size
        small = max(FIRST_BATCH, size // 4)
        if small >= size or len(targets) <= 2 * size:
            return [targets[i : i + size] for i in range(0, len(targets), size)]
        head, body, last = targets[:small], targets[small:-small], targets[-small:]
        return [head, *(body[i : i + size] for i in range(0, len(body), size)), last]

    def _chain_here(self, run: Run, outcome: Outcome, at: datetime, times: StepTimes) -> Chain:
        """For the writer's thread: make and chain settled batches' audit rows on this event loop
        (idle while it waits for the step) while SQLite marks the next batch there."""
        loop = asyncio.get_running_loop()

        def chain(head: Head) -> concurrent.futures.Future[Any]:
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()

            def seal() -> None:
                began = time.perf_counter()
                try:
                    done.set_result(deleted_rows(self.audit, head, run, outcome, at, run.actor))
                except BaseException as exc:
                    done.set_exception(exc)
                times.sealing += time.perf_counter() - began

            loop.call_soon_threadsafe(seal)
            return done

        return chain

    async def _step(
        self,
        run: Run,
        result: PurgeResult,
        settle: list[_Deleted],
        mark: Sequence[Marked],
        counts: PurgeProgress,
        progress: ProgressCallback | None,
        started: datetime,
    ) -> _Marked | None:
        """One transaction: settle deleted batches and/or mark the next (made durable before its
        files go: see JournalWriter)."""
        began = time.perf_counter()
        now = self.clock.now()
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
            cutoff = last_expired_day(now, self.grace_days, self.clock.tz)
        times = result.timings.steps
        outcome = joined([d.outcome for d in settle])
        _deleted, marked = await self.journal.step(
            run,
            now,
            settle=[(d.marked.batch, d.outcome) for d in settle],
            mark=mark,
            cutoff=cutoff,
            times=times,
            chain=self._chain_here(run, outcome, now, times) if settle else None,
        )
        result.timings.database += time.perf_counter() - began
        if mark:
            result.skipped += len(mark) - len(marked.calls)
        if settle:
            testpoints.pause("after_settle")
            self._count(result, counts, settle, progress)
        return _Marked(marked, len(mark)) if mark else None

    @staticmethod
    def _count(
        result: PurgeResult, counts: PurgeProgress, settled: list[_Deleted], progress: ProgressCallback | None
    ) -> None:
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
        if progress is not None:
            progress(counts)

    async def _settle_leftovers(self, run: Run) -> None:
        async def read_disk(marked: Sequence[Marked]) -> Outcome:
            return await self._in_thread(disk_outcome, self.spool, marked)

        await self.journal.settle_pending(read_disk, run_id=run.id, reconciled=False)

    async def _received(self, deleter: FileDeleter, marked: Sequence[Marked]) -> Outcome:
        """The outcome of a batch sent to the helper. If the helper died meanwhile, what it did
        is read from the disk, and the purge stops."""
        try:
            return await deleter.receive(marked)
        except HelperFailed as exc:
            outcome = await self._in_thread(disk_outcome, self.spool, marked)
            # what is still there was not deleted, and the purge stops here
            outcome.gone, outcome.absent = outcome.absent, []
            outcome.problem = str(exc)
            return outcome

    async def _end(self, run: Run, ins: Instruction, result: PurgeResult) -> None:
        at = self.clock.now()
        result.ended_at = at
        finished = result.state == "finished"
        async with self.db.transaction() as conn:
            # the run's counters are the truth (they include batches settled from the disk)
            cur = await conn.execute("SELECT deleted, deleted_bytes FROM purge_runs WHERE id = ?", (run.id,))
            result.deleted, result.deleted_bytes = await cur.fetchone()
            await conn.execute(
                "UPDATE purge_runs SET state = ?, ended_at = ?, skipped = ?, problem = ? WHERE id = ?",
                (result.state, to_epoch(at), result.skipped, result.problem, run.id),
            )
            detail = {
                "run": run.id,
                "planned": result.planned,
                "deleted": result.deleted,
                "deleted_bytes": result.deleted_bytes,
                "skipped": result.skipped,
                "absent": result.absent,
                "kept": result.kept,
                "refused": result.refused,
            }
            current = await self.instructions.get(ins.id)
            if finished:
                await self.audit.append(
                    conn,
                    at=at,
                    actor=run.actor,
                    action=Action.PURGE_FINISHED,
                    subject=ins.number,
                    detail=detail,
                )
                await self.instructions.transition(
                    conn, current, State.DONE, run.actor, Action.INSTRUCTION_DONE, {"run": run.id}
                )
            else:
                await self.audit.append(
                    conn,
                    at=at,
                    actor=run.actor,
                    action=Action.PURGE_INTERRUPTED,
                    subject=ins.number,
                    detail={**detail, "reason": result.state, "problem": result.problem},
                )
                await self.instructions.transition(
                    conn,
                    current,
                    State.ISSUED,
                    run.actor,
                    Action.INSTRUCTION_REOPENED,
                    {"reason": f"purge {result.state}", "run": run.id},
                )


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


async def _wait(work: concurrent.futures.Future[T]) -> T:
    """The result of file work in the purge thread; if the task is cancelled meanwhile, wait for
    the work to end anyway (a batch's deletions must be known before they are recorded)."""
    try:
        return await asyncio.wrap_future(work)
    except asyncio.CancelledError:
        concurrent.futures.wait([work])
        raise


async def _finish(work: asyncio.Future[T]) -> T:
    """The same for a batch's deletions: if the purge is cancelled meanwhile, they end first."""
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if not work.done():
            with contextlib.suppress(BaseException):
                await work
        raise


def _alive(pid: int) -> bool:
    """Whether a process runs with this pid (on this machine, where the data folder is)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a zombie, killed and not yet reaped, runs no more
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _running(holder: str) -> Conflict:
    return Conflict(
        f"another purge is running (process {holder}); wait until it has finished",
        code="purge_running",
        pid=holder,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CallrecError):
        return exc.message
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
        return "interrupted (the purge was stopped)"
    return f"{type(exc).__name__}: {exc}"
