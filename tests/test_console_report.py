"""The report and public-notice view: the notice shows at once; the report needs a PIN."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from screens.reports.view import ReportView
from screens.views import views
from screens.widgets.modals import PinPrompt
from services.access.audit import Action
from services.workspace import Workspace
from tests.support.console import make_app, screen_text, unlock, until


async def test_report_view_shows_notice_then_report_after_pin(ws: Workspace, samples: list[Path]) -> None:
    await ws.indexer.scan()
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        index = [v.key for v in views()].index("report")
        await app.screen.show_view(index)
        await until(pilot, lambda: "通話録音の実施について" in screen_text(app), what="notice")
        view = app.screen.query_one(ReportView)
        view.action_generate()
        await until(pilot, lambda: isinstance(app.screen, PinPrompt), what="PIN prompt")
        app.screen.query_one(Input).value = "2222"
        await pilot.press("enter")
        await until(pilot, lambda: "運用状況報告" in screen_text(app), what="report")
        text = screen_text(app)
        assert "録音された通話" in text and "監査ログ: 正常" in text
        view.action_save()
        await pilot.pause(0.1)
        saved = list((ws.config.data / "reports").glob("report-*.html"))
        assert len(saved) == 1 and "size: A4" in saved[0].read_text()
    actions = [r["action"] for r in await ws.db.fetchall("SELECT action FROM audit")]
    assert Action.REPORT_PRODUCED in actions
