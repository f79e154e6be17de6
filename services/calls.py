"""The call index as the screens and the CLI read it: filtered, newest first, a page at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from services.clock import from_epoch
from services.db import Database
from services.errors import NotFound
from services.phone import search_digits


class CallState(StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    MISSING = "missing"
    PURGING = "purging"
    PURGED = "purged"


PRESENT_STATES = (CallState.RECORDING.value, CallState.COMPLETE.value)

# Up to this many trigram hits, the search is driven by the FTS index and sorted; beyond it the
# needle is common, so walking the time index and filtering fills a page quickly.
_FTS_DRIVE_LIMIT = 5000

CALL_COLUMNS = (
    "id, path, started_at, type, city_number, other_number, caller_id, uniqueid, fmt, size,"
    " mtime_ns, duration_s, sha256, state, raw_retention_until, indexed_at, completed_at,"
    " purged_at, purged_by, purge_instruction_id"
)

_QUALIFIED = ", ".join(f"c.{name.strip()}" for name in CALL_COLUMNS.split(","))


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    path: str
    started_at: datetime
    type: str
    city_number: str | None
    other_number: str | None
    caller_id: str
    uniqueid: str
    fmt: str
    size: int
    mtime_ns: int
    duration_s: float | None
    sha256: str | None
    state: str
    raw_retention_until: date
    purged_at: datetime | None = None
    purged_by: str | None = None
    purge_instruction_id: int | None = None

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @classmethod
    def from_row(cls, row: sqlite3.Row, tz: tzinfo) -> Call:
        return cls(
            id=row["id"],
            path=row["path"],
            started_at=from_epoch(row["started_at"], tz),
            type=row["type"],
            city_number=row["city_number"],
            other_number=row["other_number"],
            caller_id=row["caller_id"],
            uniqueid=row["uniqueid"],
            fmt=row["fmt"],
            size=row["size"],
            mtime_ns=row["mtime_ns"],
            duration_s=row["duration_s"],
            sha256=row["sha256"],
            state=row["state"],
            raw_retention_until=date.fromisoformat(row["raw_retention_until"]),
            purged_at=from_epoch(row["purged_at"], tz) if row["purged_at"] else None,
            purged_by=row["purged_by"],
            purge_instruction_id=row["purge_instruction_id"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "type": self.type,
            "city_number": self.city_number,
            "other_number": self.other_number,
            "caller_id": self.caller_id,
            "uniqueid": self.uniqueid,
            "format": self.fmt,
            "size": self.size,
            "duration_s": self.duration_s,
            "sha256": self.sha256,
            "state": self.state,
            "raw_retention_until": self.raw_retention_until.isoformat(),
        }


@dataclass(frozen=True)
class CallFilter:
    number: str = ""  # digits to find anywhere in either number
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = field(default=())

    @property
    def digits(self) -> str:
        return search_digits(self.number)


class CallStore:
    def __init__(self, db: Database, tz: tzinfo) -> None:
        self.db = db
        self.tz = tz

    def _where(self, f: CallFilter, alias: str = "") -> tuple[list[str], list[Any]]:
        p = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: list[Any] = []
        if f.date_from:
            clauses.append(f"{p}started_at >= ?")
            params.append(int(datetime.combine(f.date_from, time(0), self.tz).timestamp()))
        if f.date_to:
            clauses.append(f"{p}started_at < ?")
            end = datetime.combine(f.date_to + timedelta(days=1), time(0), self.tz)
            params.append(int(end.timestamp()))
        if f.types:
            clauses.append(f"{p}type IN ({','.join('?' * len(f.types))})")
            params.extend(f.types)
        if f.states:
            clauses.append(f"{p}state IN ({','.join('?' * len(f.states))})")
            params.extend(f.states)
        return clauses, params

    async def _fts_drives(self, digits: str) -> bool:
        if len(digits) < 3:
            return False
        hits = await self.db.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM calls_fts WHERE calls_fts MATCH ? LIMIT ?)",
            (f'"{digits}"', _FTS_DRIVE_LIMIT + 1),
        )
        return hits <= _FTS_DRIVE_LIMIT

    async def _select(self, f: CallFilter, columns: str, tail: str = "",
                      tail_params: Sequence[Any] = (), *, ordered: bool = True) -> list[sqlite3.Row]:
        """SELECT columns (qualified with c.) FROM calls c, filtered by f, then tail.

        Ordered (paged) queries walk an index in time order: calls_state when one state is asked
        for (a rare state such as `recording` is then found at once), else calls_started.
        Unordered ones (counts) use the trigram index for any needle of 3+ digits and leave the
        rest to SQLite's planner, which reads covering indexes instead of every row.
        """
        clauses, params = self._where(f, "c")
        digits = f.digits
        if digits and ((not ordered and len(digits) >= 3) or await self._fts_drives(digits)):
            source = "calls_fts JOIN calls c ON c.id = calls_fts.rowid"
            clauses.insert(0, "calls_fts MATCH ?")
            params.insert(0, f'"{digits}"')
        else:
            if not ordered:
                source = "calls c"
            elif len(f.states) == 1:
                source = "calls c INDEXED BY calls_state"
            else:
                source = "calls c INDEXED BY calls_started"
            if digits:
                clauses.append("instr(c.numbers, ?) > 0")
                params.append(digits)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return await self.db.fetchall(
            f"SELECT {columns} FROM {source} {where} {tail}", [*params, *tail_params]
        )

    async def page(self, f: CallFilter, *, limit: int = 100, offset: int = 0) -> list[Call]:
        rows = await self._select(
            f, _QUALIFIED, "ORDER BY c.started_at DESC, c.id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [Call.from_row(r, self.tz) for r in rows]

    async def count(self, f: CallFilter) -> int:
        rows = await self._select(f, "count(*)", ordered=False)
        return int(rows[0][0])

    async def get(self, call_id: int) -> Call:
        row = await self.db.fetchone(f"SELECT {CALL_COLUMNS} FROM calls WHERE id = ?", (call_id,))
        if row is None:
            raise NotFound(f"no call with id {call_id}", call_id=call_id)
        return Call.from_row(row, self.tz)

    async def get_many(self, ids: Sequence[int]) -> list[Call]:
        out: list[Call] = []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = await self.db.fetchall(
                f"SELECT {CALL_COLUMNS} FROM calls WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.extend(Call.from_row(r, self.tz) for r in rows)
        missing = set(ids) - {c.id for c in out}
        if missing:
            raise NotFound(f"no call with id {min(missing)}", call_id=min(missing))
        return sorted(out, key=lambda c: (c.started_at, c.id))

    async def counts_by_state(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT state, count(*) FROM calls GROUP BY state")
        return {r[0]: r[1] for r in rows}
