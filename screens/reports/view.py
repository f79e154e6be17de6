"""The report to the manager (第3条5) and the public notice (第3条7), in the console.

The report is produced only after the acting role's PIN (the operator reports to the manager);
its print-ready A4 page is written to the data folder. The notice is generated from the
configuration and the rules, as `callrec notice` prints it.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.i18n import active, t
from screens.duty_keys import DutyKeys
from screens.host import host
from screens.views import View
from screens.widgets.text import lines, plain
from services import reports
from services.access import Duty
from services.core import CallrecError, StorageError
from services.instructions import notice
from services.reports import Report


class ReportView(DutyKeys, Vertical):
    DUTIES: ClassVar[dict[str, Duty]] = {"generate": Duty.REPORT}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "generate", "key.report_generate"),
        Binding("s", "save", "key.report_save"),
        Binding("n", "notice", "key.report_notice"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._report: Report | None = None

    def compose(self) -> ComposeResult:
        yield Static(plain(t("report.hint")), id="report-hint")
        with VerticalScroll(id="report-scroll", can_focus=True):
            yield Static("", id="report-body", markup=False)

    def on_mount(self) -> None:
        host(self).session_changed.subscribe(self, lambda _s: self.refresh_bindings())
        self.action_notice()

    def focus_default(self) -> None:
        self.query_one("#report-scroll").focus()

    def _show(self, text: str) -> None:
        self.query_one("#report-body", Static).update(lines(text))  # our document: its own line breaks
        self.query_one("#report-scroll", VerticalScroll).scroll_home(animate=False)

    def action_notice(self) -> None:
        cfg = host(self).ws.config
        self._show(notice.notice_en(cfg) if active().lang == "en" else notice.notice_ja(cfg))

    @work(exclusive=True, group="report")
    async def action_generate(self) -> None:
        actor = await host(self).ask_pin(Duty.REPORT, t("report.why"))
        if actor is None:
            return
        today = host(self).ws.clock.now().date()
        try:
            self._report = await host(self).ws.reports.build(actor, date(today.year, today.month, 1), today)
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        self._show(reports.to_text(self._report))

    def action_save(self) -> None:
        r = self._report
        if r is None:
            host(self).say(t("report.none_yet"), severity="warning")
            return
        ws = host(self).ws
        try:
            path = ws.reports.save(r, ws.config.data)
        except StorageError as exc:
            host(self).say_error(exc)
            return
        host(self).say(t("report.saved", path=str(path)))


VIEW = View(key="report", title_key="view.report", factory=ReportView, order=80)
