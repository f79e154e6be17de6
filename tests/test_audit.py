"""The audit chain: append-only, HMAC-chained; edits, removals and forgeries are named."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from datetime import datetime, timedelta

import pytest

from services.access.audit import GENESIS, Action, Entry, Head
from services.core.clock import JST
from services.core.errors import CallrecError
from services.workspace import Workspace

AT = datetime(2026, 11, 20, 9, 0, tzinfo=JST)


async def fill(ws: Workspace, n: int) -> list[Head]:
    heads = []
    for i in range(n):
        heads.append(
            await ws.audit.record(
                at=AT + timedelta(seconds=i),
                actor="system",
                action=Action.CALL_MISSING,
                subject=f"2026/11/20/{i}.wav",
                detail={"call_id": i, "note": "録音"},
            )
        )
    return heads


def tamper(ws: Workspace, *statements: str) -> None:
    """What someone with the database file and the sqlite3 tool can do: drop the triggers and
    change the table."""
    conn = sqlite3.connect(ws.config.database)
    conn.executescript(
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;" + "".join(f"{s};" for s in statements)
    )
    conn.close()


async def test_chain_verifies(ws: Workspace) -> None:
    base = (await ws.audit.head()).seq  # the PINs the fixture set
    heads = await fill(ws, 10)
    assert [h.seq for h in heads] == list(range(base + 1, base + 11))
    result = await ws.audit.verify()
    assert result.ok and result.entries == base + 10 and result.head == heads[-1]
    assert (await ws.audit.verify(heads[3])).ok
    assert str(heads[-1]) == f"{heads[-1].seq}:{heads[-1].mac}"
    assert Head.parse(str(heads[-1])) == heads[-1]


async def test_triggers_refuse_update_and_delete(ws: Workspace) -> None:
    await fill(ws, 2)
    for sql in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            async with ws.db.transaction() as conn:
                await conn.execute(sql)


async def test_edit_with_triggers_dropped_is_found(ws: Workspace) -> None:
    heads = await fill(ws, 6)
    tamper(ws, f"UPDATE audit SET subject = 'nothing to see' WHERE seq = {heads[2].seq}")
    result = await ws.audit.verify()
    assert not result.ok
    assert result.first_bad == heads[2].seq
    assert result.head == heads[1]  # the last good entry
    assert f"entry {heads[2].seq}" in result.problem


async def test_edit_of_the_detail_or_time_is_found(ws: Workspace) -> None:
    heads = await fill(ws, 3)
    tamper(ws, f"UPDATE audit SET ts = '2026-01-01T00:00:00+09:00' WHERE seq = {heads[0].seq}")
    assert (await ws.audit.verify()).first_bad == heads[0].seq


async def test_deleted_middle_entry_is_found(ws: Workspace) -> None:
    heads = await fill(ws, 6)
    tamper(ws, f"DELETE FROM audit WHERE seq = {heads[3].seq}")
    result = await ws.audit.verify()
    assert not result.ok and result.first_bad == heads[3].seq
    assert "missing" in result.problem


async def test_renumbered_after_deletion_is_found(ws: Workspace) -> None:
    heads = await fill(ws, 4)
    tamper(
        ws,
        f"DELETE FROM audit WHERE seq = {heads[1].seq}",
        f"UPDATE audit SET seq = seq - 1 WHERE seq > {heads[1].seq}",
    )
    result = await ws.audit.verify()
    assert not result.ok and result.first_bad == heads[1].seq


async def test_forged_entry_without_the_key_is_found(ws: Workspace) -> None:
    heads = await fill(ws, 2)
    last = heads[-1]
    body = json.dumps(
        [last.seq + 1, AT.isoformat(), "manager", Action.HOLD_RELEASED, "1", "{}"], separators=(",", ":")
    )
    mac = hmac.new(b"guessed key", last.mac.encode() + body.encode(), hashlib.sha256).hexdigest()
    tamper(
        ws,
        f"INSERT INTO audit VALUES ({last.seq + 1}, '{AT.isoformat()}', 'manager',"
        f" '{Action.HOLD_RELEASED}', '1', '{{}}', '{mac}')",
    )
    assert (await ws.audit.verify()).first_bad == last.seq + 1


async def test_removing_the_newest_entries_is_caught_by_an_anchor(ws: Workspace) -> None:
    heads = await fill(ws, 6)
    anchor = heads[-1]  # printed earlier, e.g. on an export medium
    tamper(ws, f"DELETE FROM audit WHERE seq > {heads[3].seq}")
    assert (await ws.audit.verify()).ok  # the rest still chains
    result = await ws.audit.verify(anchor)
    assert not result.ok and result.first_bad == heads[4].seq
    assert "removed" in result.problem
    # An anchor whose MAC does not match the entry is refused too.
    wrong = Head(heads[2].seq, "0" * 64)
    assert (await ws.audit.verify(wrong)).first_bad == heads[2].seq


async def test_rolled_back_action_leaves_no_entry(ws: Workspace) -> None:
    head = await ws.audit.head()
    with pytest.raises(RuntimeError):
        async with ws.db.transaction() as conn:
            await ws.audit.append(conn, at=AT, actor="system", action=Action.CALL_MISSING)
            raise RuntimeError("the action failed")
    assert await ws.audit.head() == head
    assert (await ws.audit.verify()).ok


async def test_append_many_chains_in_order(ws: Workspace) -> None:
    async with ws.db.transaction() as conn:
        last = await ws.audit.append_many(
            conn, [Entry(AT, "system", Action.CALL_MISSING, f"{i}.wav", {"call_id": i}) for i in range(5)]
        )
    assert last is not None and last == await ws.audit.head()
    assert (await ws.audit.verify()).ok


def test_anchor_syntax() -> None:
    with pytest.raises(CallrecError):
        Head.parse("12")
    with pytest.raises(CallrecError):
        Head.parse("x:" + "0" * 64)
    assert Head.parse("3:" + "A" * 64) == Head(3, "a" * 64)


async def test_clock_behind_the_log_is_refused(ws: Workspace) -> None:
    await fill(ws, 1)
    latest = await ws.audit.latest_time()  # the PIN entries of the fixture carry the real time
    assert latest is not None and latest > AT
    await ws.audit.check_clock(latest + timedelta(seconds=1))
    with pytest.raises(CallrecError) as info:
        await ws.audit.check_clock(latest - timedelta(minutes=1))
    assert info.value.code == "clock_behind"


def test_empty_chain_starts_at_genesis() -> None:
    assert GENESIS == "0" * 64
