"""The report and public-notice view: the notice shows at once; the report needs a PIN."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from screens.reports.view import ReportView
from screens.views import views
from screens.widgets.modals import PinPrompt
from services import reports
from services.access.audit import Action
from services.instructions import notice
from services.workspace import Workspace
from tests.support.console import make_app, screen_text, show, unlock, until


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
        assert "録音された通話" in screen_text(app)
        await pilot.press("end")  # the report's last line: the audit chain
        await until(pilot, lambda: "監査ログ: 正常" in screen_text(app), what="the report's end")
        view.action_save()
        await pilot.pause(0.1)
        saved = list((ws.config.data / "reports").glob("report-*.html"))
        assert len(saved) == 1 and "size: A4" in saved[0].read_text()
    actions = [r["action"] for r in await ws.db.fetchall("SELECT action FROM audit")]
    assert Action.REPORT_PRODUCED in actions


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_view_6_shows_the_documents_with_their_line_breaks(
    ws: Workspace, samples: list[Path], lang: str, size: tuple[int, int]
) -> None:
    """The notice and the report are the program's own documents: their newlines are line
    breaks, never the escaped `\\x0a` that untrusted text would show."""
    await ws.indexer.scan()
    app = make_app(ws, lang=lang)
    title = "通話録音の実施について" if lang == "ja" else "Recording of calls"
    async with app.run_test(size=size) as pilot:
        await unlock(pilot)
        await show(pilot, "report")
        await until(pilot, lambda: title in screen_text(app), what="notice")
        shown = screen_text(app)
        assert "\\x0a" not in shown
        cfg = ws.config
        notice_text = notice.notice_en(cfg) if lang == "en" else notice.notice_ja(cfg)
        first_lines = [ln.strip() for ln in notice_text.splitlines() if ln.strip()][:2]
        rows = [r.strip() for r in shown.splitlines()]
        assert all(any(r.startswith(ln[:10]) for r in rows) for ln in first_lines), "\n".join(rows)
        assert first_lines[0] in rows  # the title is a line of its own
        view = app.screen.query_one(ReportView)
        view.action_generate()
        await until(pilot, lambda: isinstance(app.screen, PinPrompt), what="PIN prompt")
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: "2026" in screen_text(app) and "\\x0a" not in screen_text(app))
        report_text = reports.to_text(view._report) if view._report else ""
        assert report_text.count("\n") > 5
        rows = [r.strip() for r in screen_text(app).splitlines()]
        assert any(r.startswith(report_text.splitlines()[0][:20]) for r in rows)
