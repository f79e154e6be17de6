"""The output-data register (出力データ管理簿): every received output data, kept through the end of
the fiscal year after the one it was written in (or as extended); entries past their date are due
for disposal. The manager extends (e) or records the disposal (d) of the selected entry; f shows
its 提出書 (様式第2号)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType

from console.i18n import t
from screens.duty_keys import refusals
from screens.exports import actions as export_actions
from screens.host import ConsoleHost, host
from screens.views import View
from screens.widgets import text as fmt
from screens.widgets.listing import ItemDetail, ListingView
from screens.widgets.table import Cell, Column, ItemTable
from screens.widgets.text import LabelledLines, plain
from services.access import Duty
from services.export import RegisterEntry, Status

if TYPE_CHECKING:
    from services.workspace import Workspace

WIDE = 100
NARROW_COLUMNS = (
    Column("id", "register.col.id", 4, "right"),
    Column("number", "register.col.number", 9),
    Column("media", "register.col.media", 10),
    Column("written", "register.col.written", 10),
    Column("kept", "register.col.kept", 10),
    Column("status", "register.col.status", 8),
)
WIDE_COLUMNS = (
    Column("id", "register.col.id", 5, "right"),
    Column("number", "register.col.number", 10),
    Column("purpose", "register.col.purpose", 30),
    Column("media", "register.col.media", 12),
    Column("written", "register.col.written", 10),
    Column("kept", "register.col.kept", 10),
    Column("status", "register.col.status", 10),
)
STATUS_STYLE = {Status.DUE: "bold yellow", Status.DISPOSED: "dim"}
LABEL = 12  # cells for the labels of the detail pane


class RegisterList(ItemTable[RegisterEntry]):
    def __init__(self) -> None:
        super().__init__(id="register-list")

    def columns(self, width: int) -> Sequence[Column]:
        return WIDE_COLUMNS if width >= WIDE else NARROW_COLUMNS

    def empty_text(self) -> str:
        return t("register.empty")

    def status(self, entry: RegisterEntry) -> Status:
        app = host(self)
        return entry.status(app.ws.clock.now())

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        e = self.items[index]
        status = self.status(e)
        cells: list[Cell] = [(str(e.id), ""), (e.number, "")]
        if self.size.width >= WIDE:
            cells.append((t(f"purpose.{e.purpose}"), ""))
        medium = t(f"medium.{e.medium}") + (f" ×{e.media_count}" if e.media_count > 1 else "")
        cells += [
            (medium, ""),
            (e.written_on.isoformat(), ""),
            (e.kept_through.isoformat(), ""),
            (t(f"register.status.{status.value}"), STATUS_STYLE.get(status, "")),
        ]
        return cells


class RegisterDetail(ItemDetail[RegisterEntry]):
    def __init__(self) -> None:
        super().__init__(markup=False, id="register-detail")

    def show(self, entry: RegisterEntry | None) -> None:
        if entry is None:
            self.update(plain(t("register.none"), "dim"))
            return
        out = LabelledLines(LABEL)
        out.line(
            "register.label.instruction",
            t("register.instruction", number=entry.number, purpose=t(f"purpose.{entry.purpose}")),
        )
        out.line(
            "register.label.media",
            t("register.media", media=entry.media_label, written=entry.written_on.isoformat()),
        )
        out.line("register.label.received", fmt.moment(entry.received_at, seconds=False))
        out.line(
            "register.label.kept",
            t(
                "register.kept",
                kept=entry.kept_through.isoformat(),
                counted=t("register.counted", written=entry.written_on.isoformat()),
            ),
        )
        for x in entry.extensions:
            out.line(
                "register.label.extended",
                t(
                    "register.extended",
                    previous=x.previous.isoformat(),
                    until=x.until.isoformat(),
                    reason=x.reason,
                ),
            )
        if entry.custodian:
            out.line("register.label.custodian", entry.custodian)
        if entry.disposed_on is not None:
            out.line(
                "register.label.disposed",
                t(
                    "register.disposed",
                    on=entry.disposed_on.isoformat(),
                    method=entry.disposal_method or "",
                    witness=entry.disposal_witness or "",
                ),
            )
        self.update(out.text())


class RegisterView(ListingView[RegisterEntry]):
    """The register as it stands; every change to it is audited, so receipts and disposals made
    elsewhere show within a second."""

    # e and d are the manager's: the key bar shows them to the manager only, and pressed by the
    # operator they say why not (the hidden `refuse` bindings).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "extend", "key.extend"),
        Binding("d", "dispose", "key.dispose"),
        Binding("f", "form2", "key.form2"),
        *refusals(("e", "extend"), ("d", "dispose")),
    ]
    DUTIES: ClassVar[dict[str, Duty]] = {"extend": Duty.EXTEND_RETENTION, "dispose": Duty.DISPOSE_OUTPUT}
    DEFAULT_CSS = """
    #register-summary { height: auto; padding: 0 1; margin-top: 1; color: $text-muted; }
    #register-list { height: 1fr; }
    #register-detail { height: auto; max-height: 10; border-top: solid $accent; padding: 0 1; }
    """
    SUMMARY_ID = "register-summary"
    LIST = RegisterList
    DETAIL = RegisterDetail

    async def read(self, ws: Workspace) -> list[RegisterEntry]:
        return await ws.register.list()

    def summary(self, items: list[RegisterEntry]) -> Text:
        listed = self.query_one(RegisterList)
        due = sum(1 for e in items if listed.status(e) is Status.DUE)
        out = plain(t("register.summary", total=fmt.count(len(items)), due=fmt.count(due)))
        out.append("\n" + t("register.rule"), style="dim")
        return out

    @work(exclusive=True, group="register-action")
    async def action_extend(self) -> None:
        await self.act_on_selected(export_actions.extend)

    @work(exclusive=True, group="register-action")
    async def action_dispose(self) -> None:
        await self.act_on_selected(export_actions.dispose)

    @work(exclusive=True, group="register-action")
    async def action_form2(self) -> None:
        async def form2(app: ConsoleHost, entry: RegisterEntry) -> None:
            await export_actions.form2(app, await app.ws.instructions.get(entry.instruction_id))

        await self.act_on_selected(form2, reload=False)


VIEW = View(key="register", title_key="view.register", factory=RegisterView, order=60)
