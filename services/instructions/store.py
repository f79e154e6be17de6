"""Instructions (様式第1号): the manager instructs, the operator executes (第3条6, 第5条).

Export:  issued -> in_progress -> submitted -> received      (or -> cancelled before execution)
Purge:   issued -> in_progress -> done                       (or -> cancelled before execution)
An instruction is open while issued or in progress. From the moment it is issued until it is received
or cancelled, a call it names or describes is never purged (instructions/described.py). Execution that
fails or is cancelled returns the instruction to issued.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Any

import aiosqlite

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.calls import PRESENT_STATES
from services.core.clock import Clock, fiscal_year, from_epoch, to_epoch
from services.core.db import Database
from services.core.errors import CallrecError, Conflict, NotFound
from services.core.phone import normalize
from services.core.when import read as read_when
from services.core.when import refused
from services.instructions import described as desc


class Kind(StrEnum):
    EXPORT = "export"
    PURGE = "purge"


class State(StrEnum):
    ISSUED = "issued"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    RECEIVED = "received"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_STATES = (State.ISSUED.value, State.IN_PROGRESS.value)

# 第1条: the only purposes an instruction may name.
PURPOSES: dict[str, str] = {
    "proper-conduct": "業務の公正かつ適正な執行の確保",
    "crime-prevention": "犯罪の防止",
    "undue-pressure": "職員への不当な圧力や要求等の排除",
}
MEDIA = ("cd-r", "dvd-r", "dvd-r-dl", "bd-r", "usb")

_TRANSITIONS: dict[State, set[State]] = {
    State.ISSUED: {State.IN_PROGRESS, State.CANCELLED},
    State.IN_PROGRESS: {State.ISSUED, State.SUBMITTED, State.DONE},
    State.SUBMITTED: {State.RECEIVED},
    State.RECEIVED: set(),
    State.DONE: set(),
    State.CANCELLED: set(),
}


def _moment(text: str, tz: tzinfo, *, end: bool, today: date | None) -> datetime:
    """A date (the whole day) or a date and time, as typed (services/core/when.py); Japan time
    unless an offset is given. Forms relative to today (昨日, 12/4, 14時) need `today`."""
    phrase = read_when(text)
    if today is None and phrase.relative:
        raise refused(text, "a day with its year")
    when = phrase.resolve(today or date.min, tz)
    if when.at is not None:
        return when.at
    first, last = when.span(tz)
    return last if end else first


def _digits(raw: str | None, what: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    digits, _ = normalize(raw)
    if digits is None:
        raise CallrecError(f"{what}: not a telephone number: {raw!r}", code="bad_number", value=raw)
    return digits


@dataclass(frozen=True)
class Criteria:
    """Calls described rather than picked (様式第1号): a time range and, optionally, the numbers.
    The operator resolves the description against the index and confirms the calls found."""

    start: datetime
    end: datetime
    city: str | None = None
    other: str | None = None

    @classmethod
    def parse(
        cls,
        start: str,
        end: str,
        *,
        city: str | None = None,
        other: str | None = None,
        tz: tzinfo,
        today: date | None = None,
    ) -> Criteria:
        lo, hi = _moment(start, tz, end=False, today=today), _moment(end, tz, end=True, today=today)
        if hi < lo:
            raise CallrecError("the end of the range is before its start", code="bad_range")
        return cls(lo, hi, _digits(city, "city-side number"), _digits(other, "other party's number"))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Criteria:
        return cls(
            datetime.fromisoformat(data["from"]),
            datetime.fromisoformat(data["to"]),
            data.get("city"),
            data.get("other"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(timespec="seconds"),
            "to": self.end.isoformat(timespec="seconds"),
            "city": self.city,
            "other": self.other,
        }


@dataclass(frozen=True)
class Instruction:
    id: int
    number: str
    kind: str
    state: str
    purpose: str | None
    medium: str | None
    note: str
    criteria: dict[str, Any] | None
    issued_at: datetime
    issued_by: str
    updated_at: datetime
    call_ids: tuple[int, ...]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def described(self) -> Criteria | None:
        return Criteria.from_json(self.criteria) if self.criteria else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "kind": self.kind,
            "state": self.state,
            "purpose": self.purpose,
            "medium": self.medium,
            "note": self.note,
            "criteria": self.criteria,
            "issued_at": self.issued_at.isoformat(timespec="seconds"),
            "issued_by": self.issued_by,
            "updated_at": self.updated_at.isoformat(timespec="seconds"),
            "calls": list(self.call_ids),
        }


class Instructions:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    async def _next_number(self, conn: aiosqlite.Connection, at: datetime) -> str:
        year = fiscal_year(at.astimezone(self.clock.tz).date())
        cur = await conn.execute(
            "SELECT number FROM instructions WHERE number LIKE ? ORDER BY number DESC LIMIT 1",
            (f"{year}-%",),
        )
        row = await cur.fetchone()
        seq = int(row[0].split("-")[1]) + 1 if row else 1
        return f"{year}-{seq:04d}"

    async def _insert(
        self,
        conn: aiosqlite.Connection,
        actor: Actor,
        kind: Kind,
        *,
        purpose: str | None,
        medium: str | None,
        note: str,
        criteria: dict[str, Any] | None,
        call_ids: Sequence[int],
    ) -> int:
        at = self.clock.now()
        number = await self._next_number(conn, at)
        cur = await conn.execute(
            "INSERT INTO instructions (number, kind, state, purpose, medium, note, criteria,"
            " issued_at, issued_by, updated_at) VALUES (?, ?, 'issued', ?, ?, ?, ?, ?, ?, ?)",
            (
                number,
                kind.value,
                purpose,
                medium,
                note,
                json.dumps(criteria, ensure_ascii=False) if criteria else None,
                to_epoch(at),
                actor.role.value,
                to_epoch(at),
            ),
        )
        instruction_id = cur.lastrowid
        assert instruction_id is not None
        await conn.executemany(
            "INSERT INTO instruction_calls (instruction_id, call_id) VALUES (?, ?)",
            [(instruction_id, c) for c in call_ids],
        )
        if criteria:
            found = Criteria.from_json(criteria)
            await desc.store(
                conn, instruction_id, to_epoch(found.start), to_epoch(found.end), found.city, found.other
            )
        await self.audit.append(
            conn,
            at=at,
            actor=actor.role.value,
            action=Action.INSTRUCTION_ISSUED,
            subject=number,
            detail={
                "kind": kind.value,
                "purpose": purpose,
                "medium": medium,
                "calls": list(call_ids),
                "criteria": criteria,
                "note": note,
            },
        )
        return instruction_id

    async def issue_export(
        self,
        actor: Actor,
        *,
        purpose: str,
        medium: str,
        call_ids: Sequence[int] = (),
        criteria: Criteria | None = None,
        note: str = "",
    ) -> Instruction:
        actor.require(Duty.ISSUE_INSTRUCTION)
        if purpose not in PURPOSES:
            raise CallrecError(
                f"purpose must be one of {', '.join(PURPOSES)} (第1条)", code="bad_purpose", purpose=purpose
            )
        if medium not in MEDIA:
            raise CallrecError(f"medium must be one of {', '.join(MEDIA)}", code="bad_medium", medium=medium)
        ids = sorted(set(call_ids))
        if bool(ids) == bool(criteria):
            raise CallrecError("an export instruction either names calls or describes them", code="no_calls")
        async with self.db.transaction() as conn:
            if ids:
                await self._check_calls_present(conn, ids)
            new_id = await self._insert(
                conn,
                actor,
                Kind.EXPORT,
                purpose=purpose,
                medium=medium,
                note=note,
                criteria=criteria.to_json() if criteria else None,
                call_ids=ids,
            )
        return await self.get(new_id, fresh=True)

    async def issue_purge(self, actor: Actor, *, note: str = "") -> Instruction:
        actor.require(Duty.ISSUE_INSTRUCTION)
        async with self.db.transaction() as conn:
            new_id = await self._insert(
                conn, actor, Kind.PURGE, purpose=None, medium=None, note=note, criteria=None, call_ids=()
            )
        return await self.get(new_id, fresh=True)

    async def _check_calls_present(self, conn: aiosqlite.Connection, ids: Sequence[int]) -> None:
        cur = await conn.execute(
            "SELECT id FROM calls WHERE state IN (?, ?) AND id IN (SELECT value FROM json_each(?))",
            (*PRESENT_STATES, json.dumps(list(ids))),
        )
        found = {r[0] for r in await cur.fetchall()}
        absent = [i for i in ids if i not in found]
        if absent:
            raise NotFound(
                f"call {absent[0]} is not in the index (or no longer present)",
                code="call_absent",
                call_id=absent[0],
            )

    async def cancel(self, actor: Actor, ref: str | int, reason: str = "") -> Instruction:
        actor.require(Duty.CANCEL_INSTRUCTION)
        ins = await self.get(ref, fresh=True)  # e.g. an export just recovered: issued again
        if ins.state != State.ISSUED:
            raise Conflict(
                f"instruction {ins.number} is {ins.state} and can no longer be cancelled",
                code="not_cancellable",
                number=ins.number,
                state=ins.state,
            )
        async with self.db.transaction() as conn:
            await self.transition(
                conn, ins, State.CANCELLED, actor.role.value, Action.INSTRUCTION_CANCELLED, {"reason": reason}
            )
        return await self.get(ins.id, fresh=True)

    async def transition(
        self,
        conn: aiosqlite.Connection,
        ins: Instruction,
        to: State,
        actor: str,
        action: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Move an instruction on inside the caller's transaction; refused if another process
        moved it first (the UPDATE is conditional on the state we read)."""
        if to not in _TRANSITIONS[State(ins.state)]:
            raise Conflict(
                f"instruction {ins.number} cannot go from {ins.state} to {to}",
                code="bad_transition",
                number=ins.number,
            )
        at = self.clock.now()
        cur = await conn.execute(
            "UPDATE instructions SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            (to.value, to_epoch(at), ins.id, ins.state),
        )
        if cur.rowcount != 1:
            raise Conflict(
                f"instruction {ins.number} was changed by someone else; look again",
                code="instruction_moved",
                number=ins.number,
            )
        await self.audit.append(
            conn,
            at=at,
            actor=actor,
            action=action,
            subject=ins.number,
            detail={"from": ins.state, "to": to.value, **(detail or {})},
        )

    async def set_calls(self, conn: aiosqlite.Connection, ins: Instruction, call_ids: Sequence[int]) -> None:
        """Name the calls of an instruction described by criteria (the operator resolved them),
        in the caller's transaction. Refused if any of them was purged or went missing since it
        was resolved: checked in the same transaction, so no purge can slip in between (once named
        by the open instruction, the calls are no longer purgeable)."""
        ids = sorted(set(call_ids))
        if not ids:
            raise NotFound(
                f"no call in the index matches the description of {ins.number}",
                code="no_match",
                number=ins.number,
            )
        cur = await conn.execute(
            "SELECT id FROM calls WHERE state IN (?, ?) AND id IN (SELECT value FROM json_each(?))",
            (*PRESENT_STATES, json.dumps(ids)),
        )
        present = {r[0] for r in await cur.fetchall()}
        gone = [i for i in ids if i not in present]
        if gone:
            raise Conflict(
                f"call {gone[0]} matched the description of {ins.number} but was purged"
                " or went missing since; look again",
                code="call_gone",
                call_id=gone[0],
                number=ins.number,
                calls=len(gone),
            )
        await conn.execute("DELETE FROM instruction_calls WHERE instruction_id = ?", (ins.id,))
        await conn.executemany(
            "INSERT INTO instruction_calls (instruction_id, call_id) VALUES (?, ?)",
            [(ins.id, c) for c in ids],
        )

    async def resolve(self, criteria: Criteria) -> list[int]:
        """The ids of the calls a description matches (purged ones excluded), oldest first."""
        rows = await self.db.fetchall(
            desc.RESOLVE_GIVEN,
            (to_epoch(criteria.start), to_epoch(criteria.end), criteria.city, criteria.other),
        )
        return [r[0] for r in rows]

    async def resolve_described(self, ins: Instruction) -> list[int]:
        """The same for an issued instruction's description, as stored when it was issued: the
        calls that the retention preview and the purge block for it."""
        rows = await self.db.fetchall(desc.RESOLVE_STORED, (ins.id,))
        return [r[0] for r in rows]

    async def get(self, ref: str | int, *, fresh: bool = False) -> Instruction:
        """By id or number; `fresh` right after this process changed it (services/core/db.py)."""
        text = str(ref).strip()
        if text.isdigit():  # an id: one SQLite can hold (a longer one names no instruction)
            wanted = int(text) if len(text) <= 19 else None
            row = (
                await self.db.fetchone("SELECT * FROM instructions WHERE id = ?", (wanted,), fresh=fresh)
                if wanted is not None and wanted < 2**63
                else None
            )
        else:
            row = await self.db.fetchone("SELECT * FROM instructions WHERE number = ?", (text,), fresh=fresh)
        if row is None:
            raise NotFound(f"no instruction {text}", code="instruction_unknown", ref=text)
        return await self._load(row, fresh=fresh)

    async def _load(self, row: Any, *, fresh: bool = False) -> Instruction:
        ids = await self.db.fetchall(
            "SELECT call_id FROM instruction_calls WHERE instruction_id = ? ORDER BY call_id",
            (row["id"],),
            fresh=fresh,
        )
        tz = self.clock.tz
        return Instruction(
            id=row["id"],
            number=row["number"],
            kind=row["kind"],
            state=row["state"],
            purpose=row["purpose"],
            medium=row["medium"],
            note=row["note"],
            criteria=json.loads(row["criteria"]) if row["criteria"] else None,
            issued_at=from_epoch(row["issued_at"], tz),
            issued_by=row["issued_by"],
            updated_at=from_epoch(row["updated_at"], tz),
            call_ids=tuple(r[0] for r in ids),
        )

    async def list(
        self, *, kind: Kind | None = None, open_only: bool = False, limit: int = 500
    ) -> list[Instruction]:
        """Open instructions first (oldest first, the order to work them), then the rest."""
        clauses, params = [], []
        if kind:
            clauses.append("kind = ?")
            params.append(kind.value)
        if open_only:
            clauses.append(f"state IN ({','.join('?' * len(OPEN_STATES))})")
            params.extend(OPEN_STATES)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.db.fetchall(
            f"SELECT * FROM instructions {where} ORDER BY state NOT IN ('issued', 'in_progress'),"
            " CASE WHEN state IN ('issued', 'in_progress') THEN issued_at ELSE -issued_at END, id"
            " LIMIT ?",
            (*params, limit),
        )
        return [await self._load(r) for r in rows]

    async def protecting(self, call_ids: Sequence[int]) -> dict[int, builtins.list[str]]:
        """call id -> the numbers of the instructions that name or describe it and keep it from
        a purge now (from issue until received or cancelled)."""
        return await desc.protecting(self.db, call_ids)
