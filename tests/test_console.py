"""The console driven through Textual's Pilot: locking, PINs, views, search, reveal, quitting."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from textual.widgets import Input, Select

from screens.calls.view import CallDetail
from screens.help import HelpScreen
from screens.lock import LockScreen
from screens.widgets.chrome import ViewBar
from screens.widgets.modals import PinPrompt
from services.access.audit import Action
from services.access.duties import Role
from services.core.errors import CallrecError
from services.workspace import Workspace
from tests.support.console import (
    burst,
    call_list,
    make_app,
    press_only,
    screen_text,
    settle,
    unlock,
    until,
    until_exit,
    wait_for_lock,
)


async def audit_actions(ws: Workspace) -> list[tuple[str, str, dict]]:
    rows = await ws.db.fetchall("SELECT actor, action, detail FROM audit ORDER BY seq")
    return [(r["actor"], r["action"], json.loads(r["detail"])) for r in rows]


async def test_opens_locked_with_no_call_data(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "PIN" in screen_text(app))
        assert isinstance(app.screen, LockScreen)
        text = screen_text(app)
        assert "運営受託者" in text and "PIN" in text and "Ctrl+Q: 終了" in text
        assert "\\x0a" not in text  # several lines of a catalogue string are lines, not escapes
        for fragment in ("048-829", "0488291111", "in-", "録音中", "完了"):
            assert fragment not in text
        assert call_list(app).row_count == 0  # nothing read before the unlock
        assert app.session is None


async def test_unlock_shows_the_index_and_is_audited(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        assert app.session is not None and app.session.role is Role.OPERATOR
        lst = call_list(app)
        assert lst.row_count == 45 and lst.exact
        await until(pilot, lambda: "1件目 / 45件" in screen_text(app))
        text = screen_text(app)
        assert "048-829-1111" in text  # the city side is shown in full
        assert "080-1111-2222" not in text  # the other party is masked...
        assert "•••-••••-2222" in text  # ...but for its last four digits
    actions = await audit_actions(indexed)
    assert ("operator", Action.SESSION_UNLOCKED, {}) in actions


async def test_wrong_pin_says_how_many_tries_are_left(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"9999", "enter")
        await until(pilot, lambda: "あと4回" in screen_text(app), what="wrong-PIN message")
        assert app.session is None
        assert app.screen.query_one("#lock-pin", Input).value == ""
        await pilot.press(*"12", "enter")  # too short: said at once, no attempt spent
        await until(pilot, lambda: "数字4〜12桁" in screen_text(app))
    state = await indexed.auth.lock_state(Role.OPERATOR)
    assert state.failures == 1


async def test_lockout_says_until_when_and_refuses_the_right_pin(indexed: Workspace) -> None:
    app = make_app(indexed, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(5):
            await pilot.press(*"9999", "enter")
            await until(pilot, lambda: not app.screen.query_one("#lock-pin", Input).disabled)
            await pilot.pause(0.05)
        until_text = (await indexed.auth.lock_state(Role.OPERATOR)).locked_until
        assert until_text is not None
        await until(pilot, lambda: f"locked out until {until_text:%H:%M:%S}" in screen_text(app))
        message = [line for line in screen_text(app).splitlines() if "locked out" in line]
        assert len(message) == 1  # one line
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: not app.screen.query_one("#lock-pin", Input).disabled)
        await pilot.pause(0.1)
        assert app.session is None
        # the other role is not locked out
        await pilot.press("tab", *"1111", "enter")
        await until(pilot, lambda: app.session is not None)
        assert app.session.role is Role.MANAGER


async def test_lockout_is_one_line_in_japanese_at_80_columns(indexed: Workspace) -> None:
    for _ in range(5):  # another console (or the CLI) used up the attempts
        with contextlib.suppress(CallrecError):
            await indexed.auth.verify(Role.OPERATOR, "9999")
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: "ロック中" in screen_text(app))
        shown = [line for line in screen_text(app).splitlines() if "ロック中" in line]
        assert len(shown) == 1 and "PINの誤りが続いたため、運営受託者は" in shown[0]
        assert app.session is None


async def test_ctrl_l_locks_at_once_and_is_audited(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await pilot.press("ctrl+l")
        await wait_for_lock(pilot)
        text = screen_text(app)
        assert "ロックしました" in text and "048-829" not in text
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: app.session is not None and app.screen.id == "main")
    actions = [a for a in await audit_actions(indexed) if a[1].startswith("session.")]
    assert actions == [
        ("operator", Action.SESSION_UNLOCKED, {}),
        ("operator", Action.SESSION_LOCKED, {"reason": "key"}),
        ("operator", Action.SESSION_UNLOCKED, {}),
    ]


async def test_idle_lock(indexed: Workspace) -> None:
    app = make_app(indexed, idle_lock_seconds=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        app.idle_lock_seconds = 2.0
        await pilot.press("down")  # activity keeps it open
        await pilot.pause(1.0)
        assert app.session is not None
        await until(pilot, lambda: app.session is None, timeout=4, what="idle lock")
        await wait_for_lock(pilot)
        assert "一定時間操作がなかった" in screen_text(app)
    assert ("operator", Action.SESSION_LOCKED, {"reason": "idle"}) in await audit_actions(indexed)


async def test_idle_lock_dismisses_an_open_pin_prompt(indexed: Workspace) -> None:
    app = make_app(indexed, idle_lock_seconds=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press("2")  # half a PIN, then the operator walks away
        app.idle_lock_seconds = 1.0
        await until(pilot, lambda: app.session is None, timeout=4)
        await wait_for_lock(pilot)
        assert not any(isinstance(s, PinPrompt) for s in app.screen_stack)
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: app.screen.id == "main")
        assert call_list(app).revealed is None


async def test_kiosk_quit_needs_a_pin_and_keys_never_escape(indexed: Workspace) -> None:
    app = make_app(indexed, kiosk=True)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("ctrl+c", "ctrl+z", "ctrl+backslash", "ctrl+p"):
            await pilot.press(key)
            await pilot.pause(0.05)
            assert isinstance(app.screen, LockScreen), key
        assert app.is_running
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt), what="quit PIN prompt")
        await pilot.press("ctrl+q")  # impatient: a second quit does not stack a second prompt
        await pilot.pause(0.1)
        assert sum(isinstance(s, PinPrompt) for s in app.screen_stack) == 1
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, LockScreen))
        assert app.is_running
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"5555", "enter")
        await until(pilot, lambda: "PINが違います" in screen_text(app))
        assert app.is_running
        await press_only(pilot, *"2222", "enter")
        await until_exit(pilot)
    assert app.return_code == 0
    actions = await audit_actions(indexed)
    assert actions[-1] == ("operator", Action.SESSION_QUIT, {"reason": "kiosk"})


async def test_quit_without_kiosk(indexed: Workspace) -> None:
    app = make_app(indexed, kiosk=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await press_only(pilot, "ctrl+q")
        await until_exit(pilot)
    assert (await audit_actions(indexed))[-1][1] == Action.SESSION_QUIT


async def test_views_switch_with_number_keys(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await pilot.press("2")
        await until(pilot, lambda: "未完了の指示" in screen_text(app))
        await pilot.press("3")
        await until(pilot, lambda: "監査ログ" in screen_text(app) and "正常" in screen_text(app))
        text = screen_text(app)
        assert "45件" in text  # calls kept
        await pilot.press("1")
        await until(pilot, lambda: "1件目 / 45件" in screen_text(app))


async def test_help_says_why_there_is_no_playback(indexed: Workspace) -> None:
    app = make_app(indexed, lang="en")
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen) and "Art. 4(1)" in screen_text(app))
        text = screen_text(app)
        assert "never played" in text and "Art. 4(1)" in text
        assert "Reveal" in text and "Search" in text
        assert "Scroll" not in text  # only the console's own keys, translated
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.id == "main")


async def test_search_filters_as_you_type(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        lst = call_list(app)
        await pilot.press("slash", *"03")
        await settle(pilot)
        expected = await indexed.calls.count(lst.filter)
        assert lst.filter.number == "03" and lst.row_count == expected < 45
        for i in range(lst.row_count):
            call = lst.call_at(i)
            assert "03" in f"{call.city_number or ''} {call.other_number or ''}"
        await pilot.press(*"12345678")
        await settle(pilot)
        assert lst.row_count == await indexed.calls.count(lst.filter) > 0
        await pilot.press("escape", "c")  # back to the list, clear
        await settle(pilot)
        assert lst.row_count == 45
        # a date range, typed leniently; a half-typed date changes nothing until it is a date
        await pilot.press("slash", "tab", *"2026/11/0")
        await pilot.pause(0.1)
        assert app.screen.query_one("#f-from", Input).has_class("invalid")
        await pilot.press("1")
        await settle(pilot)
        assert lst.filter.date_from is not None and lst.filter.date_from.isoformat() == "2026-11-01"
        assert lst.row_count == await indexed.calls.count(lst.filter) > 0
        app.screen.query_one("#f-state", Select).value = "missing"
        await settle(pilot)
        assert lst.row_count == 0
        assert "該当する通話はありません" in screen_text(app)


async def test_keys_typed_right_after_slash_land_in_the_search(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        burst(app, "/0312")
        await until(pilot, lambda: call_list(app).filter.number == "0312")
        await pilot.press("tab")
        burst(app, "2026/11/01")  # in a date field "/" is just a character
        await until(pilot, lambda: app.screen.query_one("#f-from", Input).value == "2026/11/01")
        assert app.screen.id == "main"


async def test_reveal_asks_the_pin_and_is_audited(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        lst = call_list(app)
        call = lst.selected
        assert call is not None and call.other_number
        full = "080-1111-2222"
        assert full not in screen_text(app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"1111", "enter")  # the manager's PIN is not the operator's
        await until(pilot, lambda: "PINが違います" in screen_text(app))
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: app.screen.id == "main" and lst.revealed == call.id)
        await until(pilot, lambda: full in screen_text(app) and "08011112222" in screen_text(app))
        await pilot.press("down")
        await until(pilot, lambda: lst.revealed is None)
        await until(pilot, lambda: full not in screen_text(app))
    actions = await audit_actions(indexed)
    reveals = [a for a in actions if a[1] == Action.NUMBER_REVEALED]
    assert reveals == [("operator", Action.NUMBER_REVEALED, {"call_id": call.id})]


async def test_detail_masks_the_number_in_the_file_name(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await until(
            pilot,
            lambda: "in-0488291111-•••••••2222-20261111" in str(app.screen.query_one(CallDetail).render()),
        )
        assert "08011112222" not in screen_text(app)


async def test_the_mouse_works_too(indexed: Workspace) -> None:
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        await pilot.click(ViewBar, offset=(15, 0))  # the tab " 2 指示 "
        await until(pilot, lambda: "未完了の指示" in screen_text(app))
        await pilot.click(ViewBar, offset=(2, 0))
        await until(pilot, lambda: "1件目 / 45件" in screen_text(app))
        lst = call_list(app)
        await pilot.click(lst, offset=(5, 4))  # the fourth row (line 0 is the header)
        await until(pilot, lambda: lst.cursor == 3)


async def test_a_key_pressed_while_the_list_is_read_again_stands(
    indexed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live refresh keeps the cursor on its call: the call under the cursor when the rows come
    back, so a key pressed while they were being read is not undone."""
    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        lst = call_list(app)
        await until(pilot, lambda: lst.row_count > 3 and lst.selected is not None)
        second = (await indexed.calls.page(lst.filter, limit=2))[1]
        held = asyncio.Event()
        page = indexed.calls.page

        async def slow_page(*args: Any, **kwargs: Any) -> Any:
            rows = await page(*args, **kwargs)
            await held.wait()
            return rows

        monkeypatch.setattr(indexed.calls, "page", slow_page)
        lst.reload(keep_place=True)
        await pilot.pause(0.1)
        await pilot.press("down")
        assert lst.cursor == 1
        held.set()
        await pilot.pause(0.3)
        assert lst.cursor == 1 and lst.selected is not None and lst.selected.id == second.id
