"""The instructions view: the manager's instructions (様式第1号), open ones first, and the details
of the selected one. The export and retention areas add their actions to this view's keys."""

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
from services.instructions import OPEN_STATES, Instruction

if TYPE_CHECKING:
    from console.app import CallrecApp

WIDE = 100
NARROW_COLUMNS = (
    Column("number", "ins.col.number", 9),
    Column("kind", "ins.col.kind", 6),
    Column("state", "ins.col.state", 8),
    Column("issued", "ins.col.issued", 11),
    Column("calls", "ins.col.calls", 5, "right"),
    Column("purpose", "ins.col.purpose", 20),
)
WIDE_COLUMNS = (
    Column("number", "ins.col.number", 10),
    Column("kind", "ins.col.kind", 8),
    Column("state", "ins.col.state", 10),
    Column("issued", "ins.col.issued", 16),
    Column("by", "ins.col.by", 12),
    Column("medium", "ins.col.medium", 9),
    Column("calls", "ins.col.calls", 6, "right"),
    Column("purpose", "ins.col.purpose", 24),
)
STATE_STYLE = {"issued": "bold", "in_progress": "bold yellow", "cancelled": "dim"}
MOMENT = "%Y-%m-%d %H:%M"


def state_label(state: str) -> str:
    return t(f"ins.state.{state}")


def purpose_label(code: str | None) -> str:
    return t(f"purpose.{code}") if code else "-"


class InstructionList(VirtualTable):
    def __init__(self) -> None:
        super().__init__(id="instruction-list")
        self.items: list[Instruction] = []

    def columns(self, width: int) -> Sequence[Column]:
        return WIDE_COLUMNS if width >= WIDE else NARROW_COLUMNS

    def empty_text(self) -> str:
        return t("ins.empty")

    @property
    def selected(self) -> Instruction | None:
        return self.items[self.cursor] if 0 <= self.cursor < len(self.items) else None

    def show(self, items: list[Instruction]) -> None:
        current = self.selected
        self.items = items
        self.set_row_count(len(items))
        if current is not None:
            for i, ins in enumerate(items):
                if ins.id == current.id:
                    self.set_cursor(i)
                    break
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor))

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        ins = self.items[index]
        wide = self.size.width >= WIDE
        style = STATE_STYLE.get(ins.state, "")
        issued = ins.issued_at.strftime("%Y-%m-%d %H:%M" if wide else "%m-%d %H:%M")
        cells: list[Cell] = [
            (ins.number, "bold" if ins.is_open else ""),
            (t(f"ins.kind.{ins.kind}"), ""),
            (state_label(ins.state), style),
            (issued, ""),
        ]
        if wide:
            medium = t(f"medium.{ins.medium}") if ins.medium else "-"
            cells += [(fmt.role_name(ins.issued_by), ""), (medium, "")]
        cells += [(fmt.count(len(ins.call_ids)) if ins.call_ids else "-", ""),
                  (purpose_label(ins.purpose) if ins.kind == "export" else t("ins.kind.purge_note"), "")]
        return cells


class InstructionDetail(Static):
    def __init__(self) -> None:
        super().__init__(markup=False, id="instruction-detail")

    def show(self, ins: Instruction | None) -> None:
        if ins is None:
            self.update(plain(t("ins.detail.none"), "dim"))
            return
        lines: list[Text] = []

        def line(label_key: str, value: str | Text) -> None:
            out = Text(end="")
            out.append(fmt.fit(t(label_key), 16) + " ", style="bold")
            out.append_text(value if isinstance(value, Text) else plain(value))
            lines.append(out)

        line("ins.detail.number", t("ins.detail.number_value", number=ins.number,
                                    kind=t(f"ins.kind.{ins.kind}")))
        line("ins.detail.state", Text(state_label(ins.state), style=STATE_STYLE.get(ins.state, "")))
        line("ins.detail.issued", t("ins.detail.issued_value", at=fmt.moment(ins.issued_at, seconds=False),
                                    role=fmt.role_name(ins.issued_by)))
        if ins.updated_at != ins.issued_at:
            line("ins.detail.updated", fmt.moment(ins.updated_at, seconds=False))
        if ins.kind == "export":
            line("ins.detail.purpose", purpose_label(ins.purpose))
            line("ins.detail.medium", t(f"medium.{ins.medium}") if ins.medium else "-")
        if ins.call_ids:
            shown = ", ".join(str(i) for i in ins.call_ids[:12])
            more = t("ins.detail.more", n=len(ins.call_ids) - 12) if len(ins.call_ids) > 12 else ""
            line("ins.detail.calls", t("ins.detail.calls_value", n=len(ins.call_ids), ids=shown) + more)
        described = ins.described
        if described is not None:
            tz = self.app.ws.clock.tz  # type: ignore[attr-defined]
            parts = [t("ins.criteria.range", start=described.start.astimezone(tz).strftime(MOMENT),
                       end=described.end.astimezone(tz).strftime(MOMENT))]
            for key, digits in (("city", described.city), ("other", described.other)):
                if digits:
                    parts.append(t(f"ins.criteria.{key}", number=fmt.number(digits)))
            line("ins.detail.criteria", "  ".join(parts))
        if ins.note:
            line("ins.detail.note", ins.note)
        line("ins.detail.next", t(f"ins.next.{ins.kind}.{ins.state}"))
        self.update(Text("\n", end="").join(lines))


class InstructionsView(Vertical):
    """Instructions as they stand; reloaded whenever the audit log moves (every instruction
    change is audited), so another console's or the CLI's changes show within a second."""

    # The output-data area's actions on the selected instruction (screens/export_actions.py).
    # The key bar shows only those of the session's role; the other role's keys, pressed, say why
    # they are not for this role (the hidden `refuse` bindings behind them).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "key.execute"),
        Binding("a", "receive", "key.receive"),
        Binding("c", "cancel", "key.cancel_instruction"),
        Binding("n", "describe", "key.describe"),
        Binding("f", "form1", "key.form1"),
        Binding("s", "form2", "key.form2"),
        *(Binding(key, f"refuse('{action}')", show=False)
          for key, action in (("x", "execute"), ("a", "receive"), ("n", "describe"), ("c", "cancel"))),
    ]
    DUTIES: ClassVar[dict[str, Duty]] = {
        "execute": Duty.EXECUTE_INSTRUCTION,
        "receive": Duty.RECEIVE_OUTPUT,
        "describe": Duty.ISSUE_INSTRUCTION,
        "cancel": Duty.CANCEL_INSTRUCTION,
    }

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "refuse":
            duty = self.DUTIES[str(parameters[0])]
            return not export_actions.allowed(self.capp, duty)
        duty = self.DUTIES.get(action)
        return duty is None or export_actions.allowed(self.capp, duty)

    def action_refuse(self, action: str) -> None:
        export_actions.entitled(self.capp, self.DUTIES[action])  # says why not

    def __init__(self) -> None:
        super().__init__()
        self._seen: Head | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="ins-summary", markup=False)
        yield InstructionList()
        yield InstructionDetail()

    @property
    def capp(self) -> CallrecApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.capp.data_changed.subscribe(self, lambda _v: self.load())
        self.capp.session_changed.subscribe(self, lambda _s: self.refresh_bindings())
        self.load(force=True)

    def focus_default(self) -> None:
        focus_now(self.query_one(InstructionList))

    @work(exclusive=True, group="instructions")
    async def load(self, force: bool = False) -> None:
        ws = self.capp.ws
        try:
            head = await ws.audit.head()
            if not force and head == self._seen:
                return
            items = await ws.instructions.list()
        except CallrecError as exc:
            self.capp.say_error(exc)
            return
        self._seen = head
        self.query_one(InstructionList).show(items)
        pending = sum(1 for i in items if i.state in OPEN_STATES)
        self.query_one("#ins-summary", Static).update(
            plain(t("ins.summary", pending=pending, total=len(items)))
        )

    @on(VirtualTable.CursorMoved, "#instruction-list")
    def _moved(self, event: VirtualTable.CursorMoved) -> None:
        self.query_one(InstructionDetail).show(self.query_one(InstructionList).selected)

    # -- output data ------------------------------------------------------------------------

    @work(exclusive=True, group="instruction-action")
    async def action_execute(self) -> None:
        ins = self.query_one(InstructionList).selected
        if ins is not None and await export_actions.execute(self.capp, ins):
            self.load(force=True)

    @work(exclusive=True, group="instruction-action")
    async def action_receive(self) -> None:
        ins = self.query_one(InstructionList).selected
        if ins is not None and await export_actions.receive(self.capp, ins):
            self.load(force=True)

    @work(exclusive=True, group="instruction-action")
    async def action_form1(self) -> None:
        ins = self.query_one(InstructionList).selected
        if ins is not None:
            await export_actions.form1(self.capp, ins)

    @work(exclusive=True, group="instruction-action")
    async def action_form2(self) -> None:
        ins = self.query_one(InstructionList).selected
        if ins is not None:
            await export_actions.form2(self.capp, ins)

    @work(exclusive=True, group="instruction-action")
    async def action_cancel(self) -> None:
        ins = self.query_one(InstructionList).selected
        if ins is not None and await export_actions.cancel(self.capp, ins):
            self.load(force=True)

    @work(exclusive=True, group="instruction-action")
    async def action_describe(self) -> None:
        if await export_actions.issue(self.capp, []):
            self.load(force=True)


VIEW = View(key="instructions", title_key="view.instructions", factory=InstructionsView, order=20)
