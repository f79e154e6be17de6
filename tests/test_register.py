"""The output-data register (出力データ管理簿): receipt, retention 翌年度末, extension, disposal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import pytest

from services.access.audit import Action
from services.access.duties import Duty, Role
from services.core.clock import JST, FixedClock
from services.core.config import Config
from services.core.errors import CallrecError, Conflict, NotPermitted
from services.export.register import Status
from services.instructions.store import State
from services.workspace import Workspace
from tests.support.export import index, needs_xorriso, recording
from tests.support.workspace import MANAGER_PIN, OPERATOR_PIN

pytestmark = needs_xorriso


@pytest.fixture
async def fixed(cfg: Config) -> AsyncIterator[tuple[Workspace, FixedClock]]:
    """A workspace on a clock the test moves: 2027-03-31 10:00, the last day of FY2026."""
    clock = FixedClock(datetime(2027, 3, 31, 10, 0, tzinfo=JST))
    ws = await Workspace.open(cfg, clock=clock, create=True)
    await ws.auth.set_pin(Role.MANAGER, MANAGER_PIN)
    await ws.auth.set_pin(Role.OPERATOR, OPERATOR_PIN)
    try:
        yield ws, clock
    finally:
        await ws.close()


async def submitted(ws: Workspace, spool: Path, out: Path) -> str:
    recording(spool, "in-0488291111-0312345678-20270320-100000-pbx-1.1.wav", 8000)
    calls = await index(ws)
    mgr = await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, Duty.ISSUE_INSTRUCTION)
    ins = await ws.instructions.issue_export(
        mgr, purpose="crime-prevention", medium="dvd-r", call_ids=[c.id for c in calls]
    )
    op = await ws.auth.authorize(Role.OPERATOR, OPERATOR_PIN, Duty.EXECUTE_INSTRUCTION)
    plan = await ws.exports.prepare(op, ins.number, ws.exports.target(out=str(out)))
    await ws.exports.run(op, plan)
    return ins.number


async def mgr(ws: Workspace, duty: Duty) -> object:
    return await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, duty)


async def test_receipt_makes_an_entry_kept_to_the_end_of_the_next_fiscal_year(
    fixed: tuple[Workspace, FixedClock], spool: Path, tmp_path: Path
) -> None:
    ws, clock = fixed
    number = await submitted(ws, spool, tmp_path / "o.iso")
    op = await ws.auth.authorize(Role.OPERATOR, OPERATOR_PIN, Duty.EXECUTE_INSTRUCTION)
    with pytest.raises(NotPermitted):  # the operator's PIN cannot receive
        await ws.register.receive(op, number)
    entry = await ws.register.receive(await mgr(ws, Duty.RECEIVE_OUTPUT), number, custodian="広聴課 書庫 A-3")
    # Written 2027-03-31 (FY2026): kept through the end of FY2027, counted from the day written.
    assert entry.written_on == date(2027, 3, 31)
    assert entry.kept_through == date(2028, 3, 31)
    assert entry.media_label == "DVD-R" and entry.custodian == "広聴課 書庫 A-3"
    assert entry.purpose == "crime-prevention" and entry.number == number
    assert entry.status(clock.now()) is Status.KEPT
    assert "2027-03-31" in entry.to_json(clock.now())["kept_through_counted_from"]
    assert (await ws.instructions.get(number)).state == State.RECEIVED
    with pytest.raises(Conflict):  # received once
        await ws.register.receive(await mgr(ws, Duty.RECEIVE_OUTPUT), number)


async def test_written_on_the_first_day_of_a_fiscal_year(
    fixed: tuple[Workspace, FixedClock], spool: Path, tmp_path: Path
) -> None:
    ws, clock = fixed
    clock.advance(hours=14, minutes=1)  # 2027-04-01 00:01 JST: FY2027 has begun
    number = await submitted(ws, spool, tmp_path / "o.iso")
    entry = await ws.register.receive(await mgr(ws, Duty.RECEIVE_OUTPUT), number)
    assert entry.written_on == date(2027, 4, 1) and entry.kept_through == date(2029, 3, 31)


async def test_due_extend_dispose(fixed: tuple[Workspace, FixedClock], spool: Path, tmp_path: Path) -> None:
    ws, clock = fixed
    number = await submitted(ws, spool, tmp_path / "o.iso")
    entry = await ws.register.receive(await mgr(ws, Duty.RECEIVE_OUTPUT), number)
    dispose = await mgr(ws, Duty.DISPOSE_OUTPUT)
    with pytest.raises(Conflict) as err:  # not before its date
        await ws.register.dispose(dispose, entry.id, method="破砕", witness="山田")
    assert err.value.code == "not_due" and "2028-04-01" in err.value.message

    clock._at = datetime(2028, 3, 31, 23, 59, tzinfo=JST)
    assert await ws.register.due() == []
    clock._at = datetime(2028, 4, 1, 0, 0, tzinfo=JST)  # kept through 3-31: due from 4-1 00:00
    assert [e.id for e in await ws.register.due()] == [entry.id]
    preview = await ws.retention.preview(clock.now())  # the retention view lists it too
    assert [d["id"] for d in preview.register_due] == [entry.id]
    assert preview.register_due[0]["status"] == "due"

    extend = await mgr(ws, Duty.EXTEND_RETENTION)
    with pytest.raises(CallrecError):
        await ws.register.extend(extend, entry.id, until=date(2029, 3, 31), reason="  ")
    with pytest.raises(CallrecError):
        await ws.register.extend(extend, entry.id, until=date(2028, 3, 1), reason="訴訟")
    entry = await ws.register.extend(
        extend, entry.id, until=date(2029, 3, 31), reason="情報公開請求への対応のため"
    )
    assert entry.kept_through == date(2029, 3, 31) and entry.status(clock.now()) is Status.KEPT
    assert entry.extensions[0].previous == date(2028, 3, 31)
    assert await ws.register.due() == []

    clock._at = datetime(2029, 4, 2, 9, 0, tzinfo=JST)
    op = await ws.auth.authorize(Role.OPERATOR, OPERATOR_PIN, Duty.EXECUTE_INSTRUCTION)
    with pytest.raises(NotPermitted):
        await ws.register.dispose(op, entry.id, method="破砕", witness="山田")
    with pytest.raises(CallrecError):
        await ws.register.dispose(
            dispose, entry.id, method="破砕", witness="山田", on=date(2029, 4, 3)
        )  # in the future
    with pytest.raises(CallrecError):
        await ws.register.dispose(dispose, entry.id, method="破砕", witness="")
    entry = await ws.register.dispose(dispose, entry.id, method="破砕", witness="山田", on=date(2029, 4, 1))
    assert entry.status(clock.now()) is Status.DISPOSED and entry.disposed_on == date(2029, 4, 1)
    with pytest.raises(Conflict):
        await ws.register.dispose(dispose, entry.id, method="破砕", witness="山田")
    with pytest.raises(Conflict):
        await ws.register.extend(extend, entry.id, until=date(2031, 3, 31), reason="x")
    actions = [
        r[0]
        for r in await ws.db.fetchall("SELECT action FROM audit WHERE action LIKE 'register.%' ORDER BY seq")
    ]
    assert actions == [Action.REGISTER_CREATED, Action.REGISTER_EXTENDED, Action.REGISTER_DISPOSED]
    assert (await ws.audit.verify()).ok
    listed = await ws.register.list()
    assert [e.id for e in listed] == [entry.id]


async def test_not_receivable_before_submission(fixed: tuple[Workspace, FixedClock], spool: Path) -> None:
    ws, _ = fixed
    recording(spool, "in-0488291111-0312345678-20270320-100000-pbx-1.1.wav", 8000)
    calls = await index(ws)
    ins = await ws.instructions.issue_export(
        await mgr(ws, Duty.ISSUE_INSTRUCTION), purpose="proper-conduct", medium="usb", call_ids=[calls[0].id]
    )
    with pytest.raises(Conflict) as err:
        await ws.register.receive(await mgr(ws, Duty.RECEIVE_OUTPUT), ins.number)
    assert err.value.code == "not_receivable"
