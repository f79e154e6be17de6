"""Holds: manager only, with a reason, audited; a held call is blocked; release restores it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.access.audit import Action
from services.access.duties import Duty, Role
from services.core.errors import CallrecError, Conflict, NotFound, NotPermitted
from services.workspace import Workspace
from tests.support.retention import current_time, ids_by_path, make_calls, manager, operator


async def test_hold_and_release_are_audited_and_change_what_is_purgeable(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=3)
    await ws.indexer.scan()
    ids = sorted((await ids_by_path(ws)).values())
    assert (await ws.retention.preview()).purgeable.count == 3

    boss = await manager(ws)
    held = await ws.holds.set(boss, ids[0], "  開示請求（個人情報保護法）  ")
    assert held.active and held.reason == "開示請求（個人情報保護法）"
    preview = await ws.retention.preview()
    assert preview.purgeable.count == 2
    assert [(b.id, b.reason) for b in preview.blocked] == [(ids[0], "hold")]
    assert preview.blocked[0].hold is not None
    assert sorted([c.id async for c in ws.retention.purgeable_calls()]) == ids[1:]

    released = await ws.holds.release(boss, ids[0], "請求対応終了")
    assert not released.active and released.release_reason == "請求対応終了"
    assert (await ws.retention.preview()).purgeable.count == 3
    assert await ws.holds.active() == []
    assert [h.id for h in await ws.holds.history(ids[0])] == [held.id]

    rows = await ws.db.fetchall(
        "SELECT actor, action, detail FROM audit WHERE action IN (?, ?) ORDER BY seq",
        (Action.HOLD_SET, Action.HOLD_RELEASED),
    )
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("manager", Action.HOLD_SET),
        ("manager", Action.HOLD_RELEASED),
    ]
    assert json.loads(rows[0]["detail"])["reason"] == "開示請求（個人情報保護法）"
    assert (await ws.audit.verify()).ok


async def test_the_operator_cannot_hold_or_release(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=1)
    await ws.indexer.scan()
    (call_id,) = (await ids_by_path(ws)).values()
    with pytest.raises(NotPermitted):
        await ws.auth.authorize(Role.OPERATOR, "2222", Duty.HOLD)
    # even an operator Actor obtained for another duty is refused by the service itself
    op = await operator(ws, Duty.VIEW_INDEX)
    with pytest.raises(NotPermitted):
        await ws.holds.set(op, call_id, "reason")
    with pytest.raises(NotPermitted):
        await ws.holds.release(op, call_id, "reason")
    assert await ws.holds.active() == []


async def test_bad_holds_are_refused_with_one_line(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=1)
    await ws.indexer.scan()
    (call_id,) = (await ids_by_path(ws)).values()
    boss = await manager(ws)
    with pytest.raises(CallrecError, match="reason is required"):
        await ws.holds.set(boss, call_id, "   ")
    with pytest.raises(NotFound):
        await ws.holds.set(boss, 999999, "x")
    with pytest.raises(NotFound, match="not held"):
        await ws.holds.release(boss, call_id, "x")
    await ws.holds.set(boss, call_id, "first")
    with pytest.raises(Conflict, match="already held"):
        await ws.holds.set(boss, call_id, "second")
    assert len(await ws.holds.active()) == 1


async def test_a_current_call_can_be_held_too(ws: Workspace, spool: Path) -> None:
    from tests.support.retention import write_call

    write_call(spool, current_time(), 1)
    await ws.indexer.scan()
    (call_id,) = (await ids_by_path(ws)).values()
    await ws.holds.set(await manager(ws), call_id, "kept for a claim")
    # not past its date, so not "blocked" today: it simply stays
    assert (await ws.retention.preview()).blocked == []
    assert [h.call_id for h in await ws.holds.active()] == [call_id]
