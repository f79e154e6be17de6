"""The retention preview: what a purge would delete now (or on a given day), what is blocked and why,
and when more recordings become deletable.

The conditions that make a call deletable are written once, here (`ELIGIBLE`), and the purge uses
the same text inside its marking transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import Any, Protocol

from services.calls import CallState
from services.core.clock import Clock, from_epoch
from services.core.db import Database
from services.instructions.described import DESCRIBED, DESCRIBED_CALLS, PROTECTING, protecting
from services.retention.holds import Hold, active_holds
from services.retention.rules import deletable_from, last_expired_day

HELD = "EXISTS (SELECT 1 FROM holds h WHERE h.call_id = c.id AND h.released_at IS NULL)"
NAMED = (
    "EXISTS (SELECT 1 FROM instruction_calls ic JOIN instructions i ON i.id = ic.instruction_id"
    f" WHERE ic.call_id = c.id AND i.state IN ({PROTECTING}))"
)
# A call `c` is deleted by a purge when it is complete, its retention (grace included) ended on or
# before :cutoff, no hold keeps it, and no instruction names or describes it from its issue until
# it is received or cancelled (services/instructions/described.py).
ELIGIBLE = (
    f"c.state = 'complete' AND c.raw_retention_until <= :cutoff AND NOT {HELD} AND NOT {NAMED}"
    f" AND NOT {DESCRIBED}"
)


# The planner prefers the state index (no statistics); the partial expiry index covers these.
_EXPIRY = "INDEXED BY calls_expiry"


class BlockReason(StrEnum):
    HOLD = "hold"  # the manager holds it
    INSTRUCTION = "instruction"  # an instruction names or describes it (not yet received)
    RECORDING = "recording"  # still being written by the recorder


@dataclass(frozen=True)
class Bucket:
    count: int = 0
    bytes: int = 0
    oldest: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "bytes": self.bytes,
            "oldest": self.oldest.isoformat(timespec="seconds") if self.oldest else None,
        }


@dataclass(frozen=True)
class PurgeableCall:
    id: int
    path: str
    started_at: datetime
    raw_retention_until: date
    size: int
    mtime_ns: int = 0  # which file it is, for the purge to recognise it (Marked)
    sha256: str | None = None
    dev: int | None = None
    ino: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "raw_retention_until": self.raw_retention_until.isoformat(),
            "size": self.size,
        }


@dataclass(frozen=True)
class BlockedCall:
    id: int
    path: str
    started_at: datetime
    raw_retention_until: date
    state: str
    size: int
    reasons: tuple[BlockReason, ...]
    hold: Hold | None = None
    instructions: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return self.reasons[0].value

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "raw_retention_until": self.raw_retention_until.isoformat(),
            "state": self.state,
            "size": self.size,
            "reason": self.reason,
            "reasons": [r.value for r in self.reasons],
            "hold_reason": self.hold.reason if self.hold else None,
            "held_since": self.hold.set_at.isoformat(timespec="seconds") if self.hold else None,
            "instructions": list(self.instructions),
        }


@dataclass(frozen=True)
class Preview:
    as_of: datetime
    grace_days: int
    cutoff: date  # calls kept through this day or earlier have ended, grace included
    purgeable: Bucket
    blocked: list[BlockedCall]
    in_grace: Bucket  # the legal date has passed; the device's grace period still runs
    next_kept_through: date | None
    next_deletable_from: datetime | None
    next_count: int
    next_bytes: int
    register_due: list[dict[str, Any]] = field(default_factory=list)
    register_available: bool = False
    # every other active hold: its date has not passed yet (or its file is missing), so it is not
    # in `blocked`; listed so that the manager sees every hold and its reason in one place
    held_ahead: list[BlockedCall] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(timespec="seconds"),
            "grace_days": self.grace_days,
            "cutoff": self.cutoff.isoformat(),
            "summary": self.purgeable.to_json(),
            "blocked_count": len(self.blocked),
            "in_grace": self.in_grace.to_json(),
            "next": {
                "kept_through": self.next_kept_through.isoformat() if self.next_kept_through else None,
                "deletable_from": (
                    self.next_deletable_from.isoformat(timespec="seconds")
                    if self.next_deletable_from
                    else None
                ),
                "count": self.next_count,
                "bytes": self.next_bytes,
            },
            "register_available": self.register_available,
            "register_due": self.register_due,
            "held_ahead_count": len(self.held_ahead),
        }


class DueEntry(Protocol):
    def to_json(self, now: datetime) -> dict[str, Any]: ...


class DisposalSource(Protocol):
    """The output-data register (出力データ管理簿, services/export/register.py of the export issue):
    `due(now)` lists the entries past their date (翌年度末 counted from the day written, or as
    extended) and not yet disposed of. Workspace passes the register in where it exists."""

    async def due(self, now: datetime | None = None) -> Sequence[DueEntry]: ...


class RetentionStatus:
    def __init__(
        self, db: Database, clock: Clock, grace_days: int, register: DisposalSource | None = None
    ) -> None:
        """Reads only, so `db` may be any connection (the console passes its side reader)."""
        self.db = db
        self.clock = clock
        self.grace_days = grace_days
        self.register = register

    @property
    def tz(self) -> tzinfo:
        return self.clock.tz

    def cutoff(self, as_of: datetime) -> date:
        return last_expired_day(as_of, self.grace_days, self.tz)

    async def preview(self, as_of: datetime | None = None) -> Preview:
        now = as_of or self.clock.now()
        cutoff = self.cutoff(now)
        legal_cutoff = last_expired_day(now, 0, self.tz)
        expired = await self._bucket(
            "c.state = 'complete' AND c.raw_retention_until <= ?", (cutoff.isoformat(),)
        )
        blocked = await self.blocked(now)
        held_back = [b for b in blocked if b.state == CallState.COMPLETE]
        oldest = await self.db.scalar(
            f"SELECT c.started_at FROM calls c WHERE {ELIGIBLE} ORDER BY c.started_at LIMIT 1",
            {"cutoff": cutoff.isoformat()},
        )
        purgeable = Bucket(
            expired.count - len(held_back),
            expired.bytes - sum(b.size for b in held_back),
            from_epoch(oldest, self.tz) if oldest is not None else None,
        )
        in_grace = Bucket()
        if legal_cutoff > cutoff:
            in_grace = await self._bucket(
                "c.state = 'complete' AND c.raw_retention_until > ? AND c.raw_retention_until <= ?",
                (cutoff.isoformat(), legal_cutoff.isoformat()),
            )
        # The next date: the earliest retention date not yet ended, among complete calls (from
        # the expiry index) and calls still recording (few; from the state index).
        later = await self.db.fetchone(
            f"SELECT (SELECT min(raw_retention_until) FROM calls {_EXPIRY}"
            "   WHERE state = 'complete' AND raw_retention_until > :cutoff),"
            " (SELECT min(raw_retention_until) FROM calls"
            "   WHERE state = 'recording' AND raw_retention_until > :cutoff)",
            {"cutoff": cutoff.isoformat()},
        )
        nxt = min((d for d in later if d), default=None)
        next_kept = date.fromisoformat(nxt) if nxt else None
        next_count = next_bytes = 0
        if nxt:
            complete = await self._bucket("c.state = 'complete' AND c.raw_retention_until = ?", (nxt,))
            recording = await self.db.fetchone(
                "SELECT count(*), total(size) FROM calls WHERE state = 'recording'"
                " AND raw_retention_until = ?",
                (nxt,),
            )
            next_count = complete.count + recording[0]
            next_bytes = complete.bytes + int(recording[1])
        due: list[dict[str, Any]] = []
        if self.register is not None:
            due = [entry.to_json(now) for entry in await self.register.due(now)]
        listed = {b.id for b in blocked}
        ahead = [h for h in await self._held() if h.id not in listed]
        return Preview(
            as_of=now,
            grace_days=self.grace_days,
            cutoff=cutoff,
            purgeable=purgeable,
            blocked=blocked,
            in_grace=in_grace,
            next_kept_through=next_kept,
            next_deletable_from=deletable_from(next_kept, self.tz, self.grace_days) if next_kept else None,
            next_count=next_count,
            next_bytes=next_bytes,
            register_due=due,
            register_available=self.register is not None,
            held_ahead=ahead,
        )

    async def _bucket(self, where: str, params: Sequence[Any]) -> Bucket:
        """Count, bytes and oldest of complete calls, read from the expiry index alone."""
        row = await self.db.fetchone(
            f"SELECT count(*), total(c.size), min(c.started_at) FROM calls c {_EXPIRY} WHERE {where}",
            params,
        )
        oldest = from_epoch(row[2], self.tz) if row[2] is not None else None
        return Bucket(row[0], int(row[1]), oldest)

    async def blocked(self, as_of: datetime | None = None) -> list[BlockedCall]:
        """Calls whose retention has ended but that a purge would not delete, oldest first."""
        cutoff = self.cutoff(as_of or self.clock.now())
        rows = await self.db.fetchall(
            "WITH b (id) AS ("
            " SELECT call_id FROM holds WHERE released_at IS NULL"
            " UNION SELECT ic.call_id FROM instruction_calls ic JOIN instructions i"
            f"  ON i.id = ic.instruction_id WHERE i.state IN ({PROTECTING})"
            f" UNION SELECT call_id FROM ({DESCRIBED_CALLS})"
            " UNION SELECT id FROM calls WHERE state = 'recording')"
            " SELECT c.id, c.path, c.started_at, c.raw_retention_until, c.state, c.size"
            " FROM b JOIN calls c ON c.id = b.id"
            " WHERE c.state IN ('complete', 'recording') AND c.raw_retention_until <= ?"
            " ORDER BY c.started_at, c.id",
            (cutoff.isoformat(),),
        )
        return await self._described(rows)

    async def _held(self) -> list[BlockedCall]:
        """Every call with an active hold, by retention date (holds are few: one per request)."""
        rows = await self.db.fetchall(
            "SELECT c.id, c.path, c.started_at, c.raw_retention_until, c.state, c.size"
            " FROM holds h JOIN calls c ON c.id = h.call_id WHERE h.released_at IS NULL"
            " ORDER BY c.raw_retention_until, c.started_at, c.id"
        )
        return await self._described(rows)

    async def _described(self, rows: Sequence[sqlite3.Row]) -> list[BlockedCall]:
        """Calls with what keeps each of them: a hold (and its reason), open instructions, the
        recorder still writing it."""
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        holds = await active_holds(self.db, self.tz, ids)
        named = await protecting(self.db, ids)
        out = []
        for r in rows:
            reasons = []
            if r["id"] in holds:
                reasons.append(BlockReason.HOLD)
            if r["id"] in named:
                reasons.append(BlockReason.INSTRUCTION)
            if r["state"] == CallState.RECORDING:
                reasons.append(BlockReason.RECORDING)
            out.append(
                BlockedCall(
                    id=r["id"],
                    path=r["path"],
                    started_at=from_epoch(r["started_at"], self.tz),
                    raw_retention_until=date.fromisoformat(r["raw_retention_until"]),
                    state=r["state"],
                    size=r["size"],
                    reasons=tuple(reasons),
                    hold=holds.get(r["id"]),
                    instructions=tuple(named.get(r["id"], ())),
                )
            )
        return out

    async def purgeable_calls(
        self, as_of: datetime | None = None, *, limit: int | None = None
    ) -> AsyncIterator[PurgeableCall]:
        """The calls a purge would delete at `as_of`, oldest first, streamed."""
        cutoff = self.cutoff(as_of or self.clock.now())
        sql = (
            "SELECT c.id, c.path, c.started_at, c.raw_retention_until, c.size, c.mtime_ns,"
            f" c.sha256, c.dev, c.ino FROM calls c"
            f" WHERE {ELIGIBLE} ORDER BY c.started_at, c.id"
        )
        params: dict[str, Any] = {"cutoff": cutoff.isoformat()}
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        async for r in self.db.stream(sql, params):
            yield _purgeable(r, self.tz)


def _purgeable(r: sqlite3.Row, tz: tzinfo) -> PurgeableCall:
    return PurgeableCall(
        r["id"],
        r["path"],
        from_epoch(r["started_at"], tz),
        date.fromisoformat(r["raw_retention_until"]),
        r["size"],
        r["mtime_ns"],
        r["sha256"],
        r["dev"],
        r["ino"],
    )
