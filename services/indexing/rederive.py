"""An upgrade re-reads every stored call's name with the current party rules (services/indexing/layouts.py).

Runs once per change of the rules (meta `party_rules`): calls indexed by an older release with
the parties of a type backwards are put right, in one transaction with one audit entry giving the
count. 様式第1号 of export instructions naming a changed call are kept first exactly as they were
issued (table issued_forms): a form already issued is not rewritten by an upgrade.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from services.access.audit import SYSTEM, Action, AuditLog
from services.core.clock import Clock, to_epoch
from services.core.db import Database
from services.indexing.layouts import CallType, Layout

PARTY_RULES = "2"  # bump when PARTIES or the name patterns change what a stored name means
_META = "party_rules"
_CHUNK = 5000

RenderForm = Callable[[int], Awaitable[tuple[str, str]]]  # instruction id -> (text, html)


def _derived(layout: Layout, path: str) -> tuple[Any, ...] | None:
    parsed = layout.parse(path.rpartition("/")[2])
    if parsed is None:
        return None
    city, other = parsed.city_number, parsed.other_number
    numbers = f"{city} {other}" if city and other else (city or other or "")
    return parsed.type, city, other, parsed.caller_id.value, numbers


async def rederive(
    db: Database, audit: AuditLog, layout: Layout, clock: Clock, render_form1: RenderForm
) -> int:
    """Re-derive type and parties of every call from its path; return how many changed."""
    if await db.scalar("SELECT value FROM meta WHERE key = ?", (_META,)) == PARTY_RULES:
        return 0
    changes: list[tuple[Any, ...]] = []
    by_type: Counter[str] = Counter()
    last = 0
    while True:
        rows = await db.fetchall(
            "SELECT id, path, type, city_number, other_number, caller_id, numbers FROM calls"
            " WHERE id > ? AND type != ? ORDER BY id LIMIT ?",
            (last, CallType.UNKNOWN.value, _CHUNK),
        )
        if not rows:
            break
        last = rows[-1][0]
        for r in rows:
            new = _derived(layout, r[1])
            if new is not None and new != tuple(r[2:]):
                changes.append((*new, r[0]))
                by_type[new[0]] += 1
    kept: dict[int, tuple[str, str]] = {}
    if changes:
        changed_ids = [c[-1] for c in changes]
        affected: set[int] = set()
        for i in range(0, len(changed_ids), 500):
            piece = changed_ids[i : i + 500]
            found = await db.fetchall(
                "SELECT DISTINCT ic.instruction_id FROM instruction_calls ic"
                " JOIN instructions i ON i.id = ic.instruction_id WHERE i.kind = 'export'"
                f" AND ic.call_id IN ({','.join('?' * len(piece))})"
                " AND ic.instruction_id NOT IN (SELECT instruction_id FROM issued_forms)",
                piece,
            )
            affected.update(r[0] for r in found)
        for instruction_id in sorted(affected):
            kept[instruction_id] = await render_form1(instruction_id)
    at = clock.now()
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT OR IGNORE INTO issued_forms (instruction_id, form_text, form_html, kept_at)"
            " VALUES (?, ?, ?, ?)",
            [(i, text, html, to_epoch(at)) for i, (text, html) in kept.items()],
        )
        await conn.executemany(
            "UPDATE calls SET type = ?, city_number = ?, other_number = ?, caller_id = ?,"
            " numbers = ? WHERE id = ?",
            changes,
        )
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
            " DO UPDATE SET value = excluded.value",
            (_META, PARTY_RULES),
        )
        if changes:
            await audit.append(
                conn,
                at=at,
                actor=SYSTEM,
                action=Action.CALLS_REDERIVED,
                subject="",
                detail={
                    "count": len(changes),
                    "by_type": dict(sorted(by_type.items())),
                    "forms_kept": sorted(kept),
                },
            )
    return len(changes)
