"""The parts other areas build on: the view registry, the modals, long jobs and their progress."""

from __future__ import annotations

import asyncio

import pytest
from textual.containers import Vertical
from textual.widgets import Static

from screens import views as views_mod
from screens.views import View
from screens.widgets.modals import ConfirmModal, PinPrompt
from screens.widgets.progress import Job, ProgressModal
from services.access.duties import Duty, Role
from services.workspace import Workspace
from tests.support.console import make_app, screen_text, unlock, until, wait_for_lock


class RegisterView(Vertical):
    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("register view here", id="register-marker")


async def test_a_view_plugs_in_with_one_registration(
    indexed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    views_mod.discover()
    monkeypatch.setattr(views_mod, "_VIEWS", dict(views_mod._VIEWS))
    views_mod.register_view(View(key="register", title_key="view.calls", factory=RegisterView, order=25))
    keys = [v.key for v in views_mod.views()]
    assert keys[:3] == ["calls", "instructions", "register"] and "status" in keys
    app = make_app(indexed)
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        assert f"1-{len(keys)}" in screen_text(app)
        await pilot.press("3")
        await until(pilot, lambda: "register view here" in screen_text(app))
        await pilot.press("ctrl+right")
        await until(pilot, lambda: "監査ログ" in screen_text(app))


async def test_pin_prompt_returns_an_actor_for_the_entitled_role_only(indexed: Workspace) -> None:
    app = make_app(indexed)
    results: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)

        async def ask(duty: Duty) -> None:
            results.append(await app.ask_pin(duty, "purpose text", roles=list(Role)))

        app.run_worker(ask(Duty.HOLD))  # manager only: the prompt offers the manager alone
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        assert app.screen.roles == [Role.MANAGER]
        await until(pilot, lambda: "purpose text" in screen_text(app))
        await pilot.press(*"2222", "enter")  # the operator's PIN is wrong for the manager
        await until(pilot, lambda: "PINが違います" in screen_text(app))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: results)
        actor = results[0]
        assert getattr(actor, "role", None) is Role.MANAGER
        app.run_worker(ask(Duty.EXECUTE_INSTRUCTION))
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press("escape")
        await until(pilot, lambda: len(results) == 2)
        assert results[1] is None


async def test_a_duty_the_session_may_not_do_asks_the_entitled_roles_pin(indexed: Workspace) -> None:
    """The operator's console, a manager's duty (receipt): the prompt asks the manager's PIN
    instead of refusing the operator; a duty the operator may do stays with the operator."""
    app = make_app(indexed)
    results: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)  # the operator

        async def ask(duty: Duty) -> None:
            results.append(await app.ask_pin(duty, "purpose text"))

        app.run_worker(ask(Duty.RECEIVE_OUTPUT))
        await until(pilot, lambda: isinstance(app.screen, PinPrompt) and "運用責任者" in screen_text(app))
        assert app.screen.roles == [Role.MANAGER]
        assert "この操作を行える役割がありません" not in screen_text(app)
        await pilot.press(*"2222", "enter")  # the operator's own PIN does not do it
        await until(pilot, lambda: "PINが違います" in screen_text(app))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: results)
        assert getattr(results[0], "role", None) is Role.MANAGER
        app.run_worker(ask(Duty.REVEAL_NUMBER))
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        assert app.screen.roles == [Role.OPERATOR]
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: len(results) == 2)
        assert getattr(results[1], "role", None) is Role.OPERATOR


async def test_typed_confirmation_goes_ahead_only_when_the_word_matches(indexed: Workspace) -> None:
    app = make_app(indexed)
    answers: list[bool] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)

        async def ask() -> None:
            answers.append(
                await app.confirm(
                    "削除の確認",
                    ["12件（3.4 MB）を削除します。"],
                    typed="削除",
                    danger=True,
                    action="削除する",
                )
            )

        app.run_worker(ask())
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "12件（3.4 MB）を削除します。" in screen_text(app)
        await pilot.press("enter")  # nothing typed: no
        await pilot.press(*"さくじょ", "enter")
        await pilot.pause(0.1)
        assert answers == [] and isinstance(app.screen, ConfirmModal)
        field = app.screen.query_one("#confirm-input")
        field.value = "削除"  # typed through the input method
        await pilot.press("enter")
        await until(pilot, lambda: answers == [True])
        app.run_worker(ask())
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await until(pilot, lambda: answers == [True, False])


async def test_plain_confirmation(indexed: Workspace) -> None:
    app = make_app(indexed, lang="en")
    answers: list[bool] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)

        async def ask() -> None:
            answers.append(await app.confirm("Write the disc?", ["3 calls, 1.2 MB, DVD-R"]))

        app.run_worker(ask())
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "Enter/Y: Go ahead" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: answers == [True])
        app.run_worker(ask())
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await until(pilot, lambda: answers == [True, False])


async def test_a_long_job_shows_progress_survives_a_lock_and_can_be_cancelled(indexed: Workspace) -> None:
    app = make_app(indexed, idle_lock_seconds=60)
    outcome: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await unlock(pilot)
        step = asyncio.Event()

        async def work(job: Job) -> str:
            job.update(0, 10 * 1_000_000)
            for i in range(1, 200):
                await asyncio.sleep(0.05)
                job.update(i * 100_000, note=f"file {i}")
                if job.cancelled.is_set():
                    return "cancelled"
                if i == 5:
                    step.set()
            return "done"

        async def start() -> None:
            outcome.append(await app.run_job("ディスクに書き込み中", work))

        app.run_worker(start())
        await until(pilot, lambda: isinstance(app.screen, ProgressModal) and step.is_set())
        app.idle_lock_seconds = 0.5  # idle from now on: yet no lock while the job runs
        await until(pilot, lambda: "MB / 10.0 MB" in screen_text(app) and "/秒" in screen_text(app))
        assert "ディスクに書き込み中" in screen_text(app)
        await pilot.pause(1.0)
        assert app.session is not None  # no idle lock while a job runs
        await pilot.press("ctrl+l")
        await wait_for_lock(pilot)
        assert not outcome  # the work goes on behind the lock
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: isinstance(app.screen, ProgressModal), what="progress again")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("enter")
        await until(pilot, lambda: outcome == ["cancelled"])
        await until(pilot, lambda: app.screen.id == "main", what="progress closed")
