"""Purge by instruction (GUIDELINE 第3条6, 第4条6(1)): the manager issues a purge instruction, the
operator executes it, and recordings whose retention has ended are deleted.

- Only the real clock decides (SystemClock, refused when it reads earlier than the newest audit
  entry); a preview date (`--as-of`) never reaches this module.
- The operator confirms a plan (count and bytes). Execution deletes only calls of that plan that are
  still deletable at the moment they are marked: holds, open instructions and the date are checked
  again, per call, inside the transaction that marks it (services/retention/journal.py).
- One purge at a time across processes: a lease (flock on data/purge.lock) plus the instruction's
  conditional transition. A second purge is refused with a clear message.
- Crash-safe: see services/retention/journal.py. `reconcile()` is run when a workspace opens and
  before each purge.
- Fast: each call's state changes once (a tombstone as it is marked); batches flow through the
  pipeline (services/retention/pipeline.py), where one batch's files are deleted by a helper process
  while one transaction settles the batch before and marks the batch after
  (tests/bench/bench_purge.py).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.core import testpoints
from services.core.clock import Clock, SystemClock, to_epoch
from services.core.db import Database
from services.core.errors import CallrecError, Conflict, StorageError
from services.core.lease import Lease
from services.instructions.store import Instruction, Instructions, Kind, State
from services.jobs import CancelToken
from services.retention.deleter import FileDeleter
from services.retention.journal import (
    Marked,
    Outcome,
    PurgeJournal,
    ReconcileReport,
    Run,
    disk_outcome,
    wal_of,
)
from services.retention.pipeline import BATCH, FileThread, Pipeline, Settings, remove_empty_folders
from services.retention.records import ProgressCallback, PurgePlan, PurgeResult
from services.retention.rules import last_expired_day
from services.retention.status import RetentionStatus

T = TypeVar("T")


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
        self._files = FileThread()
        # delete in a thread of this process instead of the helper process (tests compare both)
        self.in_process = False

    def close(self) -> None:
        self._files.close()
        self.journal.close()

    async def running_elsewhere(self) -> str | None:
        """The pid of a process running a purge now, or None: read from the runs table, so that
        a plan or a preview never takes (and so never blocks, nor is blocked by) the purge lease.
        A run left 'running' by a process that has died does not count (reconcile ends it)."""
        for (pid,) in await self.db.fetchall("SELECT pid FROM purge_runs WHERE state = 'running'"):
            if _alive(pid):
                return str(pid)
        return None

    def _settings(self) -> Settings:
        return Settings(
            self.journal,
            self.audit,
            self.clock,
            self.grace_days,
            self.spool,
            wal_of(self.db.path),
            self._files,
        )

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run file work off the event loop. If the task is cancelled meanwhile, wait for the work
        to end first, so the caller can record exactly what was done on disk."""
        return await self._files.run(fn, *args)

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
                    pipeline = Pipeline(
                        self._settings(),
                        run,
                        result,
                        deleter,
                        folders=folders,
                        removed=removed,
                        progress=progress,
                        cancel=cancel,
                    )
                    await pipeline.run(plan, self.batch_size)
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

    async def _end(self, run: Run, ins: Instruction, result: PurgeResult) -> None:
        at = self.clock.now()
        result.ended_at = at
        finished = result.state == "finished"
        async with self.db.transaction() as conn:
            # the run's counters are the truth (they include batches settled from the disk)
            cur = await conn.execute("SELECT deleted, deleted_bytes FROM purge_runs WHERE id = ?", (run.id,))
            row = await cur.fetchone()
            assert row is not None  # the run's own row, inserted by _start
            result.deleted, result.deleted_bytes = row
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
