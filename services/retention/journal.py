"""The purge journal: how a purge records what it is about to delete, and how that is settled.

A batch of calls goes through three steps:
  1. marked, in one transaction, made durable (the WAL synced) before any file goes: each
     call of the batch is checked again (state, date, holds, open instructions) and those still
     deletable become tombstones at once (state 'purged'; when, by whom, under which instruction;
     metadata and hash kept), and ONE journal row lists them: their deletion is pending;
  2. deleted on disk (the WAL synced first; unlink; then fsync of each folder, so the deletions
     outlive a power cut before they are recorded);
  3. settled, in one transaction: an audit entry for each call whose file is gone, 'complete'
     again for a call whose file is still there (it could not be deleted), the journal row removed.
So each call's state changes once, and the journal costs one row per batch, not one per call.
While a journal row exists its calls' files may or may not be gone yet; no one else touches a
'purged' call (the indexer, holds and instructions all leave tombstones alone). A process killed
anywhere leaves journal rows and its run 'running'; `reconcile_locked` settles them from what the
disk says, so nothing is reported deleted that is still there and no deleted call is left 'missing'.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from services.access.audit import SYSTEM, Action, AuditLog, Entry, Head
from services.core import testpoints
from services.core.clock import Clock, to_epoch
from services.core.db import BUSY_TIMEOUT_MS, Database
from services.instructions.store import Instructions, State
from services.retention.holds import PENDING_IDS
from services.retention.status import ELIGIBLE


@dataclass(frozen=True, slots=True)
class Marked:
    """A call of a purge plan: marked (a tombstone with its deletion pending) before its file goes."""

    id: int
    path: str
    size: int
    # which file it is (purge_unlinker.is_indexed); unknown for calls marked before a crash
    mtime_ns: int = 0
    sha256: str | None = None
    dev: int | None = None
    ino: int | None = None

    @property
    def known(self) -> tuple[Any, ...]:
        return (self.size, self.mtime_ns, self.sha256, self.dev, self.ino)


@dataclass(frozen=True)
class Batch:
    """The calls one journal row lists (journal_id None: nothing was marked)."""

    journal_id: int | None
    calls: list[Marked]


@dataclass
class Outcome:
    """What happened on disk to a batch of marked calls."""

    gone: list[Marked] = field(default_factory=list)  # unlinked now
    absent: list[Marked] = field(default_factory=list)  # already not there
    kept: list[Marked] = field(default_factory=list)  # still there (could not be deleted)
    # still there: not provably the indexed recording (purge_unlinker.REFUSED code)
    refused: list[tuple[Marked, str]] = field(default_factory=list)
    problem: str = ""
    seconds: float = 0.0  # spent deleting


@dataclass(frozen=True)
class Run:
    id: int
    instruction_id: int
    number: str
    actor: str


@dataclass
class ReconcileReport:
    busy: bool = False  # a live purge holds the lease: its calls are its own
    deleted: int = 0  # marked calls whose file was gone: tombstones confirmed
    restored: int = 0  # marked calls whose file was still there: complete again
    runs: list[int] = field(default_factory=list)  # runs found running and ended as interrupted
    problem: str = ""  # reconcile could not run (e.g. a read-only data folder)

    @property
    def changed(self) -> bool:
        return bool(self.deleted or self.restored or self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "busy": self.busy,
            "deleted": self.deleted,
            "restored": self.restored,
            "runs": self.runs,
            "problem": self.problem,
        }


@dataclass
class StepTimes:
    """Where a purge's database time went (seconds of wall time, summed over its steps)."""

    marking: float = 0.0  # the mark statements (the audit entries are chained meanwhile)
    sealing: float = 0.0  # chaining the audit entries (on the event loop, overlapping marking)
    waiting: float = 0.0  # the writer waiting for the chained entries after marking
    recording: float = 0.0  # inserting the audit entries, journal row and counters


ReadDisk = Callable[[Sequence[Marked]], Awaitable[Outcome]]
T = TypeVar("T")
SEAL_WAIT = 120  # seconds a step waits for its audit entries to be chained elsewhere
CHECKPOINT_EVERY = 3  # steps (a step writes ~350 pages to the log at the default batch size)


def disk_outcome(spool: Path, marked: Sequence[Marked]) -> Outcome:
    """What the disk says about marked calls (after a crash): there or not."""
    out = Outcome()
    for m in marked:
        (out.kept if os.path.lexists(spool / m.path) else out.absent).append(m)
    return out


def deleted_detail(
    call_id: int, instruction: str, run: int, size: int, *, absent: bool = False, reconciled: bool = False
) -> str:
    """The detail of a purge.deleted audit entry, laid out as audit.canonical() lays out
    {"call_id", "instruction", "run", "size"[, "absent"][, "reconciled"]} (sorted keys, no
    spaces); written directly because a purge writes one per deleted call. `instruction` is the
    number as JSON (encode it once per run: json.dumps(number, ensure_ascii=False))."""
    return (
        "{"
        + ('"absent":true,' if absent else "")
        + f'"call_id":{call_id:d},"instruction":{instruction},'
        + ('"reconciled":true,' if reconciled else "")
        + f'"run":{run:d},"size":{size:d}}}'
    )


# Given the audit log's head in a step's transaction: the step's audit rows, chained elsewhere.
Chain = Callable[[Head], "concurrent.futures.Future[list[tuple[Any, ...]]]"]


def wal_of(database: Path) -> Path:
    """The database's write-ahead log: where a commit is, until SQLite moves it into the database
    (syncing both) at a checkpoint."""
    return database.with_name(database.name + "-wal")


class JournalWriter:
    """The journal's writes, on a sqlite3 connection of the purge's own, used from one thread:
    a step (a transaction of several statements) is one hand-over to that thread, not one per
    statement. SQLite serialises it with every other writer as it does another process's.

    A mark must be on disk before any of its files go (else a power cut could leave deleted
    files' calls 'complete'). The commit itself does not wait for the disk (synchronous =
    NORMAL): whoever deletes the batch's files first syncs the write-ahead log (`wal_of`), which
    makes every commit before it durable — off this thread, beside the next step's work."""

    def __init__(self, path: Path, audit: AuditLog) -> None:
        self.path = path
        self.audit = audit
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer's job
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def step(
        self,
        run: Run,
        at: datetime,
        *,
        settle: Sequence[tuple[Batch, Outcome]] = (),
        mark: Sequence[Marked] = (),
        cutoff: date | None = None,
        actor: str | None = None,
        reconciled: bool = False,
        chain: Chain | None = None,
        times: StepTimes | None = None,
    ) -> tuple[int, Batch]:
        """One transaction: settle batches whose files have been deleted (step 3) and mark the
        next (step 1), or either alone. `chain(head)` has the settled batches' audit entries made
        and chained elsewhere (the purge's event loop: `deleted_rows`) while SQLite marks here;
        without it they are made here. Returns (deletions recorded, the batch marked)."""
        conn = self._conn
        assert conn is not None, "JournalWriter.open() first"
        times = times if times is not None else StepTimes()
        actor = actor or run.actor
        conn.execute("BEGIN IMMEDIATE")
        try:
            outcome = joined([o for _, o in settle])
            head = self.audit.head_sync(conn) if outcome.gone or outcome.absent else None
            sealed = chain(head) if head is not None and chain is not None else None
            began = time.perf_counter()
            marked = Batch(None, [])
            if mark:
                assert cutoff is not None
                marked = self._mark(conn, run, mark, cutoff, at)
                testpoints.pause("in_mark_tx")
            times.marking += time.perf_counter() - began
            deleted = 0
            if settle:
                began = time.perf_counter()
                rows: list[tuple[Any, ...]] = []
                if sealed is not None:
                    try:
                        rows = sealed.result(SEAL_WAIT)
                    except concurrent.futures.TimeoutError:  # the loop is stuck: chain them here
                        sealed = None
                if head is not None and sealed is None:
                    rows = deleted_rows(self.audit, head, run, outcome, at, actor, reconciled)
                times.waiting += time.perf_counter() - began
                began = time.perf_counter()
                self.audit.insert_sealed_sync(conn, rows)
                deleted = sum(self._settled(conn, run, b, o) for b, o in settle)
                if outcome.refused:
                    self._refused(conn, run, outcome.refused, at, actor)
                times.recording += time.perf_counter() - began
                testpoints.pause("in_settle_tx")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return deleted, marked

    @staticmethod
    def _mark(
        conn: sqlite3.Connection, run: Run, batch: Sequence[Marked], cutoff: date, at: datetime
    ) -> Batch:
        """Step 1: re-check every call of the batch (state, date, holds, open instructions);
        those still deletable become tombstones and are listed in one journal row."""
        ids = json.dumps([m.id for m in batch])
        # NOT INDEXED: look the batch up by id; the planner would otherwise walk every expired call
        cur = conn.execute(
            "UPDATE calls AS c NOT INDEXED SET state = 'purged', purged_at = :at, purged_by = :by,"
            " purge_instruction_id = :ins"
            f" WHERE c.id IN (SELECT value FROM json_each(:ids)) AND {ELIGIBLE}",
            {
                "at": to_epoch(at),
                "by": run.actor,
                "ins": run.instruction_id,
                "ids": ids,
                "cutoff": cutoff.isoformat(),
            },
        )
        if cur.rowcount == len(batch):
            marked = list(batch)
        else:  # some were no longer deletable: which were marked, then
            chosen = {
                r[0]
                for r in conn.execute(
                    "SELECT id FROM calls WHERE id IN (SELECT value FROM json_each(?))"
                    " AND state = 'purged' AND purged_at = ? AND purge_instruction_id = ?",
                    (ids, to_epoch(at), run.instruction_id),
                )
            }
            marked = [m for m in batch if m.id in chosen]
        if not marked:
            return Batch(None, [])
        cur = conn.execute(
            "INSERT INTO purge_journal (run_id, calls, marked_at) VALUES (?, ?, ?)",
            (run.id, json.dumps([m.id for m in marked]), to_epoch(at)),
        )
        return Batch(cur.lastrowid, marked)

    def _refused(
        self,
        conn: sqlite3.Connection,
        run: Run,
        refused: Sequence[tuple[Marked, str]],
        at: datetime,
        actor: str,
    ) -> None:
        """Calls whose file was kept as not provably theirs: marked (calls.purge_kept), one
        purge.kept entry each. _settled has made them 'complete' again."""
        conn.executemany("UPDATE calls SET purge_kept = ? WHERE id = ?", [(why, m.id) for m, why in refused])
        rows, _ = self.audit.seal(
            self.audit.head_sync(conn),
            [
                Entry(
                    at,
                    actor,
                    Action.PURGE_KEPT,
                    m.path,
                    {"call_id": m.id, "instruction": run.number, "run": run.id, "reason": why},
                )
                for m, why in refused
            ],
        )
        self.audit.insert_sealed_sync(conn, rows)

    @staticmethod
    def _settled(conn: sqlite3.Connection, run: Run, batch: Batch, outcome: Outcome) -> int:
        """Step 3 after the audit entries: calls still there are 'complete' again, the journal row
        goes, the run counts the deletions. Returns their number."""
        still = [*outcome.kept, *(m for m, _ in outcome.refused)]
        if still:
            conn.execute(
                "UPDATE calls NOT INDEXED SET state = 'complete', purged_at = NULL,"
                " purged_by = NULL, purge_instruction_id = NULL"
                " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'purged'",
                (json.dumps([m.id for m in still]),),
            )
        if batch.journal_id is not None:
            conn.execute("DELETE FROM purge_journal WHERE id = ?", (batch.journal_id,))
        deleted = [*outcome.gone, *outcome.absent]
        if run.id:
            conn.execute(
                "UPDATE purge_runs SET deleted = deleted + ?, deleted_bytes = deleted_bytes + ? WHERE id = ?",
                (len(deleted), sum(m.size for m in deleted), run.id),
            )
        return len(deleted)


def joined(outcomes: Sequence[Outcome]) -> Outcome:
    """Several batches' outcomes as one (in order), for the audit entries of one settling."""
    if len(outcomes) == 1:
        return outcomes[0]
    out = Outcome()
    for o in outcomes:
        out.gone += o.gone
        out.absent += o.absent
        out.kept += o.kept
        out.refused += o.refused
    return out


def deleted_rows(
    audit: AuditLog,
    head: Head,
    run: Run,
    outcome: Outcome,
    at: datetime,
    actor: str,
    reconciled: bool = False,
) -> list[tuple[Any, ...]]:
    """The purge.deleted audit rows for a batch's deleted calls, chained onto `head`."""
    number = json.dumps(run.number, ensure_ascii=False)
    if reconciled:
        items = [
            (m.path, deleted_detail(m.id, number, run.id, m.size, reconciled=True)) for m in outcome.gone
        ]
    else:  # the common case, laid out as deleted_detail does, the constant parts once
        common = '{"call_id":%d,"instruction":' + number.replace("%", "%%") + f',"run":{run.id:d},"size":%d}}'
        items = [(m.path, common % (m.id, m.size)) for m in outcome.gone]
    items += [
        (m.path, deleted_detail(m.id, number, run.id, m.size, absent=True, reconciled=reconciled))
        for m in outcome.absent
    ]
    return audit.seal_uniform(head, at, actor, Action.PURGE_DELETED, items)[0]


class Checkpointer:
    """Moves the write-ahead log into the database (a PASSIVE checkpoint: it waits for no one) on a
    thread and a connection of its own while the purge goes on. The writer's commits never do it
    (wal_autocheckpoint = 0), so copying pages and syncing the database file stay off its path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="callrec-ckpt")
        self._conn: sqlite3.Connection | None = None
        self._running: concurrent.futures.Future[None] | None = None

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # housekeeping: the next checkpoint (anyone's) does it

    def poke(self) -> None:
        """Start a checkpoint unless one is running."""
        if self._running is None or self._running.done():
            self._running = self._thread.submit(self._checkpoint)

    async def finish(self) -> None:
        """A last checkpoint after the running one; then the connection is closed."""

        def last() -> None:
            self._checkpoint()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.shield(asyncio.wrap_future(self._thread.submit(last)))
        self._thread.shutdown(wait=False)


class PurgeJournal:
    def __init__(
        self, db: Database, audit: AuditLog, instructions: Instructions, spool: Path, clock: Clock
    ) -> None:
        self.db = db
        self.audit = audit
        self.instructions = instructions
        self.spool = spool
        self.clock = clock
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="callrec-journal")
        self._writer: JournalWriter | None = None
        self._checkpointer: Checkpointer | None = None
        self._steps = 0

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    async def _in_writer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the writer's thread. If the caller is cancelled meanwhile, the work is
        let finish first (awaited, never waited for by blocking the event loop: a step may be
        waiting for the loop to chain its audit entries)."""
        work = asyncio.wrap_future(self._thread.submit(functools.partial(fn, *args, **kwargs)))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await work
            raise

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """The writer's connection, open for a purge or a reconcile (and only then)."""
        if self._writer is not None:
            yield  # already open (a purge settling its leftovers)
            return
        writer = JournalWriter(self.db.path, self.audit)
        await self._in_writer(writer.open)
        self._writer = writer
        self._checkpointer = Checkpointer(self.db.path)
        try:
            yield
        finally:
            self._writer = None
            try:
                await self._in_writer(writer.close)
            finally:
                checkpointer, self._checkpointer = self._checkpointer, None
                await checkpointer.finish()

    async def step(self, run: Run, at: datetime, **kwargs: Any) -> tuple[int, Batch]:
        """JournalWriter.step on the writer's thread, inside `writing()`."""
        assert self._writer is not None and self._checkpointer is not None, (
            "inside `async with journal.writing()` only"
        )
        done = await self._in_writer(self._writer.step, run, at, **kwargs)
        self._steps += 1
        if self._steps % CHECKPOINT_EVERY == 0:
            self._checkpointer.poke()
        return done

    async def pending(self, run_id: int | None = None) -> list[tuple[Run, Batch]]:
        """Journal rows not yet settled (of one run, or all), oldest first, with their calls."""
        where = "WHERE p.run_id = ?" if run_id is not None else ""
        rows = await self.db.fetchall(
            "SELECT p.id, p.calls, r.id AS run, r.instruction_id, i.number, r.actor"
            " FROM purge_journal p JOIN purge_runs r ON r.id = p.run_id"
            f" JOIN instructions i ON i.id = r.instruction_id {where} ORDER BY p.id",
            (run_id,) if run_id is not None else (),
        )
        out = []
        for r in rows:
            calls = {
                c["id"]: c
                for c in await self.db.fetchall(
                    "SELECT id, path, size FROM calls WHERE id IN (SELECT value FROM json_each(?))"
                    " AND state = 'purged'",
                    (r["calls"],),
                )
            }
            marked = [
                Marked(i, calls[i]["path"], calls[i]["size"]) for i in json.loads(r["calls"]) if i in calls
            ]
            out.append((Run(r["run"], r["instruction_id"], r["number"], r["actor"]), Batch(r["id"], marked)))
        return out

    async def pending_ids(self) -> set[int]:
        """Every call whose deletion is pending (marked, not yet settled)."""
        return {r[0] for r in await self.db.fetchall(PENDING_IDS)}

    async def settle_pending(
        self, read_disk: ReadDisk, *, run_id: int | None = None, reconciled: bool = True
    ) -> tuple[int, int]:
        """Settle every pending journal row (of one run, or all) from what the disk says.
        Returns (deletions recorded, calls restored)."""
        deleted = restored = 0
        pending = await self.pending(run_id)
        if not pending:
            return 0, 0
        async with self.writing():
            for run, batch in pending:
                outcome = await read_disk(batch.calls)
                done, _ = await self.step(
                    run,
                    self.clock.now(),
                    settle=[(batch, outcome)],
                    actor=SYSTEM if reconciled else run.actor,
                    reconciled=reconciled,
                )
                deleted += done
                restored += len(outcome.kept)
        return deleted, restored

    async def adopt_legacy(self) -> None:
        """Calls left 'purging' by a purge of the earlier design (killed before this version was
        installed) become pending tombstones in the journal, so they are settled the same way."""
        rows = await self.db.fetchall(
            "SELECT purge_instruction_id AS ins, json_group_array(id) AS ids FROM calls"
            " WHERE state = 'purging' GROUP BY purge_instruction_id"
        )
        for r in rows:
            at = to_epoch(self.clock.now())
            async with self.db.transaction() as conn:
                cur = await conn.execute(
                    "SELECT id, actor FROM purge_runs WHERE instruction_id = ? ORDER BY id DESC LIMIT 1",
                    (r["ins"],),
                )
                run = await cur.fetchone()
                if run is None:  # no run to account it to: put the calls back as they were
                    await conn.execute(
                        "UPDATE calls SET state = 'complete', purge_instruction_id = NULL"
                        " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'purging'",
                        (r["ids"],),
                    )
                    continue
                cur = await conn.execute(
                    "UPDATE calls SET state = 'purged', purged_at = ?, purged_by = ?"
                    " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'purging'"
                    " RETURNING id",
                    (at, run["actor"], r["ids"]),
                )
                ids = [x[0] for x in await cur.fetchall()]
                await conn.execute(
                    "INSERT INTO purge_journal (run_id, calls, marked_at) VALUES (?, ?, ?)",
                    (run["id"], json.dumps(ids), at),
                )

    async def needs_reconcile(self) -> bool:
        return bool(
            await self.db.scalar(
                "SELECT EXISTS (SELECT 1 FROM purge_journal)"
                " OR EXISTS (SELECT 1 FROM purge_runs WHERE state = 'running')"
                " OR EXISTS (SELECT 1 FROM calls WHERE state = 'purging')"
            )
        )

    async def reconcile_locked(self, *, read_disk: ReadDisk, cutoff: date) -> ReconcileReport:
        """Settle what a killed purge left. The caller holds the purge lease (so no live purge owns
        these calls) and passes `read_disk(marked) -> Outcome`, run off the event loop, and the
        real clock's cutoff. A run killed with nothing left to delete is finished (its instruction
        done); otherwise it is interrupted and its instruction goes back to issued."""
        report = ReconcileReport()
        await self.adopt_legacy()
        report.deleted, report.restored = await self.settle_pending(read_disk)
        at = self.clock.now()
        running = await self.db.fetchall(
            "SELECT r.id, r.instruction_id, r.deleted, r.deleted_bytes FROM purge_runs r"
            " WHERE r.state = 'running' ORDER BY r.id"
        )
        left = bool(
            await self.db.scalar(
                f"SELECT EXISTS (SELECT 1 FROM calls c WHERE {ELIGIBLE})", {"cutoff": cutoff.isoformat()}
            )
        )
        for r in running:
            ins = await self.instructions.get(r["instruction_id"])
            detail = {
                "run": r["id"],
                "deleted": r["deleted"],
                "deleted_bytes": r["deleted_bytes"],
                "reconciled": True,
            }
            async with self.db.transaction() as conn:
                if left:
                    state, problem = "interrupted", "the process ended before the purge finished"
                    await self.audit.append(
                        conn,
                        at=at,
                        actor=SYSTEM,
                        action=Action.PURGE_INTERRUPTED,
                        subject=ins.number,
                        detail={**detail, "reason": "process ended"},
                    )
                    if ins.state == State.IN_PROGRESS:
                        await self.instructions.transition(
                            conn,
                            ins,
                            State.ISSUED,
                            SYSTEM,
                            Action.INSTRUCTION_REOPENED,
                            {"reason": "purge interrupted", "run": r["id"]},
                        )
                else:
                    state, problem = "finished", "the process ended after the last deletion"
                    await self.audit.append(
                        conn,
                        at=at,
                        actor=SYSTEM,
                        action=Action.PURGE_FINISHED,
                        subject=ins.number,
                        detail=detail,
                    )
                    if ins.state == State.IN_PROGRESS:
                        await self.instructions.transition(
                            conn,
                            ins,
                            State.DONE,
                            SYSTEM,
                            Action.INSTRUCTION_DONE,
                            {"run": r["id"], "reconciled": True},
                        )
                await conn.execute(
                    "UPDATE purge_runs SET state = ?, ended_at = ?, problem = ?"
                    " WHERE id = ? AND state = 'running'",
                    (state, to_epoch(at), problem, r["id"]),
                )
            report.runs.append(r["id"])
        return report
