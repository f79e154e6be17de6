"""The purge journal: how a purge records what it is about to delete, and how that is settled.

The journal is the index itself. A batch is
  1. marked: in one transaction the calls still deletable are set to state 'purging' (with the
     instruction id); the indexer leaves such calls alone;
  2. deleted on disk (unlink, then fsync of each folder);
  3. settled: in one transaction each marked call whose file is gone becomes a 'purged' tombstone
     (metadata and hash kept; when, by whom, under which instruction) with one audit entry, and a
     call whose file is still there goes back to 'complete'.
A process killed anywhere leaves calls in 'purging' and its run 'running'; `reconcile` settles them
from what the disk says, so nothing is reported deleted that is still there and no deleted call is
ever left 'missing'.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from services.audit import SYSTEM, Action, AuditLog, Entry
from services.clock import Clock, to_epoch
from services.db import Database
from services.instructions import Instructions, State
from services.retention_status import ELIGIBLE


@dataclass(frozen=True, slots=True)
class Marked:
    """A call of a purge plan: marked (state 'purging') before its file is deleted."""

    id: int
    path: str
    size: int


@dataclass
class Outcome:
    """What happened on disk to a batch of marked calls."""

    gone: list[Marked] = field(default_factory=list)  # unlinked now
    absent: list[Marked] = field(default_factory=list)  # already not there
    kept: list[Marked] = field(default_factory=list)  # still there (could not be deleted)
    problem: str = ""


@dataclass(frozen=True)
class Run:
    id: int
    instruction_id: int
    number: str
    actor: str


@dataclass
class ReconcileReport:
    busy: bool = False  # a live purge holds the lease: its calls are its own
    deleted: int = 0  # marked calls whose file was gone: now tombstones
    restored: int = 0  # marked calls whose file was still there: complete again
    runs: list[int] = field(default_factory=list)  # runs found running and ended as interrupted
    problem: str = ""  # reconcile could not run (e.g. a read-only data folder)

    @property
    def changed(self) -> bool:
        return bool(self.deleted or self.restored or self.runs)

    def to_json(self) -> dict[str, Any]:
        return {"busy": self.busy, "deleted": self.deleted, "restored": self.restored,
                "runs": self.runs, "problem": self.problem}


def unlink_all(spool: Path, marked: Sequence[Marked]) -> Outcome:
    """Delete the files of a marked batch, then fsync their folders so the deletions are on disk
    before they are recorded. Never raises for a file: what failed stays, and is reported."""
    out = Outcome()
    folders: set[str] = set()
    root = os.fspath(spool)
    for m in marked:
        try:
            os.unlink(f"{root}/{m.path}")
        except FileNotFoundError:
            out.absent.append(m)
            continue
        except OSError as exc:
            out.kept.append(m)
            out.problem = out.problem or f"{m.path}: {exc.strerror}"
            continue
        out.gone.append(m)
        folders.add(m.path.rpartition("/")[0])
    for folder in folders:
        fsync_folder(spool / folder if folder else spool)
    return out


def fsync_folder(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def disk_outcome(spool: Path, marked: Sequence[Marked]) -> Outcome:
    """What the disk says about marked calls (after a crash): there or not."""
    out = Outcome()
    for m in marked:
        (out.kept if os.path.lexists(spool / m.path) else out.absent).append(m)
    return out


class PurgeJournal:
    def __init__(self, db: Database, audit: AuditLog, instructions: Instructions, spool: Path,
                 clock: Clock) -> None:
        self.db = db
        self.audit = audit
        self.instructions = instructions
        self.spool = spool
        self.clock = clock

    async def mark_in(self, conn: aiosqlite.Connection, run: Run, batch: Sequence[Marked],
                      cutoff: date) -> list[Marked]:
        """Step 1, inside the caller's write transaction: re-check every call of the batch (state,
        date, holds, open instructions) and mark those still deletable."""
        ids = json.dumps([m.id for m in batch])
        # NOT INDEXED: look the batch up by id; the planner would otherwise walk every expired call
        cur = await conn.execute(
            "UPDATE calls AS c NOT INDEXED SET state = 'purging', purge_instruction_id = :ins"
            f" WHERE c.id IN (SELECT value FROM json_each(:ids)) AND {ELIGIBLE}",
            {"ins": run.instruction_id, "ids": ids, "cutoff": cutoff.isoformat()},
        )
        if cur.rowcount == len(batch):
            return list(batch)
        cur = await conn.execute(
            "SELECT id FROM calls WHERE id IN (SELECT value FROM json_each(?))"
            " AND state = 'purging' AND purge_instruction_id = ?", (ids, run.instruction_id),
        )
        marked = {r[0] for r in await cur.fetchall()}
        return [m for m in batch if m.id in marked]

    async def settle(self, conn: aiosqlite.Connection, run: Run, outcome: Outcome, at: datetime,
                     *, actor: str, reconciled: bool = False) -> int:
        """Step 3, inside the caller's transaction: tombstones and audit entries for the calls whose
        file is gone, 'complete' again for those still there. Returns the number of tombstones."""
        deleted = [*outcome.gone, *outcome.absent]
        head = await self.audit.head_in(conn)
        if deleted:
            ids = json.dumps([m.id for m in deleted])
            update = asyncio.ensure_future(conn.execute(
                "UPDATE calls NOT INDEXED SET state = 'purged', purged_at = ?, purged_by = ?"
                " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'purging'",
                (to_epoch(at), run.actor, ids),
            ))
            # chain the audit entries while the database thread writes the tombstones
            rows, _ = self.audit.seal(head, self._entries(run, outcome, deleted, at, actor,
                                                          reconciled))
            cur = await update
            if cur.rowcount != len(deleted):  # only the lease holder moves 'purging' rows
                cur = await conn.execute(
                    "SELECT id FROM calls WHERE id IN (SELECT value FROM json_each(?))"
                    " AND state = 'purged' AND purged_at = ?", (ids, to_epoch(at)))
                done = {r[0] for r in await cur.fetchall()}
                deleted = [m for m in deleted if m.id in done]
                rows, _ = self.audit.seal(head, self._entries(run, outcome, deleted, at, actor,
                                                              reconciled))
            await self.audit.insert_sealed(conn, rows)
        if outcome.kept:
            await conn.execute(
                "UPDATE calls NOT INDEXED SET state = 'complete', purge_instruction_id = NULL"
                " WHERE id IN (SELECT value FROM json_each(?)) AND state = 'purging'",
                (json.dumps([m.id for m in outcome.kept]),),
            )
        await conn.execute(
            "UPDATE purge_runs SET deleted = deleted + ?, deleted_bytes = deleted_bytes + ?"
            " WHERE id = ?", (len(deleted), sum(m.size for m in deleted), run.id),
        )
        return len(deleted)

    @staticmethod
    def _entries(run: Run, outcome: Outcome, deleted: Sequence[Marked], at: datetime, actor: str,
                 reconciled: bool) -> list[Entry]:
        absent = {m.id for m in outcome.absent}
        entries = []
        for m in deleted:
            detail: dict[str, Any] = {"call_id": m.id, "instruction": run.number, "run": run.id,
                                      "size": m.size}
            if m.id in absent:
                detail["absent"] = True  # the file was already gone when the purge reached it
            if reconciled:
                detail["reconciled"] = True
            entries.append(Entry(at, actor, Action.PURGE_DELETED, m.path, detail))
        return entries

    async def settle_marked(self, read_disk: Any, *, instruction_id: int | None = None,
                            reconciled: bool = True) -> tuple[int, int]:
        """Settle every call still marked (of one instruction, or all) from what the disk says.
        Returns (tombstones made, calls restored)."""
        where = "state = 'purging'" + (" AND purge_instruction_id = ?" if instruction_id else "")
        rows = await self.db.fetchall(
            f"SELECT id, path, size, purge_instruction_id FROM calls WHERE {where}",
            (instruction_id,) if instruction_id else (),
        )
        by_instruction: dict[int, list[Marked]] = {}
        for r in rows:
            by_instruction.setdefault(r["purge_instruction_id"], []).append(
                Marked(r["id"], r["path"], r["size"]))
        deleted = restored = 0
        at = self.clock.now()
        for ins_id, marked in by_instruction.items():
            run = await self.run_of(ins_id) or Run(0, ins_id, "", SYSTEM)
            outcome: Outcome = await read_disk(marked)
            async with self.db.transaction() as conn:
                deleted += await self.settle(conn, run, outcome, at,
                                             actor=SYSTEM if reconciled else run.actor,
                                             reconciled=reconciled)
                restored += len(outcome.kept)
        return deleted, restored

    async def run_of(self, instruction_id: int) -> Run | None:
        row = await self.db.fetchone(
            "SELECT r.id, r.instruction_id, i.number, r.actor FROM purge_runs r"
            " JOIN instructions i ON i.id = r.instruction_id"
            " WHERE r.instruction_id = ? ORDER BY r.id DESC LIMIT 1", (instruction_id,),
        )
        return Run(row[0], row[1], row[2], row[3]) if row else None

    async def needs_reconcile(self) -> bool:
        return bool(await self.db.scalar(
            "SELECT EXISTS (SELECT 1 FROM calls WHERE state = 'purging')"
            " OR EXISTS (SELECT 1 FROM purge_runs WHERE state = 'running')"
        ))

    async def reconcile_locked(self, *, read_disk: Any, cutoff: date) -> ReconcileReport:
        """Settle what a killed purge left. The caller holds the purge lease (so no live purge owns
        these calls) and passes `read_disk(marked) -> Outcome`, run off the event loop, and the
        real clock's cutoff. A run killed with nothing left to delete is finished (its instruction
        done); otherwise it is interrupted and its instruction goes back to issued."""
        report = ReconcileReport()
        report.deleted, report.restored = await self.settle_marked(read_disk)
        at = self.clock.now()
        running = await self.db.fetchall(
            "SELECT r.id, r.instruction_id, r.deleted, r.deleted_bytes FROM purge_runs r"
            " WHERE r.state = 'running' ORDER BY r.id"
        )
        left = bool(await self.db.scalar(
            f"SELECT EXISTS (SELECT 1 FROM calls c WHERE {ELIGIBLE})", {"cutoff": cutoff.isoformat()}
        ))
        for r in running:
            ins = await self.instructions.get(r["instruction_id"])
            detail = {"run": r["id"], "deleted": r["deleted"], "deleted_bytes": r["deleted_bytes"],
                      "reconciled": True}
            async with self.db.transaction() as conn:
                if left:
                    state, problem = "interrupted", "the process ended before the purge finished"
                    await self.audit.append(
                        conn, at=at, actor=SYSTEM, action=Action.PURGE_INTERRUPTED,
                        subject=ins.number, detail={**detail, "reason": "process ended"})
                    if ins.state == State.IN_PROGRESS:
                        await self.instructions.transition(
                            conn, ins, State.ISSUED, SYSTEM, Action.INSTRUCTION_REOPENED,
                            {"reason": "purge interrupted", "run": r["id"]})
                else:
                    state, problem = "finished", "the process ended after the last deletion"
                    await self.audit.append(
                        conn, at=at, actor=SYSTEM, action=Action.PURGE_FINISHED,
                        subject=ins.number, detail=detail)
                    if ins.state == State.IN_PROGRESS:
                        await self.instructions.transition(
                            conn, ins, State.DONE, SYSTEM, Action.INSTRUCTION_DONE,
                            {"run": r["id"], "reconciled": True})
                await conn.execute(
                    "UPDATE purge_runs SET state = ?, ended_at = ?, problem = ?"
                    " WHERE id = ? AND state = 'running'", (state, to_epoch(at), problem, r["id"]),
                )
            report.runs.append(r["id"])
        return report
