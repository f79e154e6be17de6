"""The deletion record (削除記録) in the console, opened from the retention view: the period, the
manager's PIN (as `callrec deletions` asks it), then the record on screen — what was deleted,
when, by whom, under which instruction — and its print-ready A4 page saved into the data folder's
reports (as the report view saves the report). The service builds and writes it; this only asks
and shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.i18n import t
from screens.calls.filters import BadDate, parse_day
from screens.host import host
from screens.widgets import text as fmt
from screens.widgets.fields import Field, field_row
from screens.widgets.modals import DismissOnLock
from screens.widgets.table import Cell, Column, VirtualTable
from screens.widgets.text import LabelledLines, plain
from services.core import CallrecError
from services.retention import DeletedCall, DeletionRecord

RUNS_SHOWN = 3
WIDE = 110
NARROW_COLUMNS = (
    Column("deleted", "record.col.deleted", 11),
    Column("recorded", "record.col.recorded", 16),
    Column("type", "record.col.type", 8),
    Column("other", "record.col.other", 13),
    Column("size", "record.col.size", 8, "right"),
    Column("instruction", "record.col.instruction", 9),
)
WIDE_COLUMNS = (
    Column("n", "record.col.n", 6, "right"),
    *NARROW_COLUMNS[:3],
    Column("city", "record.col.city", 13),
    *NARROW_COLUMNS[3:],
    Column("sha256", "record.col.sha256", 16),
)


class PeriodModal(DismissOnLock, ModalScreen[tuple[date, date] | None]):
    """Ask for the period (first and last day, Japan time, both included)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "key.cancel")]

    def __init__(self, first: date, last: date, today: date) -> None:
        super().__init__()
        self.first = first
        self.last = last
        self.today = today

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(t("record.period.title"), "bold"), classes="dialog-title")
            yield Static(plain(t("record.period.body")), classes="dialog-body")
            yield field_row(
                t("record.period.from"), Field(self.first.isoformat(), max_length=20, id="record-from")
            )
            yield field_row(
                t("record.period.to"), Field(self.last.isoformat(), max_length=20, id="record-to")
            )
            yield Static("", id="record-message", classes="dialog-message", markup=False)
            yield Static(plain(t("record.period.hint"), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#record-from", Input).focus()

    @on(Input.Submitted, "#record-from")
    def _from_done(self) -> None:
        self.query_one("#record-to", Input).focus()

    @on(Input.Submitted, "#record-to")
    def _to_done(self) -> None:
        days = []
        for field_id in ("#record-from", "#record-to"):
            field = self.query_one(field_id, Input)
            try:
                day = parse_day(field.value, self.today)
            except BadDate:
                day = None
            if day is None:
                self._say(t("record.period.bad_day", text=field.value))
                field.focus()
                return
            days.append(day)
        first, last = days
        if last < first:
            self._say(t("record.period.backwards"))
            return
        self.dismiss((first, last))

    def _say(self, text: str) -> None:
        self.query_one("#record-message", Static).update(plain(text))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DeletedList(VirtualTable):
    """The recordings the record lists, in the order deleted."""

    def __init__(self, calls: Sequence[DeletedCall]) -> None:
        super().__init__(id="record-calls")
        self.calls = calls

    def on_mount(self) -> None:
        self.set_row_count(len(self.calls))

    def columns(self, width: int) -> Sequence[Column]:
        return WIDE_COLUMNS if width >= WIDE else NARROW_COLUMNS

    def empty_text(self) -> str:
        return t("record.none")

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        c = self.calls[index]
        cells: dict[str, Cell] = {
            "n": (str(index + 1), ""),
            "deleted": (c.purged_at.strftime("%m-%d %H:%M"), ""),
            "recorded": (fmt.moment(c.started_at, seconds=False), ""),
            "type": (fmt.call_type(c.type), ""),
            "city": (fmt.number(c.city_number), ""),
            "other": (fmt.number(c.other_number, masked=True, caller=c.caller_id), ""),
            "size": (fmt.size(c.size), ""),
            "instruction": (c.instruction, ""),
            "sha256": ((c.sha256 or "-")[:16], "dim"),
        }
        return [
            cells[col.key] for col in self.columns(self.scrollable_content_region.width or self.size.width)
        ]


class DeletionRecordScreen(DismissOnLock, ModalScreen[None]):
    """The record of a period; `s` saves its print-ready A4 page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "key.close"),
        Binding("s", "save", "key.record_save"),
    ]

    DEFAULT_CSS = """
    DeletionRecordScreen { align: center middle; }
    DeletionRecordScreen > Vertical {
        width: 100%; height: 100%; padding: 0 1; background: $surface; border: solid $accent;
    }
    #record-title { height: 1; text-style: bold; }
    #record-head { height: auto; margin-bottom: 1; }
    #record-calls { height: 1fr; min-height: 3; }
    #record-hint { height: 1; }
    """

    def __init__(self, record: DeletionRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                plain(
                    t(
                        "record.title",
                        first=self.record.date_from.isoformat(),
                        last=self.record.date_to.isoformat(),
                    )
                ),
                id="record-title",
            )
            yield Static(self._head(), id="record-head")
            yield DeletedList(self.record.calls)
            yield Static(plain(t("record.hint"), "dim"), id="record-hint")

    def on_mount(self) -> None:
        self.query_one(DeletedList).focus()

    def _head(self) -> Text:
        r = self.record
        out = LabelledLines(12)
        out.line(
            "record.produced",
            t(
                "record.produced_value",
                at=fmt.moment(r.produced_at, seconds=False),
                role=fmt.role_name(r.produced_by),
            ),
        )
        out.line(
            "record.deleted",
            t("record.deleted_value", n=fmt.count(len(r.calls)), size=fmt.size(r.total_bytes)),
            style="bold" if r.calls else "",
        )
        if r.grace_days:
            out.line("record.grace", t("record.grace_value", days=r.grace_days))
        if not r.runs:
            out.line("record.runs", t("record.runs_none"))
        for i, run in enumerate(r.runs[:RUNS_SHOWN]):
            ended = "-"
            if run.ended_at is not None:
                same_day = run.ended_at.date() == run.started_at.date()
                ended = run.ended_at.strftime("%H:%M" if same_day else "%m-%d %H:%M")
            out.line(
                "record.runs" if i == 0 else "record.blank",
                t(
                    "record.run",
                    number=run.instruction,
                    state=t(f"record.run_state.{run.state}"),
                    started=run.started_at.strftime("%m-%d %H:%M"),
                    ended=ended,
                    n=fmt.count(run.deleted),
                    skipped=fmt.count(run.skipped),
                ),
            )
        if len(r.runs) > RUNS_SHOWN:
            out.line("record.blank", t("record.runs_more", n=len(r.runs) - RUNS_SHOWN), style="dim")
        out.line("record.meaning", t("record.meaning_value"), style="dim")
        if r.audit_head is not None:  # whole: it is the anchor `callrec audit verify` checks
            out.add(plain(t("record.anchor", head=str(r.audit_head)), "dim"))
        return out.text()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        try:
            path = host(self).ws.deletions.save(self.record)
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        host(self).say(t("record.saved", path=str(path)))
