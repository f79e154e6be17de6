"""The retention view (GUIDELINE 第4条6): what a purge would delete now (count, bytes, oldest), the
recordings past their date that are held back and why, every other hold (date not passed yet), the
next date more fall due, and output data due for disposal. Hold and release a call (manager),
issue a purge instruction (manager), run one (operator: typed confirmation, PIN, progress), and
show or save the deletion record of a period (manager). Every rule lives in services; this only
asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from console.i18n import t
from screens.duty_keys import DutyKeys
from screens.host import host
from screens.retention import holding
from screens.retention.deletion_record import DeletionRecordScreen, PeriodModal
from screens.views import View
from screens.widgets import text as fmt
from screens.widgets.progress import Job
from screens.widgets.table import Cell, Column, ItemTable
from screens.widgets.text import LabelledLines, plain
from services.access import Duty, Role
from services.calls import CallState
from services.core import CallrecError
from services.instructions import Instruction, Kind, State
from services.retention import (
    BlockedCall,
    CancelToken,
    Preview,
    PurgePlan,
    PurgeProgress,
    PurgeResult,
    RetentionStatus,
)

if TYPE_CHECKING:
    from services.access import Actor

T = TypeVar("T")
COLUMNS = (
    Column("id", "retention.col.id", 8, "right"),
    Column("recorded", "retention.col.recorded", 16),
    Column("kept", "retention.col.kept", 10),
    Column("reason", "retention.col.reason", 14),
    Column("detail", "retention.col.detail", 30),
)


class BlockedList(ItemTable[BlockedCall]):
    """Recordings past their date that a purge would not delete, oldest first; then every other
    held recording (its date not passed yet), so that each hold and its reason is in one list."""

    def __init__(self) -> None:
        super().__init__(id="retention-blocked")
        self.ahead_from = 0  # items from here on are held, their date not passed

    def columns(self, width: int) -> Sequence[Column]:
        return COLUMNS

    def empty_text(self) -> str:
        return t("retention.blocked_none")

    def show_blocked(self, blocked: list[BlockedCall], ahead: list[BlockedCall]) -> None:
        self.ahead_from = len(blocked)
        self.replace([*blocked, *ahead])

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        b = self.items[index]
        ahead = index >= self.ahead_from
        if ahead:
            reasons = t("retention.reason.held_ahead")
        else:
            reasons = " ".join(t(f"retention.reason.{r.value}") for r in b.reasons)
        detail = []
        if b.hold is not None:
            detail.append(b.hold.reason)
        if b.instructions:
            detail.append(t("retention.named_by", numbers=", ".join(b.instructions)))
        if b.state == CallState.MISSING:
            detail.append(fmt.call_state(b.state))
        return [
            (str(b.id), ""),
            (fmt.moment(b.started_at, seconds=False), ""),
            (b.raw_retention_until.isoformat(), "dim" if ahead else ""),
            (reasons, "yellow" if ahead else "bold yellow" if b.hold is not None else ""),
            (" / ".join(detail), ""),
        ]


class RetentionView(DutyKeys, Vertical):
    """Reloaded when shown and whenever the database changes (a purge, a hold, another console)."""

    # p, i, h and u are shown to either role: they ask for the manager's PIN (the manager acts
    # at the operator's console), so they are no session role's keys.
    DUTIES: ClassVar[dict[str, Duty]] = {"deletion_record": Duty.REPORT}

    DEFAULT_CSS = """
    RetentionView { padding: 0 1; }
    #retention-summary { height: auto; margin-top: 1; }
    #retention-blocked-title { height: 1; margin-top: 1; text-style: bold; }
    #retention-blocked { height: 1fr; min-height: 4; }
    #retention-register { height: auto; max-height: 6; border-top: solid $accent; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "purge", "key.purge"),
        Binding("i", "issue", "key.issue_purge"),
        Binding("h", "hold", "key.hold"),
        Binding("u", "release", "key.release"),
        Binding("d", "deletion_record", "key.deletion_record"),
        Binding("f5", "refresh", "key.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.preview: Preview | None = None
        self._status: RetentionStatus | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="retention-summary", markup=False)
        yield Static("", id="retention-blocked-title", markup=False)
        yield BlockedList()
        yield Static("", id="retention-register", markup=False)

    @property
    def status(self) -> RetentionStatus:
        """The service's preview, read through the console's side reader (slow counts there)."""
        if self._status is None:
            ws = host(self).ws
            side = host(self).side or ws.db
            self._status = RetentionStatus(side, ws.clock, ws.config.raw_grace_days, register=ws.register)
        return self._status

    def on_mount(self) -> None:
        host(self).data_changed.subscribe(self, lambda _v: self.load() if self.display else None)
        host(self).session_changed.subscribe(self, lambda _s: self.refresh_bindings())
        self.load()

    def on_show(self) -> None:
        self.load()

    def focus_default(self) -> None:
        self.query_one(BlockedList).focus()

    def action_refresh(self) -> None:
        self.load()

    @work(exclusive=True, group="retention")
    async def load(self) -> None:
        try:
            preview = await self.status.preview()
            instruction = await self._issued_purge()
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        self.preview = preview
        self.query_one("#retention-summary", Static).update(self._summary(preview, instruction))
        title = t("retention.blocked_title", n=fmt.count(len(preview.blocked)))
        if preview.held_ahead:
            title += t("retention.held_ahead_title", n=fmt.count(len(preview.held_ahead)))
        self.query_one("#retention-blocked-title", Static).update(plain(title))
        self.query_one(BlockedList).show_blocked(preview.blocked, preview.held_ahead)
        self.query_one("#retention-register", Static).update(self._register(preview))

    def _summary(self, p: Preview, instruction: Instruction | None) -> Text:
        out = LabelledLines(14)
        out.line(
            "retention.as_of",
            t("retention.as_of_value", at=fmt.moment(p.as_of, seconds=False), cutoff=p.cutoff.isoformat()),
        )
        if p.grace_days:
            out.line(
                "retention.grace",
                t("retention.grace_value", days=p.grace_days, n=fmt.count(p.in_grace.count)),
            )
        oldest = (
            t("retention.oldest", day=p.purgeable.oldest.date().isoformat()) if p.purgeable.oldest else ""
        )
        out.line(
            "retention.purgeable",
            Text(
                t(
                    "retention.purgeable_value",
                    n=fmt.count(p.purgeable.count),
                    size=fmt.size(p.purgeable.bytes),
                )
                + oldest,
                style="bold yellow" if p.purgeable.count else "",
            ),
        )
        if p.next_deletable_from is not None:
            out.line(
                "retention.next",
                t(
                    "retention.next_value",
                    day=fmt.day_label(p.next_deletable_from.date()),
                    n=fmt.count(p.next_count),
                    size=fmt.size(p.next_bytes),
                ),
            )
        else:
            out.line("retention.next", t("retention.next_none"))
        out.line(
            "retention.instruction",
            t("retention.instruction_value", number=instruction.number)
            if instruction
            else t("retention.instruction_none"),
        )
        return out.text()

    def _register(self, p: Preview) -> Text:
        if not p.register_available:
            return plain("")
        out = Text(end="")
        out.append(t("retention.register_title", n=fmt.count(len(p.register_due))), style="bold")
        for entry in p.register_due[:4]:
            out.append("\n  ")
            out.append_text(
                plain(
                    t(
                        "retention.register_entry",
                        id=entry["id"],
                        number=entry["instruction"],
                        medium=t(f"medium.{entry['medium']}"),
                        written=entry["written_on"],
                        kept=entry["kept_through"],
                    )
                )
            )
        if len(p.register_due) > 4:
            out.append("\n  ")
            out.append(t("retention.register_more", n=len(p.register_due) - 4), style="dim")
        return out

    async def _issued_purge(self) -> Instruction | None:
        """The purge instruction to carry out: the oldest one issued and not yet executed."""
        items = await host(self).ws.instructions.list(kind=Kind.PURGE, open_only=True)
        return next((i for i in items if i.state == State.ISSUED), None)

    # -- actions -------------------------------------------------------------------------------

    def action_hold(self) -> None:
        self.hold()

    def action_release(self) -> None:
        self.release()

    def action_issue(self) -> None:
        self.issue()

    def action_purge(self) -> None:
        self.purge()

    def action_deletion_record(self) -> None:
        self.deletion_record()

    async def _as_manager(self, duty: Duty, why: str, act: Callable[[Actor], Awaitable[T]]) -> T | None:
        """The manager's PIN for `duty`, then `act` with the Actor; what it returned, or None when
        the PIN was not given or `act` failed (said)."""
        actor = await host(self).ask_pin(duty, why, role=Role.MANAGER)
        if actor is None:
            return None
        try:
            return await act(actor)
        except CallrecError as exc:
            host(self).say_error(exc)
            return None

    @work(exclusive=True, group="retention-action")
    async def deletion_record(self) -> None:
        """The deletion record (削除記録) of a period: shown, and savable as an A4 page."""
        app = host(self)
        today = app.ws.clock.now().date()
        period = await app.push_screen_wait(PeriodModal(today.replace(day=1), today, today))
        if period is None:
            return
        first, last = period
        record = await self._as_manager(
            Duty.REPORT,
            t("record.pin", first=first.isoformat(), last=last.isoformat()),
            lambda actor: app.ws.deletions.build(actor, first, last),
        )
        if record is not None:
            await app.push_screen_wait(DeletionRecordScreen(record))

    @work(exclusive=True, group="retention-action")
    async def hold(self) -> None:
        if await holding.hold(host(self)):
            self.load()

    @work(exclusive=True, group="retention-action")
    async def release(self) -> None:
        chosen = self.query_one(BlockedList).selected
        if await holding.release(host(self), chosen.id if chosen is not None and chosen.hold else None):
            self.load()

    @work(exclusive=True, group="retention-action")
    async def issue(self) -> None:
        app = host(self)
        if not await app.confirm(
            t("retention.issue.title"), [t("retention.issue.body")], action=t("retention.issue.go")
        ):
            return
        ins = await self._as_manager(
            Duty.ISSUE_INSTRUCTION, t("retention.issue.pin"), app.ws.instructions.issue_purge
        )
        if ins is not None:
            app.say(t("retention.issue.done", number=ins.number))
            self.load()

    @work(exclusive=True, group="retention-action")
    async def purge(self) -> None:
        app = host(self)
        ws = app.ws
        try:
            instruction = await self._issued_purge()
            if instruction is None:
                app.say(t("retention.purge.no_instruction"), severity="warning")
                return
            plan = await ws.purge.plan(instruction.id)
        except CallrecError as exc:
            app.say_error(exc)
            return
        if not plan.count:
            app.say(t("retention.purge.nothing"), severity="warning")
            return
        if not await app.confirm(
            t("retention.purge.title", number=plan.instruction.number),
            self._plan_lines(plan),
            typed=str(plan.count),
            danger=True,
            action=t("retention.purge.go"),
        ):
            return
        actor = await app.ask_pin(
            Duty.EXECUTE_INSTRUCTION, t("retention.purge.pin", n=plan.count), role=Role.OPERATOR
        )
        if actor is None:
            return

        async def work_fn(job: Job) -> PurgeResult:
            token = CancelToken()

            def progress(p: PurgeProgress) -> None:
                job.update(
                    p.done,
                    p.total,
                    note=t(
                        "retention.purge.progress", n=fmt.count(p.deleted), size=fmt.size(p.deleted_bytes)
                    ),
                )
                if job.cancelled.is_set():
                    token.cancel()

            job.update(0, plan.count)
            return await ws.purge.execute(
                actor, plan, typed_count=plan.count, progress=progress, cancel=token
            )

        try:
            result = await app.run_job(
                t("retention.purge.job", number=plan.instruction.number), work_fn, unit="items"
            )
        except CallrecError as exc:
            app.say_error(exc)
            self.load()
            return
        key = "retention.purge.done" if result.state == "finished" else "retention.purge.stopped"
        said = t(
            key,
            n=fmt.count(result.deleted),
            size=fmt.size(result.deleted_bytes),
            number=result.instruction.number,
        )
        if result.refused:
            said += " " + t("retention.purge.refused", n=fmt.count(result.refused))
        app.say(said)
        self.load()

    @staticmethod
    def _plan_lines(plan: PurgePlan) -> list[str]:
        lines = [t("retention.purge.count", n=fmt.count(plan.count), size=fmt.size(plan.bytes))]
        if plan.oldest and plan.newest:
            lines.append(
                t(
                    "retention.purge.span",
                    first=plan.oldest.date().isoformat(),
                    last=plan.newest.date().isoformat(),
                )
            )
        lines.append(t("retention.purge.rule", cutoff=plan.cutoff.isoformat()))
        if plan.grace_days:
            lines.append(t("retention.purge.grace", days=plan.grace_days))
        if plan.blocked:
            lines.append(t("retention.purge.blocked", n=fmt.count(plan.blocked)))
        lines.append(t("retention.purge.recheck"))
        return lines


VIEW = View(key="retention", title_key="view.retention", factory=RetentionView, order=40)
