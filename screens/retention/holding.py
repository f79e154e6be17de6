"""Holding a call beyond its retention date, and releasing it (manager, 第4条6): one dialog for the
reason and one flow, used from the retention view and from the selected call in the calls list."""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.i18n import t
from screens.host import ConsoleHost
from screens.widgets import text as fmt
from screens.widgets.fields import Field, field_row
from screens.widgets.modals import DismissOnLock
from screens.widgets.text import plain
from services.access import Duty, Role
from services.calls import Call
from services.core import CallrecError, NotFound

if TYPE_CHECKING:
    from services.access import Actor

T = TypeVar("T")


def call_line(call: Call) -> str:
    """A call as the manager recognises it, numbers masked: date, time, type, both parties."""
    city = fmt.number(call.city_number, masked=True)
    other = fmt.number(call.other_number, masked=True, caller=call.caller_id)
    return f"{call.started_at:%Y-%m-%d %H:%M}  {fmt.call_type(call.type)}  {city} ⇄ {other}"


class ReasonModal(DismissOnLock, ModalScreen[tuple[int, str] | None]):
    """Ask for a call (unless given) and a reason: for a hold or its release."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "key.cancel")]

    def __init__(self, title: str, body: str, call_id: int | None = None, label: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.call_id = call_id
        self.label = label or (t("retention.form.call_value", id=call_id) if call_id is not None else "")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.title_text, "bold"), classes="dialog-title")
            yield Static(plain(self.body), classes="dialog-body")
            if self.call_id is None:
                yield field_row(
                    t("retention.form.call"), Field(restrict=r"[0-9０-９]*", max_length=12, id="reason-call")
                )
            else:
                yield Static(plain(self.label), id="reason-which", classes="dialog-body")
            yield field_row(t("retention.form.reason"), Field(max_length=500, id="reason-text"))
            yield Static("", id="reason-message", classes="dialog-message", markup=False)
            yield Static(plain(t("retention.form.hint"), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        first = "#reason-call" if self.call_id is None else "#reason-text"
        self.query_one(first, Input).focus()

    @on(Input.Submitted, "#reason-call")
    def _call_done(self) -> None:
        self.query_one("#reason-text", Input).focus()

    @on(Input.Submitted, "#reason-text")
    def _reason_done(self, event: Input.Submitted) -> None:
        call_id = self.call_id
        if call_id is None:
            digits = unicodedata.normalize("NFKC", self.query_one("#reason-call", Input).value)
            if not digits.strip().isdigit():
                self._say(t("retention.form.need_call"))
                self.query_one("#reason-call", Input).focus()
                return
            call_id = int(digits)
        if not event.value.strip():
            self._say(t("retention.form.need_reason"))
            return
        self.dismiss((call_id, event.value))

    def _say(self, text: str) -> None:
        self.query_one("#reason-message", Static).update(plain(text))

    def action_cancel(self) -> None:
        self.dismiss(None)


async def _named(app: ConsoleHost, call_id: int) -> str:
    """The call's line for the PIN prompt; its id alone when the index has no such call (the
    service then says so)."""
    try:
        return call_line(await app.ws.calls.get(call_id))
    except NotFound:
        return t("retention.form.call_value", id=call_id)


async def _as_manager(app: ConsoleHost, why: str, act: Callable[[Actor], Awaitable[T]]) -> T | None:
    actor = await app.ask_pin(Duty.HOLD, why, role=Role.MANAGER)
    if actor is None:
        return None
    try:
        return await act(actor)
    except CallrecError as exc:
        app.say_error(exc)
        return None


async def hold(app: ConsoleHost, call: Call | None = None) -> bool:
    """Ask for the reason (and the call, unless given), the manager's PIN, then hold it."""
    label = call_line(call) if call is not None else None
    answer = await app.push_screen_wait(
        ReasonModal(t("retention.hold.title"), t("retention.hold.body"), call.id if call else None, label)
    )
    if answer is None:
        return False
    call_id, reason = answer
    which = label or await _named(app, call_id)
    held = await _as_manager(
        app, t("retention.hold.pin", call=which), lambda actor: app.ws.holds.set(actor, call_id, reason)
    )
    if held is None:
        return False
    app.say(t("retention.hold.done", call=which))
    return True


async def release(app: ConsoleHost, call_id: int | None) -> bool:
    """Ask for the reason (and the call, unless given), the manager's PIN, then release the hold."""
    label = await _named(app, call_id) if call_id is not None else None
    answer = await app.push_screen_wait(
        ReasonModal(t("retention.release.title"), t("retention.release.body"), call_id, label)
    )
    if answer is None:
        return False
    chosen, reason = answer
    which = label or await _named(app, chosen)
    released = await _as_manager(
        app, t("retention.release.pin", call=which), lambda actor: app.ws.holds.release(actor, chosen, reason)
    )
    if released is None:
        return False
    app.say(t("retention.release.done", call=which))
    return True
