"""The output-data register (出力データ管理簿): every received output data, kept through the end of
the fiscal year after the one it was written in (or as extended); entries past their date are due
for disposal. The manager extends (e) or records the disposal (d) of the selected entry; f shows
its 提出書 (様式第2号)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from console.i18n import t
from screens import export_actions
from screens import text as fmt
from screens.fields import focus_now
from screens.table import Cell, Column, VirtualTable
from screens.text import plain
from screens.views import View
from services.audit import Head
from services.duties import Duty
from services.errors import CallrecError
from services.register import RegisterEntry, Status

if TYPE_CHECKING:
    from console.app import CallrecApp

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


class RegisterList(VirtualTable):
    def __init__(self) -> None:
        super().__init__(id="register-list")
        self.items: list[RegisterEntry] = []
        self.now = None

    def columns(self, width: int) -> Sequence[Column]:
        return WIDE_COLUMNS if width >= WIDE else NARROW_COLUMNS

    def empty_text(self) -> str:
        return t("register.empty")

    @property
    def selected(self) -> RegisterEntry | None:
        return self.items[self.cursor] if 0 <= self.cursor < len(self.items) else None

    def status(self, entry: RegisterEntry) -> Status:
        app: CallrecApp = self.app  # type: ignore[assignment]
        return entry.status(app.ws.clock.now())

    def show(self, items: list[RegisterEntry]) -> None:
        current = self.selected
        self.items = items
        self.set_row_count(len(items))
        if current is not None:
            for i, e in enumerate(items):
                if e.id == current.id:
                    self.set_cursor(i)
                    break
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        e = self.items[index]
        status = self.status(e)
        cells: list[Cell] = [(str(e.id), ""), (e.number, "")]
        if self.size.width >= WIDE:
            cells.append((t(f"purpose.{e.purpose}"), ""))
        medium = t(f"medium.{e.medium}") + (f" ×{e.media_count}" if e.media_count > 1 else "")
        cells += [(medium, ""), (e.written_on.isoformat(), ""), (e.kept_through.isoformat(), ""),
                  (t(f"register.status.{status.value}"), STATUS_STYLE.get(status, ""))]
        return cells


class RegisterDetail(Static):
    def __init__(self) -> None:
        super().__init__(markup=False, id="register-detail")

    def show(self, entry: RegisterEntry | None) -> None:
        if entry is None:
            self.update(plain(t("register.none"), "dim"))
            return
        lines: list[Text] = []

        def line(label_key: str, value: str) -> None:
            out = Text(end="")
            out.append(fmt.fit(t(label_key), LABEL) + " ", style="bold")
            out.append_text(plain(value))
            lines.append(out)

        line("register.label.instruction", t("register.instruction", number=entry.number,
                                              purpose=t(f"purpose.{entry.purpose}")))
        line("register.label.media", t("register.media", media=entry.media_label,
                                        written=entry.written_on.isoformat()))
        line("register.label.received", fmt.moment(entry.received_at, seconds=False))
        line("register.label.kept", t("register.kept", kept=entry.kept_through.isoformat(),
                                       counted=t("register.counted",
                                                 written=entry.written_on.isoformat())))
        for x in entry.extensions:
            line("register.label.extended", t("register.extended", previous=x.previous.isoformat(),
                                               until=x.until.isoformat(), reason=x.reason))
        if entry.custodian:
            line("register.label.custodian", entry.custodian)
        if entry.disposed_on is not None:
            line("register.label.disposed", t("register.disposed", on=entry.disposed_on.isoformat(),
                                               method=entry.disposal_method or "",
                                               witness=entry.disposal_witness or ""))
        self.update(Text("\n", end="").join(lines))


class RegisterView(Vertical):
    """The register as it stands; reloaded whenever the audit log moves (every change to it is
    audited), so receipts and disposals made elsewhere show within a second."""

    # e and d are the manager's: the key bar shows them to the manager only, and pressed by the
    # operator they say why not (the hidden `refuse` bindings).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "extend", "key.extend"),
        Binding("d", "dispose", "key.dispose"),
        Binding("f", "form2", "key.form2"),
        Binding("e", "refuse('extend')", show=False),
        Binding("d", "refuse('dispose')", show=False),
    ]
    DUTIES: ClassVar[dict[str, Duty]] = {"extend": Duty.EXTEND_RETENTION,
                                         "dispose": Duty.DISPOSE_OUTPUT}
    DEFAULT_CSS = """
    #register-summary { height: auto; padding: 0 1; margin-top: 1; color: $text-muted; }
    #register-list { height: 1fr; }
    #register-detail { height: auto; max-height: 10; border-top: solid $accent; padding: 0 1; }
    """

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "refuse":
            return not export_actions.allowed(self.capp, self.DUTIES[str(parameters[0])])
        duty = self.DUTIES.get(action)
        return duty is None or export_actions.allowed(self.capp, duty)

    def action_refuse(self, action: str) -> None:
        export_actions.entitled(self.capp, self.DUTIES[action])  # says why not

    def __init__(self) -> None:
        super().__init__()
        self._seen: Head | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="register-summary", markup=False)
        yield RegisterList()
        yield RegisterDetail()

    @property
    def capp(self) -> CallrecApp:
        return self.app  # type: ignore[return-value]

    @property
    def list(self) -> RegisterList:
        return self.query_one(RegisterList)

    def on_mount(self) -> None:
        self.capp.data_changed.subscribe(self, lambda _v: self.load())
        self.capp.session_changed.subscribe(self, lambda _s: self.refresh_bindings())
        self.load(force=True)

    def focus_default(self) -> None:
        focus_now(self.list)

    @work(exclusive=True, group="register")
    async def load(self, force: bool = False) -> None:
        ws = self.capp.ws
        try:
            head = await ws.audit.head()
            if not force and head == self._seen:
                return
            items = await ws.register.list()
        except CallrecError as exc:
            self.capp.say_error(exc)
            return
        if not self.query(RegisterList):  # taken down (locked, closing) while the register was read
            return
        self._seen = head
        self.list.show(items)
        due = sum(1 for e in items if self.list.status(e) is Status.DUE)
        summary = plain(t("register.summary", total=fmt.count(len(items)), due=fmt.count(due)))
        summary.append("\n" + t("register.rule"), style="dim")
        self.query_one("#register-summary", Static).update(summary)

    @on(VirtualTable.CursorMoved, "#register-list")
    def _moved(self, event: VirtualTable.CursorMoved) -> None:
        self.query_one(RegisterDetail).show(self.list.selected)

    @work(exclusive=True, group="register-action")
    async def action_extend(self) -> None:
        entry = self.list.selected
        if entry is not None and await export_actions.extend(self.capp, entry):
            self.load(force=True)

    @work(exclusive=True, group="register-action")
    async def action_dispose(self) -> None:
        entry = self.list.selected
        if entry is not None and await export_actions.dispose(self.capp, entry):
            self.load(force=True)

    @work(exclusive=True, group="register-action")
    async def action_form2(self) -> None:
        entry = self.list.selected
        if entry is not None:
            await export_actions.form2(self.capp, await self.capp.ws.instructions.get(entry.instruction_id))


VIEW = View(key="register", title_key="view.register", factory=RegisterView, order=60)
