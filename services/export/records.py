"""What an export is as the faces see it: the plan to confirm, and the stored record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from services.calls import Call
from services.core.clock import from_epoch
from services.export.media import MediumSpec
from services.export.plan import Target, Volume
from services.instructions.store import Instruction
from services.retention.rules import output_kept_through

RECORD_COLUMNS = (
    "id, instruction_id, state, target, destination, medium, volumes, calls, bytes,"
    " started_at, started_by, finished_at, written_on, audit_head, error"
)


@dataclass(frozen=True)
class ExportPlan:
    """What an export will do, for the operator to confirm. Nothing has been written yet."""

    instruction: Instruction
    calls: tuple[Call, ...]
    target: Target
    medium: MediumSpec
    capacity: int | None  # bytes one disc takes; None for a folder
    free: int | None  # bytes free at the destination, where it can be known
    volumes: tuple[Volume, ...]
    described: bool  # the calls were resolved from the instruction's description

    @property
    def recordings_bytes(self) -> int:
        return sum(c.size for c in self.calls)

    @property
    def total_bytes(self) -> int:
        return sum(v.size for v in self.volumes)

    def to_json(self) -> dict[str, Any]:
        return {
            "instruction": self.instruction.number,
            "medium": self.medium.code,
            "target": self.target.kind.value,
            "destination": self.target.location,
            "calls": [c.id for c in self.calls],
            "described": self.described,
            "recordings_bytes": self.recordings_bytes,
            "total_bytes": self.total_bytes,
            "capacity": self.capacity,
            "volumes": [
                {
                    "seq": v.seq,
                    "label": v.label,
                    "location": v.location,
                    "size": v.size,
                    "calls": [c.id for c in v.calls],
                }
                for v in self.volumes
            ],
        }


@dataclass(frozen=True)
class MediumRecord:
    seq: int
    count: int
    label: str
    location: str
    size: int
    files: int
    calls: int
    image_sha256: str | None
    written_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "count": self.count,
            "label": self.label,
            "location": self.location,
            "size": self.size,
            "files": self.files,
            "calls": self.calls,
            "image_sha256": self.image_sha256,
            "written_at": self.written_at.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class ExportRecord:
    """An export as stored: every attempt is kept, finished or not."""

    id: int
    instruction_id: int
    state: str
    target: str
    destination: str
    medium: str
    volumes: int
    calls: int
    bytes: int
    started_at: datetime
    started_by: str
    finished_at: datetime | None
    written_on: date | None
    audit_head: str | None
    error: str | None
    media: tuple[MediumRecord, ...] = ()

    @property
    def kept_through(self) -> date | None:
        return output_kept_through(self.written_on) if self.written_on else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instruction_id": self.instruction_id,
            "state": self.state,
            "target": self.target,
            "destination": self.destination,
            "medium": self.medium,
            "volumes": self.volumes,
            "calls": self.calls,
            "bytes": self.bytes,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": self.finished_at.isoformat(timespec="seconds") if self.finished_at else None,
            "written_on": self.written_on.isoformat() if self.written_on else None,
            "kept_through": self.kept_through.isoformat() if self.kept_through else None,
            "kept_through_counted_from": "the day the output data was written (翌年度末)",
            "audit_head": self.audit_head,
            "error": self.error,
            "media": [m.to_json() for m in self.media],
        }


def load_record(row: Any, media: list[Any], tz: tzinfo) -> ExportRecord:
    """An ExportRecord from its exports row (RECORD_COLUMNS) and its media rows."""
    return ExportRecord(
        id=row["id"],
        instruction_id=row["instruction_id"],
        state=row["state"],
        target=row["target"],
        destination=row["destination"],
        medium=row["medium"],
        volumes=row["volumes"],
        calls=row["calls"],
        bytes=row["bytes"],
        started_at=from_epoch(row["started_at"], tz),
        started_by=row["started_by"],
        finished_at=from_epoch(row["finished_at"], tz) if row["finished_at"] else None,
        written_on=date.fromisoformat(row["written_on"]) if row["written_on"] else None,
        audit_head=row["audit_head"],
        error=row["error"],
        media=tuple(
            MediumRecord(
                m["seq"],
                m["count"],
                m["label"],
                m["location"],
                m["size"],
                m["files"],
                m["calls"],
                m["image_sha256"],
                from_epoch(m["written_at"], tz),
            )
            for m in media
        ),
    )
