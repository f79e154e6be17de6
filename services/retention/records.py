"""What a purge plans, reports as it goes, and returns (services/retention/engine.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.instructions.store import Instruction
from services.jobs import ProgressCallback as JobProgress
from services.retention.journal import Marked, ReconcileReport, StepTimes


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


ProgressCallback = JobProgress[PurgeProgress]


@dataclass
class PurgeTimings:
    """Where a purge's time went (seconds of wall time; the deleting overlaps the database)."""

    database: float = 0.0  # the transactions that mark and settle, commits (and syncs) included
    deleting: float = 0.0  # in the helper process (or the file thread): the unlinks
    syncing: float = 0.0  # the deleted files' folders synced, emptied ones removed (file thread)
    waiting: float = 0.0  # the database side waiting for deletions
    steps: StepTimes = field(default_factory=StepTimes)  # inside the transactions


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
