"""The output-data register (出力データ管理簿): output data is a public document (第4条4).

The manager records receipt of a submitted export (第5条2): an entry with the instruction, purpose,
media, the day the output data was written, and its retention — through the end of the fiscal year
after the one it was written in (翌年度末, 第4条6(2)), counted from the day it was written, unless the
manager sets otherwise: an extension, with a reason. When that date has passed the entry is due for
disposal, and the manager records the disposal (date, method, witness).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.core import testpoints
from services.core.clock import Clock, from_epoch, to_epoch
from services.core.db import Database
from services.core.errors import CallrecError, Conflict, NotFound
from services.core.text import visible
from services.export.media import MEDIA_SPECS
from services.export.records import ExportRecord
from services.export.service import Exports
from services.instructions.store import Instruction, Instructions, Kind, State
from services.retention.rules import deletable_from, is_expired, output_kept_through

COUNTED_FROM = "翌年度末: the end of the fiscal year after the one the output data was written in"


class Status(StrEnum):
    KEPT = "kept"
    DUE = "due"  # past its date: due for disposal
    DISPOSED = "disposed"


@dataclass(frozen=True)
class Extension:
    previous: date
    until: date
    reason: str
    at: datetime
    by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "previous": self.previous.isoformat(),
            "until": self.until.isoformat(),
            "reason": self.reason,
            "at": self.at.isoformat(timespec="seconds"),
            "by": self.by,
        }


@dataclass(frozen=True)
class RegisterEntry:
    id: int
    instruction_id: int
    number: str  # the instruction's number
    export_id: int
    purpose: str
    medium: str
    media_count: int
    written_on: date  # created: the day the output data was written
    received_at: datetime
    received_by: str
    kept_through: date
    custodian: str
    disposed_on: date | None
    disposal_method: str | None
    disposal_witness: str | None
    extensions: tuple[Extension, ...] = ()

    @property
    def standard_kept_through(self) -> date:
        return output_kept_through(self.written_on)

    @property
    def media_label(self) -> str:
        spec = MEDIA_SPECS.get(self.medium)
        label = spec.label if spec else self.medium
        return f"{label} × {self.media_count}" if self.media_count > 1 else label

    def status(self, now: datetime) -> Status:
        if self.disposed_on is not None:
            return Status.DISPOSED
        return Status.DUE if is_expired(self.kept_through, now) else Status.KEPT

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "instruction": self.number,
            "instruction_id": self.instruction_id,
            "export_id": self.export_id,
            "purpose": self.purpose,
            "medium": self.medium,
            "media_count": self.media_count,
            "written_on": self.written_on.isoformat(),
            "received_at": self.received_at.isoformat(timespec="seconds"),
            "kept_through": self.kept_through.isoformat(),
            "kept_through_counted_from": f"{self.written_on.isoformat()} ({COUNTED_FROM})",
            "extended": bool(self.extensions),
            "custodian": self.custodian,
            "status": self.status(now).value,
            "disposed_on": self.disposed_on.isoformat() if self.disposed_on else None,
            "disposal_method": self.disposal_method,
            "disposal_witness": self.disposal_witness,
            "extensions": [e.to_json() for e in self.extensions],
        }


def _text(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise CallrecError(f"{what} is required", code="missing_text", what=what)
    return text


class Register:
    def __init__(
        self, db: Database, audit: AuditLog, clock: Clock, instructions: Instructions, exports: Exports
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.instructions = instructions
        self.exports = exports

    async def awaiting_receipt(self, ref: str | int) -> tuple[Instruction, ExportRecord]:
        """The submitted instruction and its export, or why it cannot be received."""
        ins = await self.instructions.get(ref)
        if ins.kind != Kind.EXPORT:
            raise CallrecError(
                f"instruction {ins.number} is not an export instruction", code="not_export", number=ins.number
            )
        if ins.state != State.SUBMITTED:
            why = "received already" if ins.state == State.RECEIVED else f"{ins.state}, not submitted"
            raise Conflict(
                f"instruction {ins.number} is {why}",
                code="not_receivable",
                number=ins.number,
                state=ins.state,
            )
        return ins, await self.exports.submitted(ins.id)

    async def receive(self, actor: Actor, ref: str | int, *, custodian: str = "") -> RegisterEntry:
        """The manager received the medium and its 提出書: register the output data."""
        actor.require(Duty.RECEIVE_OUTPUT)
        ins, export = await self.awaiting_receipt(ref)
        assert export.written_on is not None
        kept = output_kept_through(export.written_on)
        now = self.clock.now()
        testpoints.pause("receipt_before_tx")
        async with self.db.transaction() as conn:
            await self.instructions.transition(
                conn,
                ins,
                State.RECEIVED,
                actor.role.value,
                Action.INSTRUCTION_RECEIVED,
                {"export": export.id},
            )
            cur = await conn.execute(
                "INSERT INTO register (instruction_id, export_id, purpose, medium, media_count,"
                " written_on, received_at, received_by, kept_through, custodian)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ins.id,
                    export.id,
                    ins.purpose or "",
                    export.medium,
                    len(export.media) or 1,
                    export.written_on.isoformat(),
                    to_epoch(now),
                    actor.role.value,
                    kept.isoformat(),
                    custodian.strip(),
                ),
            )
            reg_id = cur.lastrowid
            assert reg_id is not None
            await self.audit.append(
                conn,
                at=now,
                actor=actor.role.value,
                action=Action.REGISTER_CREATED,
                subject=str(reg_id),
                detail={
                    "instruction": ins.number,
                    "export": export.id,
                    "written_on": export.written_on.isoformat(),
                    "kept_through": kept.isoformat(),
                    "media": len(export.media),
                    "custodian": custodian.strip(),
                },
            )
            testpoints.pause("receipt_in_tx")
        testpoints.pause("receipt_after_commit")
        return await self.get(reg_id, fresh=True)

    async def extend(self, actor: Actor, reg_id: int, *, until: date, reason: str) -> RegisterEntry:
        """Keep the output data longer (第4条6(2) ただし書), with a reason."""
        actor.require(Duty.EXTEND_RETENTION)
        reason = _text(reason, "a reason")
        entry = await self.get(reg_id)
        self.check_extendable(entry)
        if until <= entry.kept_through:
            raise CallrecError(
                f"register entry {reg_id} is kept through {entry.kept_through}"
                " already; an extension goes beyond that date",
                code="not_later",
                register_id=reg_id,
            )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE register SET kept_through = ? WHERE id = ? AND kept_through = ?"
                " AND disposed_on IS NULL",
                (until.isoformat(), reg_id, entry.kept_through.isoformat()),
            )
            if cur.rowcount != 1:
                raise Conflict(
                    f"register entry {reg_id} was changed by someone else; look again",
                    code="register_moved",
                    register_id=reg_id,
                )
            await conn.execute(
                "INSERT INTO register_extensions (register_id, previous, until, reason, at, by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    reg_id,
                    entry.kept_through.isoformat(),
                    until.isoformat(),
                    reason,
                    to_epoch(now),
                    actor.role.value,
                ),
            )
            await self.audit.append(
                conn,
                at=now,
                actor=actor.role.value,
                action=Action.REGISTER_EXTENDED,
                subject=str(reg_id),
                detail={
                    "instruction": entry.number,
                    "previous": entry.kept_through.isoformat(),
                    "until": until.isoformat(),
                    "reason": reason,
                },
            )
        return await self.get(reg_id, fresh=True)

    async def dispose(
        self, actor: Actor, reg_id: int, *, method: str, witness: str, on: date | None = None
    ) -> RegisterEntry:
        """Record that the media were disposed of, once the retention has ended."""
        actor.require(Duty.DISPOSE_OUTPUT)
        method = _text(method, "the method of disposal")
        witness = _text(witness, "a witness")
        now = self.clock.now()
        await self.audit.check_clock(now)
        entry = await self.get(reg_id)
        day = self.check_disposable(entry, on)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE register SET disposed_on = ?, disposal_method = ?, disposal_witness = ?,"
                " disposed_at = ? WHERE id = ? AND disposed_on IS NULL AND kept_through = ?",
                (day.isoformat(), method, witness, to_epoch(now), reg_id, entry.kept_through.isoformat()),
            )
            if cur.rowcount != 1:
                raise Conflict(
                    f"register entry {reg_id} was changed by someone else; look again",
                    code="register_moved",
                    register_id=reg_id,
                )
            await self.audit.append(
                conn,
                at=now,
                actor=actor.role.value,
                action=Action.REGISTER_DISPOSED,
                subject=str(reg_id),
                detail={
                    "instruction": entry.number,
                    "disposed_on": day.isoformat(),
                    "method": method,
                    "witness": witness,
                    "kept_through": entry.kept_through.isoformat(),
                },
            )
        return await self.get(reg_id, fresh=True)

    def check_extendable(self, entry: RegisterEntry) -> None:
        """Refused for an entry disposed of (asked before the form, and again when extending)."""
        if entry.disposed_on is not None:
            raise Conflict(
                f"register entry {entry.id} was disposed of on {entry.disposed_on}",
                code="disposed",
                register_id=entry.id,
            )

    def check_disposable(self, entry: RegisterEntry, on: date | None = None) -> date:
        """The day of the disposal (today unless given), or why the entry may not be disposed of
        (yet): asked before the form, and again when recording the disposal."""
        self.check_extendable(entry)
        now = self.clock.now()
        today = now.astimezone(self.clock.tz).date()
        day = on or today
        if day > today:
            raise CallrecError(f"the disposal date {day} is in the future", code="future_date")
        first = deletable_from(entry.kept_through, self.clock.tz).date()
        if not is_expired(entry.kept_through, now) or day < first:
            raise Conflict(
                f"register entry {entry.id} is kept through {entry.kept_through};"
                f" it may be disposed of from {first}",
                code="not_due",
                register_id=entry.id,
                kept_through=entry.kept_through.isoformat(),
                from_day=first.isoformat(),
            )
        return day

    async def get(self, reg_id: int, *, fresh: bool = False) -> RegisterEntry:
        """`fresh` right after this process wrote it (services/core/db.py)."""
        row = await self.db.fetchone(
            "SELECT r.*, i.number FROM register r JOIN instructions i ON i.id = r.instruction_id"
            " WHERE r.id = ?",
            (reg_id,),
            fresh=fresh,
        )
        if row is None:
            raise NotFound(f"no register entry {visible(reg_id)}", code="register_unknown")
        return await self._load(row, fresh=fresh)

    async def list(self, *, include_disposed: bool = True) -> list[RegisterEntry]:
        """Entries still kept first, by the date they are kept through; disposed ones last."""
        where = "" if include_disposed else "WHERE r.disposed_on IS NULL"
        rows = await self.db.fetchall(
            "SELECT r.*, i.number FROM register r JOIN instructions i ON i.id = r.instruction_id"
            f" {where} ORDER BY r.disposed_on IS NOT NULL, r.kept_through, r.id"
        )
        return [await self._load(r) for r in rows]

    async def due(self, now: datetime | None = None) -> builtins.list[RegisterEntry]:
        """Entries past their date and not yet disposed of: due for disposal."""
        at = now or self.clock.now()
        return [e for e in await self.list(include_disposed=False) if e.status(at) is Status.DUE]

    async def _load(self, row: Any, *, fresh: bool = False) -> RegisterEntry:
        tz = self.clock.tz
        ext = await self.db.fetchall(
            "SELECT * FROM register_extensions WHERE register_id = ? ORDER BY id", (row["id"],), fresh=fresh
        )
        return RegisterEntry(
            id=row["id"],
            instruction_id=row["instruction_id"],
            number=row["number"],
            export_id=row["export_id"],
            purpose=row["purpose"],
            medium=row["medium"],
            media_count=row["media_count"],
            written_on=date.fromisoformat(row["written_on"]),
            received_at=from_epoch(row["received_at"], tz),
            received_by=row["received_by"],
            kept_through=date.fromisoformat(row["kept_through"]),
            custodian=row["custodian"],
            disposed_on=date.fromisoformat(row["disposed_on"]) if row["disposed_on"] else None,
            disposal_method=row["disposal_method"],
            disposal_witness=row["disposal_witness"],
            extensions=tuple(
                Extension(
                    date.fromisoformat(e["previous"]),
                    date.fromisoformat(e["until"]),
                    e["reason"],
                    from_epoch(e["at"], tz),
                    e["by"],
                )
                for e in ext
            ),
        )
