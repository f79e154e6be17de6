"""The instructions view: the manager's instructions (様式第1号), open ones first, and the details
of the selected one. The export and retention areas add their actions to this view's keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType

from console.i18n import t
from screens.duty_keys import refusals
from screens.exports import actions as export_actions
from screens.host import host
from screens.views import View
from screens.widgets import text as fmt
from screens.widgets.listing import ItemDetail, ListingView
from screens.widgets.table import Cell, Column, ItemTable
from screens.widgets.text import LabelledLines, plain
from services.access import Duty
from services.instructions import OPEN_STATES, Instruction

if TYPE_CHECKING:
    from services.workspace import Workspace

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


class InstructionList(ItemTable[Instruction]):
    def __init__(self) -> None:
        super().__init__(id="instruction-list")

    def columns(self, width: int) -> Sequence[Column]:
        return WIDE_COLUMNS if width >= WIDE else NARROW_COLUMNS

    def empty_text(self) -> str:
        return t("ins.empty")

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
        cells += [
            (fmt.count(len(ins.call_ids)) if ins.call_ids else "-", ""),
            (purpose_label(ins.purpose) if ins.kind == "export" else t("ins.kind.purge_note"), ""),
        ]
        return cells


class InstructionDetail(ItemDetail[Instruction]):
    def __init__(self) -> None:
        super().__init__(markup=False, id="instruction-detail")

    def show(self, ins: Instruction | None) -> None:
        if ins is None:
            self.update(plain(t("ins.detail.none"), "dim"))
            return
        out = LabelledLines(16)
        out.line(
            "ins.detail.number",
            t("ins.detail.number_value", number=ins.number, kind=t(f"ins.kind.{ins.kind}")),
        )
        out.line("ins.detail.state", Text(state_label(ins.state), style=STATE_STYLE.get(ins.state, "")))
        out.line(
            "ins.detail.issued",
            t(
                "ins.detail.issued_value",
                at=fmt.moment(ins.issued_at, seconds=False),
                role=fmt.role_name(ins.issued_by),
            ),
        )
        if ins.updated_at != ins.issued_at:
            out.line("ins.detail.updated", fmt.moment(ins.updated_at, seconds=False))
        if ins.kind == "export":
            out.line("ins.detail.purpose", purpose_label(ins.purpose))
            out.line("ins.detail.medium", t(f"medium.{ins.medium}") if ins.medium else "-")
        if ins.call_ids:
            shown = ", ".join(str(i) for i in ins.call_ids[:12])
            more = t("ins.detail.more", n=len(ins.call_ids) - 12) if len(ins.call_ids) > 12 else ""
            out.line("ins.detail.calls", t("ins.detail.calls_value", n=len(ins.call_ids), ids=shown) + more)
        described = ins.described
        if described is not None:
            tz = host(self).ws.clock.tz
            parts = [
                t(
                    "ins.criteria.range",
                    start=described.start.astimezone(tz).strftime(MOMENT),
                    end=described.end.astimezone(tz).strftime(MOMENT),
                )
            ]
            for key, digits in (("city", described.city), ("other", described.other)):
                if digits:
                    parts.append(t(f"ins.criteria.{key}", number=fmt.number(digits)))
            out.line("ins.detail.criteria", "  ".join(parts))
        if ins.note:
            out.line("ins.detail.note", ins.note)
        out.line("ins.detail.next", t(f"ins.next.{ins.kind}.{ins.state}"))
        self.update(out.text())


class InstructionsView(ListingView[Instruction]):
    """Instructions as they stand; every instruction change is audited, so another console's or
    the CLI's changes show within a second."""

    DEFAULT_CSS = """
    #ins-summary {
        height: 1;
        padding: 0 1;
        margin-top: 1;
        color: $text-muted;
    }

    #instruction-list {
        height: 1fr;
    }

    #instruction-detail {
        height: auto;
        max-height: 12;
        border-top: solid $accent;
        padding: 0 1;
    }
    """

    # The output-data area's actions on the selected instruction (screens/exports/actions.py).
    # The key bar shows only those of the session's role; the other role's keys, pressed, say why
    # they are not for this role (the hidden `refuse` bindings behind them).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "execute", "key.execute"),
        Binding("a", "receive", "key.receive"),
        Binding("c", "cancel", "key.cancel_instruction"),
        Binding("n", "describe", "key.describe"),
        Binding("f", "form1", "key.form1"),
        Binding("s", "form2", "key.form2"),
        *refusals(("x", "execute"), ("a", "receive"), ("n", "describe"), ("c", "cancel")),
    ]
    DUTIES: ClassVar[dict[str, Duty]] = {
        "execute": Duty.EXECUTE_INSTRUCTION,
        "receive": Duty.RECEIVE_OUTPUT,
        "describe": Duty.ISSUE_INSTRUCTION,
        "cancel": Duty.CANCEL_INSTRUCTION,
    }
    SUMMARY_ID = "ins-summary"
    LIST = InstructionList
    DETAIL = InstructionDetail

    async def read(self, ws: Workspace) -> list[Instruction]:
        return await ws.instructions.list()

    def summary(self, items: list[Instruction]) -> Text:
        pending = sum(1 for i in items if i.state in OPEN_STATES)
        return plain(t("ins.summary", pending=pending, total=len(items)))

    # -- output data ------------------------------------------------------------------------

    @work(exclusive=True, group="instruction-action")
    async def action_execute(self) -> None:
        await self.act_on_selected(export_actions.execute)

    @work(exclusive=True, group="instruction-action")
    async def action_receive(self) -> None:
        await self.act_on_selected(export_actions.receive)

    @work(exclusive=True, group="instruction-action")
    async def action_form1(self) -> None:
        await self.act_on_selected(export_actions.form1, reload=False)

    @work(exclusive=True, group="instruction-action")
    async def action_form2(self) -> None:
        await self.act_on_selected(export_actions.form2, reload=False)

    @work(exclusive=True, group="instruction-action")
    async def action_cancel(self) -> None:
        await self.act_on_selected(export_actions.cancel)

    @work(exclusive=True, group="instruction-action")
    async def action_describe(self) -> None:
        if await export_actions.issue(host(self), []):
            self.load(force=True)


VIEW = View(key="instructions", title_key="view.instructions", factory=InstructionsView, order=20)
