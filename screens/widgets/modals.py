"""Modals every area uses: the PIN prompt, the confirmation (plain and typed).

Use them from a worker (`@work` method), awaiting the answer:

    actor = await self.app.push_screen_wait(PinPrompt(Duty.EXECUTE_INSTRUCTION, t("export.why")))
    if actor and await self.app.push_screen_wait(ConfirmModal(title, lines, typed="2026-0001")):
        ...

or through the host's shortcuts `await host(self).ask_pin(...)` / `await host(self).confirm(...)`.
Both are dismissed (None / False) when the console locks, so an action half-way through never
survives a change of person at the terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Click
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from console.i18n import t, tr_error
from screens.host import host
from screens.widgets.fields import Field, field_row
from screens.widgets.text import lines, plain, role_name
from services.access import DUTIES, Actor, Duty, Role, normalize_pin
from services.core import CallrecError, PinError

PIN_CHARS = r"[0-9０-９]*"


def typed_pin(value: str) -> str | None:
    """The PIN typed (full-width digits too), or None when it cannot be one: said at once, before
    the PIN is checked (the rule is services/access/auth.py's)."""
    try:
        return normalize_pin(value)
    except PinError:
        return None


class DismissOnLock:
    """Mixin for modals that the lock dismisses (with `lock_result`)."""

    lock_result: object = None


class RolePicker(Static, can_focus=False):
    """The roles to choose from, the chosen one highlighted; changed with Tab or the arrows."""

    DEFAULT_CSS = "RolePicker { height: 1; width: auto; }"

    def __init__(self, roles: Sequence[Role], chosen: Role, *, id: str | None = None) -> None:
        super().__init__(markup=False, id=id)
        self.roles = list(roles)
        self.chosen = chosen if chosen in self.roles else self.roles[0]

    def on_mount(self) -> None:
        self.draw()

    def draw(self) -> None:
        text = Text(end="")
        for role in self.roles:
            text.append(f" {role_name(role)} ", style="reverse bold" if role == self.chosen else "dim")
            text.append("  ")
        self.update(text)

    def step(self, delta: int = 1) -> Role:
        if len(self.roles) > 1:
            index = (self.roles.index(self.chosen) + delta) % len(self.roles)
            self.chosen = self.roles[index]
            self.draw()
        return self.chosen

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x = 0
        for role in self.roles:
            label = f" {role_name(role)} "
            w = Text(label).cell_len
            if x <= offset.x < x + w:
                self.chosen = role
                self.draw()
                return
            x += w + 2


class PinPrompt(DismissOnLock, ModalScreen[Actor | None]):
    """Ask the PIN of the role doing `duty`; dismissed with the Actor Auth returns, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "key.cancel"),
        Binding("tab,up,down", "switch_role", "key.switch_role", show=False),
    ]

    def __init__(
        self, duty: Duty, purpose: str, *, role: Role | None = None, roles: Sequence[Role] | None = None
    ) -> None:
        super().__init__()
        self.duty = duty
        self.purpose = purpose
        allowed = [r for r in (roles or list(Role)) if r in DUTIES[duty]]
        if role is not None:
            allowed = [role] if role in DUTIES[duty] else []
        self.roles = allowed
        self._preferred = role

    def compose(self) -> ComposeResult:
        app = host(self)
        preferred = self._preferred or (app.session.role if app.session else Role(app.ws.config.default_role))
        chosen = preferred if preferred in self.roles else (self.roles[0] if self.roles else Role.OPERATOR)
        with Vertical(classes="dialog"):
            yield Static(plain(t("pin.title"), "bold"), classes="dialog-title")
            yield Static(lines(self.purpose), classes="dialog-body")
            if not self.roles:
                yield Static(plain(t("pin.no_role"), "bold red"), classes="dialog-message")
                return
            yield field_row(t("pin.role"), RolePicker(self.roles, chosen, id="pin-role"))
            yield field_row(
                t("pin.pin"),
                Field(
                    password=True,
                    restrict=PIN_CHARS,
                    max_length=12,
                    id="pin-input",
                    placeholder=t("pin.placeholder"),
                ),
            )
            yield Static("", id="pin-message", classes="dialog-message", markup=False)
            hint = "pin.hint_roles" if len(self.roles) > 1 else "pin.hint"
            yield Static(plain(t(hint), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        if self.roles:
            self.query_one("#pin-input", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_switch_role(self) -> None:
        if self.roles:
            self.query_one(RolePicker).step()
            self._say("")

    def _say(self, text: str) -> None:
        self.query_one("#pin-message", Static).update(plain(text))

    @on(Input.Submitted, "#pin-input")
    def submitted(self, event: Input.Submitted) -> None:
        pin = typed_pin(event.value)
        if pin is None:
            self._say(t("pin.format"))
            return
        self.check(self.query_one(RolePicker).chosen, pin)

    @work(exclusive=True, group="pin")
    async def check(self, role: Role, pin: str) -> None:
        app = host(self)
        field = self.query_one("#pin-input", Input)
        field.disabled = True
        self._say(t("pin.checking"))
        try:
            actor = await app.ws.auth.authorize(role, pin, self.duty)
        except CallrecError as exc:
            field.disabled = False
            field.value = ""
            field.focus()
            self._say(tr_error(exc))
            return
        self.dismiss(actor)


class ConfirmModal(DismissOnLock, ModalScreen[bool]):
    """Say what will happen and ask to go ahead. With `typed`, the answer must be typed out
    (for what deletes or writes media): the go-ahead key works only once it matches."""

    DEFAULT_CSS = """
    #confirm-input {
        margin-top: 1;
    }
    """

    lock_result = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "key.cancel"),
    ]

    def __init__(
        self,
        title: str,
        lines: Sequence[str | Text],
        *,
        action: str | None = None,
        typed: str | None = None,
        danger: bool = False,
    ) -> None:
        super().__init__(classes="danger" if danger else "")
        self.title_text = title
        self.lines = list(lines)
        self.action_label = action or t("confirm.go")
        self.typed = typed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.title_text, "bold"), classes="dialog-title")
            for line in self.lines:
                yield Static(line if isinstance(line, Text) else lines(line), classes="dialog-body")
            if self.typed is not None:
                yield Static(plain(t("confirm.type_to_go", word=self.typed)), classes="dialog-body")
                yield Field(id="confirm-input", placeholder=self.typed)
                hint = t("confirm.hint_typed", action=self.action_label)
            else:
                hint = t("confirm.hint", action=self.action_label)
            yield Static(plain(hint, "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        if self.typed is not None:
            self.query_one("#confirm-input", Input).focus()

    def _matches(self, value: str) -> bool:
        assert self.typed is not None
        norm = unicodedata.normalize("NFKC", value).strip()
        return norm == unicodedata.normalize("NFKC", self.typed).strip()

    @on(Input.Submitted, "#confirm-input")
    def submitted(self, event: Input.Submitted) -> None:
        if self._matches(event.value):
            self.dismiss(True)
        else:
            self.notify(t("confirm.mismatch", word=self.typed), severity="warning", markup=False)

    def key_enter(self) -> None:
        if self.typed is None:
            self.dismiss(True)

    def key_y(self) -> None:
        if self.typed is None:
            self.dismiss(True)

    def key_n(self) -> None:
        if self.typed is None:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
