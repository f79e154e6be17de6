"""The status view: calls today / this month / recording now, calls per hour, spool disk, watcher
health, the next purge, and the audit chain."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from console.i18n import t
from screens.duty_keys import DutyKeys, refusals
from screens.host import host
from screens.views import View
from screens.widgets import text as fmt
from screens.widgets.fields import focus_now
from screens.widgets.text import plain
from services import status
from services.access import ClockGap, Duty, Role, VerifyResult
from services.core import CallrecError

HOURS = 72
REFRESH_SECONDS = 5.0  # the cheap figures (index ranges)
SLOW_EVERY_SECONDS = 60.0  # the full counts: calls kept, what a purge would cover
VERIFY_EVERY_SECONDS = 600.0
MOMENT = "%Y-%m-%d %H:%M:%S"


def panel(title_key: str, rows: list[tuple[str, Text | str]], label_width: int = 12, width: int = 0) -> Text:
    """A titled block of label/value lines; a line too long for the panel (`width` cells) is cut
    with an ellipsis, never wrapped (so the panels keep their places at 80x24)."""
    out = Text(end="", no_wrap=True, overflow="ellipsis")
    out.append(t(title_key), style="bold underline")
    room = width - label_width - 3 if width > label_width + 8 else 0
    for label, value in rows:
        out.append("\n  ")
        out.append(fmt.fit(t(label), label_width) + " ", style="bold")
        text = value.copy() if isinstance(value, Text) else plain(value)
        if room:
            text.truncate(room, overflow="ellipsis")
        out.append_text(text)
    return out


class StatusView(DutyKeys, Vertical, can_focus=True):
    DEFAULT_CSS = """
    StatusView {
        padding: 1 1 0 1;
        overflow-y: auto;
    }

    .status-row {
        height: auto;
    }

    .status-panel {
        width: 1fr;
        height: auto;
        margin-bottom: 1;
    }

    #st-spark {
        height: 2;
        margin: 0 1;
    }

    #st-spark-axis {
        height: 1;
        margin: 0 1 1 1;
    }

    #st-audit {
        height: auto;
    }
    """
    DUTIES: ClassVar[dict[str, Duty]] = {"acknowledge_clock": Duty.ACKNOWLEDGE_CLOCK}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "verify", "key.verify"),
        Binding("f5", "refresh", "key.refresh"),
        Binding("c", "acknowledge_clock", "key.clock_ack"),
        *refusals(("c", "acknowledge_clock")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._verify: VerifyResult | None = None
        self._verify_error = ""
        self._verifying = False
        self._verified_at = 0.0
        self._slow_at = -SLOW_EVERY_SECONDS
        self._loaded_at = -1.0
        self._present: int | None = None
        self._skipped: int | None = None
        self._flagged = (0, 0, 0)
        self._outlook: status.PurgeOutlook | None = None
        self.clock_gap: ClockGap | None = None  # the clock reads earlier than the audit log

    def compose(self) -> ComposeResult:
        with Horizontal(classes="status-row"):
            yield Static("", id="st-calls", classes="status-panel", markup=False)
            yield Static("", id="st-disk", classes="status-panel", markup=False)
        yield Static("", id="st-spark-title", markup=False)
        yield Sparkline([], id="st-spark")
        yield Static("", id="st-spark-axis", markup=False)
        with Horizontal(classes="status-row"):
            yield Static("", id="st-purge", classes="status-panel", markup=False)
            yield Static("", id="st-watch", classes="status-panel", markup=False)
        yield Static("", id="st-audit", markup=False)

    def on_mount(self) -> None:
        host(self).data_changed.subscribe(self, self._data_changed)
        self.set_interval(REFRESH_SECONDS, self._tick)
        self.load()
        self.verify()

    def _data_changed(self, _version: int) -> None:
        """New calls show here too, but at most every 2 s (a recording commits twice a second)."""
        if self.display and asyncio.get_running_loop().time() - self._loaded_at >= 2.0:
            self.load()

    def on_show(self) -> None:
        self.load(full=True)

    def focus_default(self) -> None:
        focus_now(self)

    def _tick(self) -> None:
        if self.is_on_screen:
            self.load()
            if asyncio.get_running_loop().time() - self._verified_at > VERIFY_EVERY_SECONDS:
                self.verify()

    def action_refresh(self) -> None:
        self.load(full=True)

    def action_verify(self) -> None:
        self.verify()

    def action_acknowledge_clock(self) -> None:
        self.acknowledge_clock()

    @work(exclusive=True, group="clock-ack")
    async def acknowledge_clock(self) -> None:
        """Both times and the manager's PIN, then the acknowledgement (services/access/clock_ack.py)."""
        app = host(self)
        try:
            gap = await app.ws.clock_ack.gap()
        except CallrecError as exc:
            app.say_error(exc)
            return
        if gap is None:
            app.say(t("status.clock_nothing"))
            return
        actor = await app.ask_pin(
            Duty.ACKNOWLEDGE_CLOCK,
            t("status.clock_pin", latest=f"{gap.latest:{MOMENT}}", now=f"{gap.now:{MOMENT}}"),
            role=Role.MANAGER,
        )
        if actor is None:
            return
        try:
            done = await app.ws.clock_ack.acknowledge(actor)
        except CallrecError as exc:
            app.say_error(exc)
            return
        app.say(t("status.clock_done", now=f"{done.now:{MOMENT}}"))
        self.load(full=True)

    @work(exclusive=True, group="status")
    async def load(self, full: bool = False) -> None:
        app = host(self)
        ws = app.ws
        now = ws.clock.now()
        tz = ws.clock.tz
        loop = asyncio.get_running_loop()
        self._loaded_at = loop.time()
        try:
            figures = await status.call_figures(app.side, now, tz)
            hourly = await status.calls_per_hour(app.side, now, HOURS)
            self._skipped = await status.skipped_count(app.side)
            self._flagged = await status.flagged_counts(app.side)
            self.clock_gap = await ws.clock_ack.gap()
            if full or self._outlook is None or loop.time() - self._slow_at >= SLOW_EVERY_SECONDS:
                self._present = await status.present_count(app.side)
                self._outlook = await status.purge_outlook(app.side, now, tz, ws.config.raw_grace_days)
                self._slow_at = loop.time()
        except CallrecError as exc:
            app.say_error(exc)
            return
        outlook = self._outlook
        try:
            disk: status.DiskUsage | None = await asyncio.to_thread(status.disk_usage, ws.config.spool)
            disk_error = ""
        except CallrecError as exc:
            disk, disk_error = None, app.error_text(exc)

        calls_box = self.query_one("#st-calls", Static)
        calls_box.update(
            panel(
                "status.calls",
                width=calls_box.size.width,
                rows=[
                    ("status.today", t("status.n_calls", n=fmt.count(figures.today))),
                    ("status.month", t("status.n_calls", n=fmt.count(figures.this_month))),
                    (
                        "status.recording",
                        Text(
                            t("status.n_calls", n=fmt.count(figures.recording)),
                            style="bold red" if figures.recording else "",
                        ),
                    ),
                    ("status.present", t("status.n_calls", n=fmt.count(self._present))),
                ],
            )
        )
        if disk is not None:
            pct = f"{disk.used_fraction * 100:.0f}%"
            style = "bold red" if disk.used_fraction > 0.9 else ""
            disk_rows: list[tuple[str, Text | str]] = [
                (
                    "status.disk_used",
                    Text(t("status.disk_used_value", used=fmt.size(disk.used), pct=pct), style=style),
                ),
                ("status.disk_free", fmt.size(disk.free)),
                ("status.disk_total", fmt.size(disk.total)),
            ]
        else:
            disk_rows = [("status.disk_used", plain(disk_error, "bold red"))]
        room = max(8, self.query_one("#st-disk", Static).size.width - 16)
        disk_rows.append(("status.spool", plain(fmt.fit_tail(str(ws.config.spool), room))))
        disk_box = self.query_one("#st-disk", Static)
        disk_box.update(panel("status.disk", disk_rows, width=disk_box.size.width))

        peak = max(hourly) if hourly else 0
        self.query_one("#st-spark-title", Static).update(
            plain(t("status.per_hour", hours=HOURS, peak=peak), "bold underline")
        )
        self.query_one("#st-spark", Sparkline).data = [float(v) for v in hourly]
        first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
        left = t("status.axis_hour", day=first.strftime("%m-%d"), hour=first.hour)
        right = t("status.axis_hour", day=now.strftime("%m-%d"), hour=now.hour)
        axis = self.query_one("#st-spark-axis", Static)
        gap = max(1, (axis.size.width or 76) - fmt.width_of(left) - fmt.width_of(right))
        axis.update(plain(left + " " * gap + right, "dim"))

        purge_rows: list[tuple[str, Text | str]] = [
            (
                "status.expired",
                Text(
                    t(
                        "status.expired_value",
                        n=fmt.count(outlook.expired),
                        size=fmt.size(outlook.expired_bytes),
                    ),
                    style="bold yellow" if outlook.expired else "",
                ),
            ),
        ]
        if outlook.oldest:
            purge_rows.append(("status.oldest", outlook.oldest.isoformat()))
        if outlook.next_day:
            purge_rows.append(
                (
                    "status.next",
                    t(
                        "status.next_value",
                        day=fmt.day_label(outlook.next_day),
                        n=fmt.count(outlook.next_count),
                    ),
                )
            )
        if ws.config.raw_grace_days:
            purge_rows.append(("status.grace", t("status.grace_value", days=ws.config.raw_grace_days)))
        purge_box = self.query_one("#st-purge", Static)
        purge_box.update(panel("status.purge", purge_rows, width=purge_box.size.width))
        self._draw_watch()
        self._draw_audit()

    def _draw_watch(self) -> None:
        ws = host(self).ws
        health = ws.indexer.health
        role_text = t(f"status.watch_role.{health.role}")
        if health.role == "follower":
            holder = ws.indexer_lease.holder()
            role_text = t("status.watch_follower", pid=holder or "?")
        rows: list[tuple[str, Text | str]] = [
            ("status.watch_by", role_text),
            ("status.last_scan", fmt.moment(health.last_scan_at)),
            ("status.last_event", fmt.moment(health.last_event_at)),
            ("status.pending", fmt.count(health.pending)),
            ("status.errors", Text(fmt.count(health.errors), style="bold red" if health.errors else "")),
        ]
        if self._skipped:
            rows.append(
                ("status.skipped", Text(t("status.n_files", n=fmt.count(self._skipped)), style="yellow"))
            )
        flagged = ("status.unknown", "status.anomalies", "status.purge_kept")
        for key, n in zip(flagged, self._flagged, strict=True):
            if n:
                rows.append((key, Text(t("status.n_files", n=fmt.count(n)), style="yellow")))
        if health.problem is not None:
            rows.append(("status.last_error", plain(host(self).error_text(health.problem), "red")))
        elif health.last_error:
            rows.append(("status.last_error", plain(health.last_error, "red")))
        box = self.query_one("#st-watch", Static)
        box.update(panel("status.watch", rows, width=box.size.width))

    def _draw_audit(self) -> None:
        out = Text(end="")
        out.append(t("status.audit") + "  ", style="bold underline")
        result = self._verify
        if self._verifying and result is None:
            out.append(t("status.audit_checking"))
        elif self._verify_error:
            out.append(self._verify_error, style="bold red")
        elif result is not None:
            if result.ok:
                out.append(t("status.audit_ok", n=fmt.count(result.entries)), style="bold green")
                if result.head:
                    head = f"{result.head.seq}:{result.head.mac[:16]}…"
                    out.append("  " + t("status.audit_head", head=head))
            else:
                out.append(
                    t("status.audit_bad", first=result.first_bad or "?", problem=result.problem),
                    style="bold red",
                )
            if result.backwards:
                out.append("  " + t("status.backwards", n=len(result.backwards)), style="yellow")
        gap = self.clock_gap
        if gap is not None:
            out.append(
                "\n" + t("status.clock_behind", latest=f"{gap.latest:{MOMENT}}", now=f"{gap.now:{MOMENT}}"),
                style="bold red",
            )
            out.append("  " + t("status.clock_hint"), style="dim")
        self.query_one("#st-audit", Static).update(out)

    @work(exclusive=True, group="verify")
    async def verify(self) -> None:
        self._verifying = True
        self._draw_audit()
        try:
            self._verify = await host(self).ws.audit.verify()
            self._verify_error = ""
        except CallrecError as exc:
            self._verify_error = host(self).error_text(exc)
        finally:
            self._verifying = False
            self._verified_at = asyncio.get_running_loop().time()
        self._draw_audit()


VIEW = View(key="status", title_key="view.status", factory=StatusView, order=30)
