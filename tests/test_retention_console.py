"""The retention view in the console (Pilot): preview, hold and release, issue and run a purge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from retention_support import files_on_disk, ids_by_path, make_calls, manager, states
from test_console_kit import make_app, screen_text, unlock, until
from textual.pilot import Pilot

from screens.modals import ConfirmModal, PinPrompt
from screens.retention_view import ReasonModal, RetentionView
from services.audit import Action
from services.config import Config
from services.duties import Duty
from services.workspace import Workspace


def said(app) -> str:  # type: ignore[no-untyped-def]
    """The console's one-line messages (toasts) so far."""
    return "\n".join(n.message for n in app._notifications)


async def open_view(pilot, app) -> RetentionView:  # type: ignore[no-untyped-def]
    await unlock(pilot)
    await pilot.press("4")
    await until(pilot, lambda: app.screen.query(RetentionView))
    view = app.screen.query_one(RetentionView)
    await until(pilot, lambda: view.preview is not None, what="the preview")
    return view


async def test_the_view_shows_what_a_purge_would_do(ws: Workspace, spool: Path) -> None:
    old, _ = make_calls(spool, expired=5, current=2)
    await ws.indexer.scan()
    held = (await ids_by_path(ws))[old[0].relative_to(spool).as_posix()]
    await ws.holds.set(await manager(ws), held, "[bold]情報公開請求[/bold]\x1b[2J")
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_view(pilot, app)
        assert view.preview is not None and view.preview.purgeable.count == 4
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "削除できる録音" in text and "4件" in text
        assert "期限を過ぎても削除しない録音: 1件" in text
        assert "保留" in text and "[bold]情報公開請求[/bold]\\x1b[2J" in text  # shown literally
        assert "次の削除可能日" in text
        assert "削除指示" in text and "なし" in text


async def test_hold_and_release_ask_the_managers_pin(ws: Workspace, spool: Path) -> None:
    old, _ = make_calls(spool, expired=3)
    await ws.indexer.scan()
    call_id = (await ids_by_path(ws))[old[1].relative_to(spool).as_posix()]
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_view(pilot, app)
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*str(call_id), "enter", *"request", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"2222", "enter")  # the operator's PIN is not the manager's
        await until(pilot, lambda: "PINが違います" in screen_text(app))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: view.preview is not None and len(view.preview.blocked) == 1)
        assert [h.call_id for h in await ws.holds.active()] == [call_id]

        await pilot.press("u")  # the selected (held) row is released
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        await pilot.press(*"done", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: view.preview is not None and not view.preview.blocked)
        assert await ws.holds.active() == []
    actions = [r["action"] for r in await ws.db.fetchall("SELECT action FROM audit ORDER BY seq")]
    assert actions.count(Action.HOLD_SET) == 1 and actions.count(Action.HOLD_RELEASED) == 1


async def test_issue_and_run_a_purge_with_typed_confirmation(ws: Workspace, spool: Path) -> None:
    _, new = make_calls(spool, expired=6, current=2)
    await ws.indexer.scan()
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_view(pilot, app)
        await pilot.press("p")  # nothing issued yet
        await until(pilot, lambda: "削除指示がありません" in said(app))

        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: "指示済み" in screen_text(app), what="the instruction")

        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "6件" in screen_text(app)
        await pilot.press(*"5", "enter")  # the wrong count does not go ahead
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmModal) and len(files_on_disk(spool)) == 8
        await pilot.press("backspace", "6", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: len(files_on_disk(spool)) == 2, timeout=20, what="the purge")
        await until(pilot, lambda: view.preview is not None and view.preview.purgeable.count == 0)
        await until(pilot, lambda: "6件" in said(app) and "完了" in said(app), what="the result")
    st = await states(ws)
    assert sorted(st.values()) == ["complete"] * 2 + ["purged"] * 6
    assert {p.relative_to(spool).as_posix() for p in new} == files_on_disk(spool)
    done = await ws.db.fetchall("SELECT actor FROM audit WHERE action = ?", (Action.PURGE_DELETED,))
    assert [r["actor"] for r in done] == ["operator"] * 6
    ins = (await ws.instructions.list())[0]
    assert ins.kind == "purge" and ins.state == "done"
    assert await ws.auth.authorize("manager", "1111", Duty.HOLD)  # nobody was locked out


# -- snapshots (the console's sample workspace and fixed clock) ---------------------------------

from test_console_snapshots import SIZES, console, opened, snapshot_config  # noqa: E402, F401


@pytest.mark.parametrize(("lang", "size"), [("ja", "80x24"), ("en", "120x40")])
def test_retention_view_snapshot(snap_compare: Any, snapshot_config: Config, lang: str,  # noqa: F811
                                 size: str) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("4")
        await until(pilot, lambda: pilot.app.screen.query(RetentionView))
        view = pilot.app.screen.query_one(RetentionView)
        await until(pilot, lambda: view.preview is not None)
        await pilot.pause(0.3)

    assert snap_compare(console(snapshot_config, lang), terminal_size=SIZES[size], run_before=run)
