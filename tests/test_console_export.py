"""The output-data screens through Textual's Pilot: the manager instructs from calls picked in the
calls view, the operator executes with progress, the manager receives, the register extends and
refuses an early disposal; forms on screen and saved as A4 pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_console_kit import call_list, make_app, screen_text, settle, unlock, until
from textual.pilot import Pilot
from textual.widgets import Input, Select

from screens.export_dialogs import FieldsForm, TextViewer
from screens.instructions_view import InstructionList
from screens.modals import ConfirmModal, PinPrompt
from screens.progress import ProgressModal
from screens.register_view import RegisterList
from screens.views import views
from services.instructions import State
from services.workspace import Workspace
from tests.export_support import extract, manager, needs_xorriso, sha256sum_check

pytestmark = needs_xorriso


@pytest.fixture
async def indexed(ws: Workspace, samples: list[Path]) -> Workspace:
    await ws.indexer.scan()
    return ws


async def unlock_as_manager(pilot: Pilot[Any]) -> None:
    await pilot.press("tab")
    await unlock(pilot, "1111")


async def show(pilot: Pilot[Any], key: str) -> None:
    app = pilot.app
    await app.screen.show_view([v.key for v in views()].index(key))  # type: ignore[attr-defined]
    await pilot.pause(0.1)


async def pin(pilot: Pilot[Any], value: str) -> None:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, PinPrompt), what="PIN prompt")
    await pilot.press(*value, "enter")


async def fill(pilot: Pilot[Any], **values: str) -> None:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="form")
    for key, value in values.items():
        widget = app.screen.query_one(f"#ff-{key}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
    await pilot.pause(0.05)
    await pilot.press("ctrl+s")


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
        await pilot.press("i")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, FieldsForm)
    assert await indexed.instructions.list() == []


async def test_execute_receive_and_register(indexed: Workspace, tmp_path: Path) -> None:
    ins = await indexed.instructions.issue_export(await manager(indexed), purpose="undue-pressure",
                                                  medium="dvd-r", call_ids=[3, 5, 8])
    out = tmp_path / "console.iso"
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)  # the operator executes
        await settle(pilot)
        await show(pilot, "instructions")
        await until(pilot, lambda: app.screen.query_one(InstructionList).selected is not None)
        await pilot.press("x")
        await fill(pilot, kind="image", where=str(out))
        await pin(pilot, "2222")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        text = screen_text(app)
        assert "3件" in text and "DVD-R" in text and "console.iso" in text
        await pilot.press(*ins.number, "enter")  # writing media: the number is typed out
        await until(pilot, lambda: (out.exists() and not isinstance(app.screen, ProgressModal)
                                    and app.screen.id == "main"), timeout=30, what="written")
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
        await show(pilot, "instructions")
        await until(pilot, lambda: app.screen.query_one(InstructionList).selected is not None)
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
        await pilot.press("d")
        await fill(pilot, method="破砕", witness="山田")
        await pin(pilot, "1111")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("1", "enter")
        await until(pilot, lambda: any("2031-04-01" in n.message for n in app._notifications),
                    what="refused: not due")
    entry = (await indexed.register.list())[0]
    assert entry.kept_through.isoformat() == "2031-03-31" and entry.disposed_on is None
