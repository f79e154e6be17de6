"""The deletion record (削除記録) after a real purge: contents, printable page, safe text."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from services.access.audit import Action
from services.access.duties import Duty, Role
from services.core.config import Centre, Config
from services.core.errors import CallrecError
from services.workspace import Workspace
from tests.support.retention import make_calls, manager, operator

HOSTILE = "<script>alert(1)</script>\x1b]0;owned\x07[bold]センター[/bold]"


async def test_the_record_lists_what_a_purge_deleted(cfg: Config, spool: Path) -> None:
    ws = await Workspace.open(replace(cfg, centre=Centre(name=HOSTILE)), create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        make_calls(spool, expired=5, current=2)
        await ws.indexer.scan()
        boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
        ins = await ws.instructions.issue_purge(boss, note="定例")
        plan = await ws.purge.plan(ins.id)
        await ws.purge.execute(await operator(ws), plan, typed_count=plan.count)

        today = ws.clock.now().date()
        record = await ws.deletions.build(await manager(ws, Duty.REPORT), today - timedelta(days=1), today)
        assert len(record.calls) == 5 and record.total_bytes == 5 * 2048
        assert {c.instruction for c in record.calls} == {ins.number}
        assert all(c.purged_by == "operator" and len(c.sha256 or "") == 64 for c in record.calls)
        assert [(r.instruction, r.state, r.deleted) for r in record.runs] == [(ins.number, "finished", 5)]
        # other parties' numbers are masked to the last four digits
        assert all(c.other_shown.endswith("5678") and "•" in c.other_shown for c in record.calls)

        text = record.text()
        page = record.html()
        assert "削除記録" in text and f"{len(record.calls)}件" in text and ins.number in text
        assert "@page" in page and "size: A4" in page and "<table>" in page
        for doc in (text, page):
            assert "erase" not in doc.lower() and "消去" not in doc
            assert "\x1b" not in doc and "\x07" not in doc
        assert "<script>" not in page and "&lt;script&gt;" in page
        assert "\\x1b]0;owned\\x07" in text

        # producing it is audited, and its printed head anchors the chain
        entry = await ws.db.fetchone(
            "SELECT actor, subject FROM audit WHERE action = ?", (Action.REPORT_PRODUCED,)
        )
        assert tuple(entry) == ("manager", "deletion_record")
        assert record.audit_head is not None
        assert str(record.audit_head) in text
        assert (await ws.audit.verify(record.audit_head)).ok

        # nothing in another period; the operator may produce it for the manager (第3条5)
        empty = await ws.deletions.build(
            await operator(ws, Duty.REPORT), date(2020, 1, 1), date(2020, 12, 31)
        )
        assert empty.calls == [] and empty.runs == []
        assert "この期間に削除した録音はありません" in empty.html()
        with pytest.raises(CallrecError, match="ends before it starts"):
            await ws.deletions.build(await manager(ws, Duty.REPORT), today, today - timedelta(1))
    finally:
        await ws.close()


async def test_a_deletion_still_pending_is_not_in_the_record(ws: Workspace, spool: Path) -> None:
    """A running purge's marked calls are tombstones before their files go; the record lists a
    deletion only once it is settled (its file confirmed gone)."""
    import json

    make_calls(spool, expired=2)
    await ws.indexer.scan()
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    plan = await ws.purge.plan(ins.id)
    await ws.purge.execute(await operator(ws), plan, typed_count=2)
    pending = plan.call_ids[0]
    async with ws.db.transaction() as conn:  # as if a purge had just marked it again
        await conn.execute(
            "INSERT INTO purge_journal (run_id, calls, marked_at) VALUES"
            " ((SELECT max(id) FROM purge_runs), ?, 0)",
            (json.dumps([pending]),),
        )
    today = ws.clock.now().date()
    record = await ws.deletions.build(await manager(ws, Duty.REPORT), today, today)
    assert [c.id for c in record.calls] == [plan.call_ids[1]]
