"""The call index as the screens and the CLI read it: filtered, newest first, a page at a time."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from services.core.clock import from_epoch
from services.core.db import Database
from services.core.errors import NotFound
from services.core.phone import search_digits


class CallState(StrEnum):
    RECORDING = "recording"
    COMPLETE = "complete"
    MISSING = "missing"
    PURGING = "purging"
    PURGED = "purged"


PRESENT_STATES = (CallState.RECORDING.value, CallState.COMPLETE.value)

# How a number is searched, the one hard query at 1,000,000 calls. Two ways:
# - walk calls_browse newest first, testing numbers with instr(): about _ROW_COST µs a row, the
#   table never read; it walks (offset + limit) / (share of calls that match) rows;
# - let the trigram index (needles of 3+ digits) name the matching calls, then sort them by time:
#   about _HIT_COST µs a hit (each is looked up to be sorted).
# The share is measured on the newest _SAMPLE calls the other filters let through (one cheap walk)
# and the cheaper way is taken. Costs measured at 1,000,000 calls.
_ROW_COST = 0.1
_HIT_COST = 1.5
_SAMPLE = 2000


@dataclass(frozen=True)
class _Sample:
    rows: int  # calls walked (fewer than _SAMPLE: all there are)
    hits: int  # of them, matching the number
    size: int  # calls in the index

    def trigrams_for(self, wanted: int | None) -> bool:
        """Whether the trigram index is the cheaper way to find `wanted` matches (None: all)."""
        if self.rows < _SAMPLE:
            return False  # walking them all is cheap
        share = max(self.hits, 0.5) / self.rows
        walked = self.size if wanted is None else min(wanted / share, self.size)
        return share * self.size * _HIT_COST < walked * _ROW_COST


CALL_COLUMNS = (
    "id, path, started_at, type, city_number, other_number, caller_id, uniqueid, fmt, size,"
    " mtime_ns, duration_s, sha256, state, raw_retention_until, indexed_at, completed_at,"
    " purged_at, purged_by, purge_instruction_id, changed_at, anomaly"
)


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
    changed_at: datetime | None = None  # when the file first differed from its ingest hash
    anomaly: str | None = None  # e.g. name_date:YYYYMMDD-HHMMSS, a name's date not believed

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
            changed_at=from_epoch(row["changed_at"], tz) if row["changed_at"] else None,
            anomaly=row["anomaly"],
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
            "changed_at": self.changed_at.isoformat(timespec="seconds") if self.changed_at else None,
            "anomaly": self.anomaly,
        }


@dataclass(frozen=True)
class CallFilter:
    number: str = ""  # digits to find anywhere in either number
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = field(default=())
    # "around 14:00": only calls within `within` of `near`, closest first (instead of newest first)
    near: datetime | None = None
    within: timedelta = timedelta(minutes=30)

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
        if f.near is not None:
            centre, reach = f.near.timestamp(), f.within.total_seconds()
            clauses.append(f"{p}started_at BETWEEN ? AND ?")
            params.extend([math.ceil(centre - reach), math.floor(centre + reach)])
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

    def _walk(self, f: CallFilter) -> str:
        """The index to walk newest first: calls_state for one rare state (its calls are found at
        once), else calls_browse, which holds every column a filter reads."""
        if len(f.states) == 1 and f.states[0] != CallState.COMPLETE.value:
            return "calls c INDEXED BY calls_state"
        return "calls c INDEXED BY calls_browse"

    async def _sample(self, f: CallFilter, clauses: list[str], params: list[Any], digits: str) -> _Sample:
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        row = await self.db.fetchone(
            f"SELECT count(*), coalesce(sum(instr(numbers, ?) > 0), 0),"
            f" (SELECT coalesce(max(id), 0) FROM calls) FROM (SELECT c.numbers"
            f" FROM {self._walk(f)} {where} ORDER BY c.started_at DESC, c.id DESC LIMIT ?)",
            [digits, *params, _SAMPLE],
        )
        return _Sample(row[0], row[1], max(row[2], row[0]))

    async def _matching(self, f: CallFilter, wanted: int) -> tuple[str, list[str], list[Any]]:
        """FROM and WHERE for the calls matching f, the number found the cheaper way."""
        clauses, params = self._where(f, "c")
        digits = f.digits
        if digits:
            if len(digits) >= 3 and (await self._sample(f, clauses, params, digits)).trigrams_for(wanted):
                return (
                    "calls_fts CROSS JOIN calls c ON c.id = calls_fts.rowid",
                    ["calls_fts MATCH ?", *clauses],
                    [f'"{digits}"', *params],
                )
            clauses.append("instr(c.numbers, ?) > 0")
            params.append(digits)
        return self._walk(f), clauses, params

    async def page(self, f: CallFilter, *, limit: int = 100, offset: int = 0) -> list[Call]:
        """Calls matching f, newest first (with `near`: closest to it first, ties by id): `limit`
        of them after skipping `offset`."""
        source, clauses, params = await self._matching(f, offset + limit)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        if f.near is not None:  # a range on started_at (the window): never a full walk
            order, outer, order_params = "abs(c.started_at - ?), c.id", "", [f.near.timestamp()]
        else:
            order, outer, order_params = (
                "c.started_at DESC, c.id DESC",
                " ORDER BY started_at DESC, id DESC",
                [],
            )
        # Ids first (from the index alone), then the rows of just those.
        rows = await self.db.fetchall(
            f"SELECT {CALL_COLUMNS} FROM calls WHERE id IN (SELECT c.id FROM {source} {where}"
            f" ORDER BY {order} LIMIT ? OFFSET ?){outer}",
            [*params, *order_params, limit, offset],
        )
        found = [Call.from_row(r, self.tz) for r in rows]
        if f.near is not None:
            centre = f.near.timestamp()
            found.sort(key=lambda c: (abs(c.started_at.timestamp() - centre), c.id))
        return found

    async def around(
        self, at: datetime, within: timedelta, f: CallFilter | None = None, *, limit: int = 100
    ) -> list[tuple[Call, timedelta]]:
        """Calls that started within `within` of `at` (and match f), closest first (ties: by id),
        each with its start's difference from `at`."""
        near = replace(f or CallFilter(), near=at, within=within)
        return [(c, c.started_at - at) for c in await self.page(near, limit=limit)]

    async def count(self, f: CallFilter) -> int:
        clauses, params = self._where(f, "c")
        digits = f.digits
        if digits:
            sample = await self._sample(f, clauses, params, digits)
            if sample.rows < _SAMPLE:
                return sample.hits  # the sample held every call the other filters let through
            if len(digits) >= 3 and sample.trigrams_for(None):
                where = " AND ".join(["calls_fts MATCH ?", *clauses])
                source = "calls_fts CROSS JOIN calls c ON c.id = calls_fts.rowid" if clauses else "calls_fts"
                return int(
                    await self.db.scalar(
                        f"SELECT count(*) FROM {source} WHERE {where}", [f'"{digits}"', *params]
                    )
                )
            clauses.append("instr(c.numbers, ?) > 0")
            params.append(digits)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        source = self._walk(f) if f.states or digits else "calls c"  # else: the smallest index
        return int(await self.db.scalar(f"SELECT count(*) FROM {source} {where}", params))

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
