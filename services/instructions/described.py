"""Calls an export instruction describes (様式第1号: a time range and, optionally, numbers) rather
than names, and how long an instruction keeps its calls from a purge.

The rule that says which calls a description matches is written once (`DESCRIBED_MATCH`): the
export resolves a description with it, the retention preview blocks the calls it matches, and the
purge checks it inside the transaction that marks a call for deletion (`DESCRIBED`, part of
services/retention_status.ELIGIBLE). A description is stored in `instruction_described` when the
instruction is issued, in the index's terms (unix seconds, digits as services/core/phone.py stores them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from services.calls import Call, CallFilter, CallState, CallStore

# An instruction keeps the calls it names or describes from a purge from the moment it is issued
# until it is received or cancelled (a purge instruction names none).
PROTECTING_STATES = ("issued", "in_progress", "submitted")
PROTECTING = ", ".join(f"'{s}'" for s in PROTECTING_STATES)

# A call `c` matches a description `d`: recorded within its range (both ends included) and, for
# each number given, that party's number (the same normalised digits on both sides).
DESCRIBED_MATCH = (
    "c.started_at BETWEEN d.start_at AND d.end_at"
    " AND (d.city IS NULL OR c.city_number = d.city)"
    " AND (d.other IS NULL OR c.other_number = d.other)"
)

# The descriptions of the instructions that protect their calls now, as `i` and `d`, from the
# partial index holding just those instructions (schema 0008: its condition is this one, and a
# query it could not serve is refused, so the two cannot drift apart unnoticed).
_PROTECTING_FROM = (
    "instructions i INDEXED BY instructions_described"
    " CROSS JOIN instruction_described d ON d.instruction_id = i.id"
)
_PROTECTING_WHERE = f"i.criteria IS NOT NULL AND i.state IN ({PROTECTING})"

# True for a call `c` that an instruction protecting its calls describes.
DESCRIBED = f"EXISTS (SELECT 1 FROM {_PROTECTING_FROM} WHERE {_PROTECTING_WHERE} AND {DESCRIBED_MATCH})"

# (call_id, number): each call described by an instruction protecting its calls, with its number.
DESCRIBED_CALLS = (
    f"SELECT c.id AS call_id, i.number AS number FROM {_PROTECTING_FROM}"
    f" CROSS JOIN calls c ON {DESCRIBED_MATCH} WHERE {_PROTECTING_WHERE}"
)

# The ids of the calls a description matches that have not been purged, oldest first: one given
# as the parameters (start_at, end_at, city, other), or the one stored for an instruction (its id).
_RESOLVED = f" CROSS JOIN calls c ON {DESCRIBED_MATCH} WHERE c.state != 'purged'"
RESOLVE_GIVEN = (
    "SELECT c.id FROM (SELECT ? AS start_at, ? AS end_at, ? AS city, ? AS other) d"
    f"{_RESOLVED} ORDER BY c.started_at, c.id"
)
RESOLVE_STORED = (
    f"SELECT c.id FROM instruction_described d{_RESOLVED} AND d.instruction_id = ?"
    " ORDER BY c.started_at, c.id"
)


async def store(
    conn: aiosqlite.Connection,
    instruction_id: int,
    start_at: int,
    end_at: int,
    city: str | None,
    other: str | None,
) -> None:
    """Record an instruction's description, in the caller's (issuing) transaction."""
    await conn.execute(
        "INSERT INTO instruction_described (instruction_id, start_at, end_at, city, other)"
        " VALUES (?, ?, ?, ?, ?)",
        (instruction_id, start_at, end_at, city, other),
    )


class Reader(Protocol):
    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]: ...


async def protecting(db: Reader, call_ids: Sequence[int]) -> dict[int, list[str]]:
    """call id -> the numbers of the instructions that name or describe it and protect it now."""
    rows = await db.fetchall(
        "WITH wanted (id) AS (SELECT value FROM json_each(:ids))"
        " SELECT ic.call_id, i.number FROM instruction_calls ic JOIN instructions i"
        f" ON i.id = ic.instruction_id WHERE i.state IN ({PROTECTING}) AND ic.call_id IN wanted"
        f" UNION SELECT call_id, number FROM ({DESCRIBED_CALLS} AND c.id IN wanted)"
        " ORDER BY 2",
        {"ids": json.dumps(list(call_ids))},
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r[1])
    return out


_NARROWED = 100_000  # calls in the range whose numbers hold the digits: the exact ones are kept


class Description(Protocol):
    """What a described instruction says (store.Criteria): a time range and, perhaps, numbers."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def city(self) -> str | None: ...
    @property
    def other(self) -> str | None: ...


def closest_first(described: Description, calls: Sequence[Call]) -> list[tuple[Call, timedelta]]:
    """`calls`, closest to the time `described` means first (the middle of its range: "around
    14:00" is stored as a range about 14:00), each with its difference from that time."""
    centre = described.start + (described.end - described.start) / 2
    return sorted(((c, c.started_at - centre) for c in calls), key=lambda cd: (abs(cd[1]), cd[0].id))


async def candidates(
    calls: CallStore, described: Description, *, limit: int = 100
) -> list[tuple[Call, timedelta]]:
    """The calls a description matches (as DESCRIBED_MATCH, not purged), closest first as in
    `closest_first`; for the operator to pick from."""
    half = (described.end - described.start) / 2
    centre = described.start + half
    # The number narrows the walk (digits anywhere); the exact match is checked below.
    needle = described.other or described.city or ""
    kept = tuple(s.value for s in CallState if s is not CallState.PURGED)
    wanted = CallFilter(number=needle, states=kept)
    found = await calls.around(centre, half, wanted, limit=_NARROWED if needle else limit)
    matching = [
        (c, d)
        for c, d in found
        if described.start <= c.started_at <= described.end
        and (described.city is None or c.city_number == described.city)
        and (described.other is None or c.other_number == described.other)
    ]
    return matching[:limit]
