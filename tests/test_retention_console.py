"""The retention view in the console (Pilot): preview, holds (due or not), hold and release, issue
and run a purge, the deletion record; snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from screens.retention.deletion_record import DeletionRecordScreen, PeriodModal
from screens.retention.holding import ReasonModal, call_line
from screens.retention.view import BlockedList
from screens.widgets.modals import ConfirmModal, PinPrompt
from services.access.audit import Action
from services.access.duties import Duty
from services.core.config import Config
from services.retention.deletion_record import DeletionRecord
from services.workspace import Workspace
from tests.support.console import (
    call_list,
    make_app,
    open_view,
    screen_text,
    show_retention,
    unlock_as_manager,
    until,
)
from tests.support.console import said as shown
from tests.support.retention import files_on_disk, ids_by_path, make_calls, manager, operator, states


def said(app: Any) -> str:
    """The console's one-line messages (toasts) so far."""
    return "\n".join(m for _, m in shown(app).messages)


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


async def test_every_hold_is_listed_and_released_from_the_view(ws: Workspace, spool: Path) -> None:
    """A hold on a call whose date has not passed is listed too, with its reason; the manager
    releases it from the list."""
    old, new = make_calls(spool, expired=2, current=2)
    await ws.indexer.scan()
    ids = await ids_by_path(ws)
    early = ids[new[0].relative_to(spool).as_posix()]
    late = ids[old[0].relative_to(spool).as_posix()]
    await ws.holds.set(await manager(ws), early, "弁護士照会（保存期限前）")
    await ws.holds.set(await manager(ws), late, "訴訟対応")
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        view = await open_view(pilot, app)
        assert view.preview is not None
        assert [b.id for b in view.preview.blocked] == [late]
        assert [b.id for b in view.preview.held_ahead] == [early]
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "期限を過ぎても削除しない録音: 1件" in text and "保留中（期限前）: 1件" in text
        assert "保留（期限前）" in text and "弁護士照会（保存期限前）" in text
        blocked = view.query_one(BlockedList)
        blocked.focus()
        blocked.set_cursor(1)  # the hold not yet due
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        assert app.screen.call_id == early  # type: ignore[attr-defined]
        await pilot.press(*"照会終了", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: view.preview is not None and not view.preview.held_ahead)
        assert [h.call_id for h in await ws.holds.active()] == [late]
        assert f"保留を解除しました: {call_line(await ws.calls.get(early))}" in said(app)


async def test_the_deletion_record_is_shown_and_saved(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=4, current=1)
    await ws.indexer.scan()
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    plan = await ws.purge.plan(ins.id)
    await ws.purge.execute(await operator(ws), plan, typed_count=4)
    today = ws.clock.now().date()
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_view(pilot, app)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, PeriodModal))
        assert today.replace(day=1).isoformat() in screen_text(app)
        await pilot.press("enter", "ctrl+u", *"someday", "enter")  # not a date: says so
        await until(pilot, lambda: "日付として読めません: someday" in screen_text(app))
        await pilot.press("ctrl+u", *"2000-01-01", "enter")  # before the first day
        await until(pilot, lambda: "最後の日が最初の日より前です" in screen_text(app))
        await pilot.press("ctrl+u", *"今日", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        assert "運用責任者" in screen_text(app)  # the manager's PIN, as `callrec deletions` asks
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: isinstance(app.screen, DeletionRecordScreen))
        record = app.screen.record  # type: ignore[attr-defined]
        assert len(record.calls) == 4 and {c.instruction for c in record.calls} == {ins.number}
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "削除記録" in text and "4件" in text and ins.number in text
        assert "•" in text  # the other party's number masked, as everywhere
        await pilot.press("s")
        page = ws.config.data / "reports" / f"deletion-record-{today.replace(day=1)}-{today}.html"
        await until(pilot, lambda: page.exists() and "保存しました" in said(app), what="the page")
        html = page.read_text(encoding="utf-8")
        assert "削除記録" in html and "@page { size: A4" in html and ins.number in html
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DeletionRecordScreen))
    produced = await ws.db.fetchall("SELECT subject FROM audit WHERE action = ?", (Action.REPORT_PRODUCED,))
    assert [r["subject"] for r in produced] == ["deletion_record"]


async def test_locking_hides_the_deletion_record(ws: Workspace, spool: Path) -> None:
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_view(pilot, app)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, PeriodModal))
        await pilot.press("enter", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: isinstance(app.screen, DeletionRecordScreen))
        assert "この期間に削除した録音はありません" in screen_text(app)
        await pilot.press("ctrl+l")
        await until(pilot, lambda: app.session is None, what="the lock")
        assert not any(isinstance(s, DeletionRecordScreen) for s in app.screen_stack)


# -- snapshots (the console's sample workspace and fixed clock) ---------------------------------

from tests.test_console_snapshots import NOW, SIZES, console, opened, sample_workspace  # noqa: E402


@pytest.fixture(scope="module")
def retention_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The sample spool at the snapshots' fixed time, with an export instruction naming calls
    past their date, a hold on one of them and one on a call not yet due."""
    from services.access.duties import Role
    from services.calls import CallFilter

    async def instruct_and_hold(ws: Workspace) -> None:
        boss = await ws.auth.authorize(Role.MANAGER, "1111", Duty.ISSUE_INSTRUCTION)
        newest_first = await ws.calls.page(CallFilter(), limit=100)
        await ws.instructions.issue_export(
            boss, purpose="undue-pressure", medium="dvd-r", call_ids=[newest_first[-1].id]
        )
        keeper = await ws.auth.authorize(Role.MANAGER, "1111", Duty.HOLD)
        await ws.holds.set(keeper, newest_first[-2].id, "情報公開請求への対応")
        await ws.holds.set(keeper, newest_first[0].id, "弁護士会照会（期限前に保留）")

    return sample_workspace(tmp_path_factory.mktemp("retention-snap"), instruct_and_hold)


@pytest.mark.parametrize(("lang", "size"), [("ja", "80x24"), ("en", "120x40")])
def test_retention_view_snapshot(snap_compare: Any, retention_config: Config, lang: str, size: str) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await show_retention(pilot)
        await pilot.pause(0.3)

    assert snap_compare(console(retention_config, lang), terminal_size=SIZES[size], run_before=run)


def sample_record() -> DeletionRecord:
    """A deletion record as the service builds it, with fixed times (a purge runs on the real
    clock only, so the snapshot's record is made here)."""
    from datetime import date, timedelta

    from services.access.audit import Head
    from services.retention.deletion_record import DeletedCall, RunSummary

    at = NOW.replace(hour=9, minute=5)
    calls = [
        DeletedCall(
            id=100 + i,
            started_at=NOW - timedelta(days=90 - i, hours=i),
            type=("in", "out", "q")[i % 3],
            city_number="0488291111",
            other_number=None if i == 4 else f"09012345{i:03d}",
            caller_id="withheld" if i == 4 else "number",
            uniqueid=f"pbx-{i}",
            size=48_000 + i * 512,
            duration_s=30.0 + i,
            sha256=f"{i:02x}" * 32,
            raw_retention_until=date(2026, 9, 30),
            purged_at=at,
            purged_by="operator",
            instruction="2026-0007",
        )
        for i in range(12)
    ]
    run = RunSummary(
        id=3,
        instruction="2026-0007",
        state="finished",
        actor="operator",
        started_at=at,
        ended_at=at + timedelta(seconds=40),
        grace_days=0,
        planned=13,
        deleted=12,
        deleted_bytes=sum(c.size for c in calls),
        skipped=1,
        problem="",
    )
    return DeletionRecord(
        date_from=date(2026, 11, 1),
        date_to=date(2026, 11, 24),
        produced_at=NOW,
        produced_by="manager",
        centre="さいたまコールセンター",
        grace_days=0,
        calls=calls,
        runs=[run],
        audit_head=Head(4321, "ab" * 32),
    )


@pytest.mark.parametrize(("lang", "size"), [("ja", "80x24"), ("en", "120x40")])
def test_deletion_record_snapshot(snap_compare: Any, retention_config: Config, lang: str, size: str) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        pilot.app.push_screen(DeletionRecordScreen(sample_record()))
        await until(pilot, lambda: isinstance(pilot.app.screen, DeletionRecordScreen))
        await pilot.pause(0.3)

    assert snap_compare(console(retention_config, lang), terminal_size=SIZES[size], run_before=run)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_hold_is_set_on_the_call_selected_in_the_list(
    ws: Workspace, spool: Path, lang: str, size: tuple[int, int]
) -> None:
    """第4条6 from the calls list: `h` holds the selected call; the dialog and the PIN prompt name
    it by date, time and masked numbers, never by an id the narrow list does not show."""
    make_calls(spool, expired=3, current=2)
    await ws.indexer.scan()
    app = make_app(ws, lang=lang)
    async with app.run_test(size=size) as pilot:
        await unlock_as_manager(pilot)
        lst = call_list(app)
        await until(pilot, lambda: lst.row_count >= 5 and lst.selected is not None)
        await pilot.press("down", "down")
        await until(pilot, lambda: lst.cursor == 2)
        chosen = lst.selected
        line = call_line(chosen)
        assert "•" in line and chosen.other_number not in line  # masked

        def names_it(text: str) -> bool:  # the line may wrap in a narrow dialog
            return all(part in text for part in line.split())

        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal) and names_it(screen_text(app)))
        assert app.screen.call_id == chosen.id  # type: ignore[attr-defined]
        await pilot.press(*"request", "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt) and names_it(screen_text(app)))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: line in said(app))
        assert [h.call_id for h in await ws.holds.active()] == [chosen.id]
    rows = await ws.db.fetchall("SELECT action FROM audit ORDER BY seq")
    assert [r["action"] for r in rows].count(Action.HOLD_SET) == 1


async def test_h_in_an_empty_calls_list_says_there_is_nothing_to_hold(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock_as_manager(pilot)
        await pilot.press("h")
        await until(pilot, lambda: "選択されている通話がありません" in said(app))
        assert not isinstance(app.screen, ReasonModal)
