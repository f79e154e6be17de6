"""The output-data screens through Textual's Pilot: the manager instructs from calls picked in the
calls view, the operator executes with progress, the manager receives, the register extends and
refuses an early disposal; forms on screen and saved as A4 pages."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Select

from screens.exports.dialogs import FieldsForm, TextViewer
from screens.exports.register_view import RegisterList
from screens.instructions.view import InstructionList
from screens.widgets.modals import ConfirmModal, PinPrompt
from screens.widgets.progress import ProgressModal
from services.access.audit import Action
from services.core.clock import JST
from services.export.progress import Meter
from services.instructions.store import Criteria, State
from services.workspace import Workspace
from tests.support.console import (
    call_list,
    fill,
    footer,
    make_app,
    pin,
    screen_text,
    settle,
    show,
    show_instructions,
    unlock,
    unlock_as_manager,
    until,
)
from tests.support.console import said as shown
from tests.support.export import extract, manager, needs_xorriso, sha256sum_check

pytestmark = needs_xorriso


async def test_manager_instructs_from_calls_picked_in_the_calls_view(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock_as_manager(pilot)
        lst = call_list(app)
        first, second = lst.selected.id, lst.call_at(1).id
        await pilot.press("m", "m")  # marks the first, moves down, marks the second
        await until(pilot, lambda: lst.marked == {first, second}, what="two marked")
        assert "✓" in screen_text(app)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="form")
        assert "2件" in screen_text(app)
        await pilot.press("ctrl+s")  # no purpose chosen: asked again, with the reason
        await until(pilot, lambda: "目的を選んでください" in screen_text(app), what="complaint")
        await fill(pilot, purpose="crime-prevention", medium="usb", note="[b]警察[/b]")
        await pin(pilot, "1111")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        assert "犯罪の防止" in screen_text(app) and "USBメモリ" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: not lst.marked, what="marks cleared")
    items = await indexed.instructions.list()
    assert len(items) == 1 and set(items[0].call_ids) == {first, second}
    assert items[0].purpose == "crime-prevention" and items[0].note == "[b]警察[/b]"


async def test_operator_cannot_instruct(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)  # the operator
        await settle(pilot)
        assert " m " not in footer(app) and " i " not in footer(app)  # not the operator's keys
        await pilot.press("i")  # pressed anyway: one line says why, no form, no PIN prompt
        await until(pilot, lambda: said(app, "運営受託者"), what="why not")
        assert not isinstance(app.screen, FieldsForm | PinPrompt)
        await pilot.press("m")
        assert not call_list(app).marked
    assert await indexed.instructions.list() == []


async def test_execute_receive_and_register(indexed: Workspace, tmp_path: Path) -> None:
    ins = await indexed.instructions.issue_export(
        await manager(indexed), purpose="undue-pressure", medium="dvd-r", call_ids=[3, 5, 8]
    )
    out = tmp_path / "console.iso"
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)  # the operator executes
        await settle(pilot)
        await show_instructions(pilot)
        await pilot.press("x")
        await fill(pilot, kind="image", where=str(out))
        await pin(pilot, "2222")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        text = screen_text(app)
        assert "3件" in text and "DVD-R" in text and "console.iso" in text
        await pilot.press(*ins.number, "enter")  # writing media: the number is typed out
        await until(
            pilot,
            lambda: out.exists() and not isinstance(app.screen, ProgressModal) and app.screen.id == "main",
            timeout=30,
            what="written",
        )
        await pilot.press("s")  # the 提出書, as submitted
        await until(pilot, lambda: isinstance(app.screen, TextViewer), what="form 2")
        assert "出力データ提出書" in screen_text(app)
        assert "（広聴課長）\u3000様" in screen_text(app)  # laid out, not escaped
        await pilot.press("s")
        await until(pilot, lambda: (indexed.config.data / "forms" / f"{ins.number}-form2.html").exists())
        await pilot.press("escape")
    assert (await indexed.instructions.get(ins.id)).state == State.SUBMITTED
    assert sha256sum_check(extract(out, tmp_path / "x")).returncode == 0

    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock_as_manager(pilot)
        await show_instructions(pilot)
        await pilot.press("a")
        await fill(pilot, custodian="広聴課 書庫A-3")
        await pin(pilot, "1111")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        assert "翌年度末" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.id == "main")
        await show(pilot, "register")
        reg = app.screen.query_one(RegisterList)
        await until(pilot, lambda: reg.row_count == 1, what="register entry")
        text = screen_text(app)
        assert ins.number in text and "保存中" in text and "広聴課 書庫A-3" in text
        await pilot.press("e")
        await fill(pilot, until="2031-03-31", reason="訴訟対応")
        await pin(pilot, "1111")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("enter")
        await until(pilot, lambda: "2031-03-31" in screen_text(app), what="extended")
        await pilot.press("d")  # not due: said at once, before any form or PIN
        await until(pilot, lambda: said(app, "2031-04-01"), what="refused: not due")
        assert app.screen.id == "main" and app.focused is reg
    entry = (await indexed.register.list())[0]
    assert entry.kept_through.isoformat() == "2031-03-31" and entry.disposed_on is None


def said(app: Any, text: str) -> bool:
    return text in shown(app)


async def test_keys_follow_the_role_at_80_columns(indexed: Workspace) -> None:
    """At 80x24 the key bar shows each role the keys it can use; the other role's keys, pressed,
    say why in one line, with no form and no PIN prompt."""
    await indexed.instructions.issue_export(
        await manager(indexed), purpose="proper-conduct", medium="dvd-r", call_ids=[3]
    )
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock_as_manager(pilot)
        assert " m  選択" in footer(app) and " i  出力指示" in footer(app)
        lst = call_list(app)
        await pilot.press("m")
        await until(pilot, lambda: len(lst.marked) == 1)
        line = next(row for row in screen_text(app).splitlines() if "✓" in row)
        assert re.search(r"\d\d-\d\d \d\d:\d\d✓", line), line  # the time whole, the mark after it
        assert "1件を選択中" in screen_text(app)  # in the summary line, not a toast per call
        await show_instructions(pilot)
        keys = footer(app)
        assert " a  受領" in keys and " c  指示取消" in keys and " x " not in keys
        await pilot.press("x")
        await until(pilot, lambda: said(app, "運用責任者は"), what="why not")
        assert app.screen.id == "main" and isinstance(app.focused, InstructionList)

    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)  # the operator
        await show_instructions(pilot)
        keys = footer(app)
        assert " x  出力実行" in keys and " s  提出書" in keys
        assert " a " not in keys and " c " not in keys and " n " not in keys
        for key in "acn":
            await pilot.press(key)
            await pilot.pause(0.05)
            assert app.screen.id == "main"
        await until(pilot, lambda: said(app, "運営受託者は"), what="why not")


async def test_manager_cancels_an_instruction(indexed: Workspace) -> None:
    ins = await indexed.instructions.issue_export(
        await manager(indexed), purpose="proper-conduct", medium="dvd-r", call_ids=[3]
    )
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock_as_manager(pilot)
        lst = await show_instructions(pilot)
        await pilot.press("c")
        await fill(pilot, reason="対象通話の誤り")
        await pin(pilot, "1111")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        assert ins.number in screen_text(app) and "対象通話の誤り" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: said(app, "取り消しました"), what="cancelled")
        await until(pilot, lambda: lst.selected is not None and lst.selected.state == State.CANCELLED)
        assert app.focused is lst  # the keys go to the list again
        await pilot.press("c")  # cancelled already: said at once
        await until(pilot, lambda: said(app, "取り消せません"), what="not cancellable")
        assert app.screen.id == "main"
    row = await indexed.db.fetchone(
        "SELECT detail FROM audit WHERE action = ?", (Action.INSTRUCTION_CANCELLED,)
    )
    assert "対象通話の誤り" in row[0]


async def test_destination_problems_are_said_on_the_form(indexed: Workspace, tmp_path: Path) -> None:
    """A folder missing, read-only or not given: one line on the destination form, asked again
    with what was typed, the PIN not asked again; nothing is written anywhere."""
    ins = await indexed.instructions.issue_export(
        await manager(indexed), purpose="proper-conduct", medium="usb", call_ids=[3, 5]
    )
    stick = tmp_path / "stick"
    stick.mkdir()
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await show_instructions(pilot)
        await pilot.press("x")
        await fill(pilot, where=str(tmp_path / "unplugged"))
        await pin(pilot, "2222")
        await until(
            pilot,
            lambda: isinstance(app.screen, FieldsForm) and "出力先がありません" in screen_text(app),
            what="missing, said on the form",
        )
        assert app.screen.query_one("#ff-where", Input).value == str(tmp_path / "unplugged")
        await fill(pilot, where="")
        await until(pilot, lambda: "出力先の場所を入力してください" in screen_text(app), what="empty")
        mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m,ro", "tmpfs", str(stick)], capture_output=True
            ).returncode
            == 0
        )
        try:
            if mounted:
                await fill(pilot, where=str(stick))
                await until(pilot, lambda: "読み取り専用" in screen_text(app), what="read-only")
        finally:
            if mounted:
                subprocess.run(["umount", "-l", str(stick)], capture_output=True)
        await fill(pilot, where=str(stick))  # writable now: straight to the confirmation
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id == "main")
        assert isinstance(app.focused, InstructionList)
    assert list(stick.iterdir()) == [] and not (tmp_path / "unplugged").exists()
    assert (await indexed.instructions.get(ins.id)).state == State.ISSUED
    assert await indexed.db.scalar("SELECT count(*) FROM exports") == 0


async def test_the_location_follows_the_kind_of_destination(indexed: Workspace) -> None:
    await indexed.instructions.issue_export(
        await manager(indexed), purpose="proper-conduct", medium="dvd-r", call_ids=[3]
    )
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await show_instructions(pilot)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="form")
        where = app.screen.query_one("#ff-where", Input)
        assert where.value == indexed.config.media_device
        app.screen.query_one("#ff-kind", Select).value = "image"
        await until(pilot, lambda: where.value == "" and ".iso" in where.placeholder)
        where.value = "/somewhere/out.iso"
        app.screen.query_one("#ff-kind", Select).value = "device"
        await pilot.pause(0.1)
        assert where.value == "/somewhere/out.iso"  # typed: kept
        await pilot.press("escape")


async def test_progress_and_cancel_in_the_console(
    indexed: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator cancels mid-write from the progress dialog: asked to confirm, the export stops,
    nothing is left, the instruction is open again, and the console says so."""
    ins = await indexed.instructions.issue_export(
        await manager(indexed), purpose="proper-conduct", medium="dvd-r", call_ids=[3, 5, 8]
    )
    out = tmp_path / "out"
    out.mkdir()
    original, reached = Meter.add, threading.Event()

    def held_add(self: Meter, n: int) -> None:  # the writer waits here until cancel is asked
        if not reached.is_set():
            reached.set()
            deadline = time.monotonic() + 10
            while not self.cancel.cancelled and time.monotonic() < deadline:
                time.sleep(0.01)
        original(self, n)

    monkeypatch.setattr(Meter, "add", held_add)
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await show_instructions(pilot)
        await pilot.press("x")
        await fill(pilot, kind="image", where=str(out / "o.iso"))
        await pin(pilot, "2222")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        await pilot.press(*ins.number, "enter")
        await until(pilot, lambda: isinstance(app.screen, ProgressModal) and reached.is_set(), what="writing")
        await until(pilot, lambda: "書込み" in screen_text(app), what="the phase shown")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="cancel?")
        await pilot.press("enter")
        await until(pilot, lambda: said(app, "中止しました"), timeout=15, what="cancelled")
        await until(pilot, lambda: app.screen.id == "main")
        assert isinstance(app.focused, InstructionList)
    assert list(out.iterdir()) == []
    assert (await indexed.instructions.get(ins.id)).state == State.ISSUED


async def test_described_instruction_reads_as_text(indexed: Workspace) -> None:
    crit = Criteria.parse("2026-09-07T09:00", "2026-09-07T15:00", other="03-1234-5678", tz=JST)
    await indexed.instructions.issue_export(
        await manager(indexed), purpose="proper-conduct", medium="dvd-r", criteria=crit
    )
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await show(pilot, "instructions")
        await until(
            pilot, lambda: "2026-09-07 09:00 〜 2026-09-07 15:00" in screen_text(app), what="criteria"
        )
        assert "相手方 03-1234-5678" in screen_text(app) and '"from"' not in screen_text(app)
