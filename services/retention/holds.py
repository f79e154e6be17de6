"""Holds: the manager keeps a call beyond its retention date, with a reason (e.g. a request under a
law). A held call is never purged; releasing the hold (manager, with a reason) restores the normal
schedule. Both are audited. At most one hold per call is active at a time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.calls import CallState
from services.core.clock import Clock, from_epoch, to_epoch
from services.core.db import Database
from services.core.errors import CallrecError, Conflict, NotFound

MAX_REASON = 500
# The calls a running purge has marked and not yet settled (services/retention/journal.py).
PENDING_IDS = "SELECT j.value FROM purge_journal p, json_each(p.calls) j"


@dataclass(frozen=True)
class Hold:
    id: int
    call_id: int
    reason: str
    set_at: datetime
    released_at: datetime | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "call_id": self.call_id,
            "reason": self.reason,
            "set_at": self.set_at.isoformat(timespec="seconds"),
            "active": self.active,
            "released_at": self.released_at.isoformat(timespec="seconds") if self.released_at else None,
            "release_reason": self.release_reason,
        }


def check_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise CallrecError("a reason is required", code="reason_required")
    if len(text) > MAX_REASON:
        raise CallrecError(f"the reason is longer than {MAX_REASON} characters", code="reason_long")
    return text


def hold_from_row(row: sqlite3.Row, tz: tzinfo) -> Hold:
    return Hold(
        id=row["id"],
        call_id=row["call_id"],
        reason=row["reason"],
        set_at=from_epoch(row["set_at"], tz),
        released_at=from_epoch(row["released_at"], tz) if row["released_at"] else None,
        release_reason=row["release_reason"],
    )


async def active_holds(db: Database, tz: tzinfo, call_ids: Sequence[int]) -> dict[int, Hold]:
    """The active hold of each of these calls that has one (reads only: any connection)."""
    rows = await db.fetchall(
        "SELECT * FROM holds WHERE released_at IS NULL AND call_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(call_ids)),),
    )
    return {r["call_id"]: hold_from_row(r, tz) for r in rows}


class Holds:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    def _from_row(self, row: sqlite3.Row) -> Hold:
        return hold_from_row(row, self.clock.tz)

    async def set(self, actor: Actor, call_id: int, reason: str) -> Hold:
        actor.require(Duty.HOLD)
        text = check_reason(reason)
        at = self.clock.now()
        async with self.db.transaction() as conn:
            path, state = await _call(conn, call_id)
            if state in (CallState.PURGING, CallState.PURGED):
                cur = await conn.execute(f"SELECT ? IN ({PENDING_IDS})", (call_id,))
                row = await cur.fetchone()
                assert row is not None  # a SELECT without FROM has a row
                pending = state == CallState.PURGING or row[0]
                raise Conflict(
                    f"call {call_id} is being deleted by a purge right now"
                    if pending
                    else f"call {call_id} has been deleted",
                    code="call_deleted",
                    call_id=call_id,
                )
            cur = await conn.execute(
                "SELECT id FROM holds WHERE call_id = ? AND released_at IS NULL", (call_id,)
            )
            if await cur.fetchone():
                raise Conflict(f"call {call_id} is already held", code="already_held", call_id=call_id)
            cur = await conn.execute(
                "INSERT INTO holds (call_id, reason, set_at) VALUES (?, ?, ?)",
                (call_id, text, to_epoch(at)),
            )
            hold_id = cur.lastrowid
            await self.audit.append(
                conn,
                at=at,
                actor=actor.role.value,
                action=Action.HOLD_SET,
                subject=path,
                detail={"call_id": call_id, "hold_id": hold_id, "reason": text},
            )
        return await self.get(hold_id, fresh=True)

    async def release(self, actor: Actor, call_id: int, reason: str) -> Hold:
        actor.require(Duty.HOLD)
        text = check_reason(reason)
        at = self.clock.now()
        async with self.db.transaction() as conn:
            path, _state = await _call(conn, call_id)
            cur = await conn.execute(
                "UPDATE holds SET released_at = ?, release_reason = ?"
                " WHERE call_id = ? AND released_at IS NULL RETURNING id",
                (to_epoch(at), text, call_id),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"call {call_id} is not held", code="not_held", call_id=call_id)
            hold_id = row[0]
            await self.audit.append(
                conn,
                at=at,
                actor=actor.role.value,
                action=Action.HOLD_RELEASED,
                subject=path,
                detail={"call_id": call_id, "hold_id": hold_id, "reason": text},
            )
        return await self.get(hold_id, fresh=True)

    async def get(self, hold_id: int | None, *, fresh: bool = False) -> Hold:
        """`fresh` right after this process wrote it (services/core/db.py)."""
        row = await self.db.fetchone("SELECT * FROM holds WHERE id = ?", (hold_id,), fresh=fresh)
        if row is None:
            raise NotFound(f"no hold {hold_id}", code="hold_unknown")
        return self._from_row(row)

    async def active(self, *, limit: int = 1000, offset: int = 0) -> list[Hold]:
        """Active holds, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM holds WHERE released_at IS NULL ORDER BY set_at DESC, id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [self._from_row(r) for r in rows]

    async def active_for(self, call_ids: Sequence[int]) -> dict[int, Hold]:
        return await active_holds(self.db, self.clock.tz, call_ids)

    async def history(self, call_id: int) -> list[Hold]:
        rows = await self.db.fetchall("SELECT * FROM holds WHERE call_id = ? ORDER BY set_at, id", (call_id,))
        return [self._from_row(r) for r in rows]


async def _call(conn: Any, call_id: int) -> tuple[str, str]:
    cur = await conn.execute("SELECT path, state FROM calls WHERE id = ?", (call_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no call with id {call_id}", code="call_unknown", call_id=call_id)
    return row[0], row[1]
