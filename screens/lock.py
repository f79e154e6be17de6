"""The lock screen: no call data, a role and a masked PIN; Enter unlocks."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from console.i18n import t, tr_error
from screens.host import host
from screens.widgets.chrome import TopBar
from screens.widgets.fields import Field, field_row
from screens.widgets.modals import PIN_CHARS, RolePicker, typed_pin
from screens.widgets.text import lines, plain, role_name
from services.access import Duty, Role
from services.core import CallrecError


class LockScreen(Screen[None]):
    """Covers everything; only the lock screen's own keys and the app's quit and help work."""

    # Screen CSS, not DEFAULT_CSS: it must outrank app.tcss's .dialog as it did there.
    CSS = """
    LockScreen {
        align: center middle;
    }

    LockScreen > Center {
        height: 1fr;
        align: center middle;
    }

    #lock-box {
        width: 76;
        padding: 1 3;
    }

    #lock-centre {
        text-align: center;
        text-style: bold;
    }

    #lock-title {
        text-align: center;
    }

    #lock-reason {
        text-align: center;
        color: $text-muted;
        height: auto;
    }

    #lock-message {
        margin-top: 1;
        min-height: 1;
        height: auto;
    }

    #lock-hint {
        margin-top: 1;
        color: $text-muted;
        height: auto;
    }

    #lock-demo {
        margin-top: 1;
        color: $warning;
        height: auto;
    }

    #lock-notice {
        dock: bottom;
        height: auto;
        padding: 0 1;
        text-align: center;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab,up,down", "switch_role", "key.switch_role", show=False),
    ]

    def __init__(self, *, reason: str = "") -> None:
        super().__init__(id="lock")
        self.reason = reason  # catalogue key of why we locked ("lock.idle", ...), or ""

    def compose(self) -> ComposeResult:
        app = host(self)
        yield TopBar(locked=True)
        with Center(), Vertical(id="lock-box", classes="dialog"):
            yield Static(plain(app.centre_name, "bold"), id="lock-centre")
            yield Static(plain(t("lock.title")), id="lock-title")
            yield Static(plain(t(self.reason) if self.reason else ""), id="lock-reason")
            yield field_row(
                t("lock.role"), RolePicker(list(Role)[::-1], Role(app.ws.config.default_role), id="lock-role")
            )
            yield field_row(
                t("lock.pin"),
                Field(
                    password=True,
                    restrict=PIN_CHARS,
                    max_length=12,
                    id="lock-pin",
                    placeholder=t("lock.pin_placeholder"),
                ),
            )
            yield Static("", id="lock-message", markup=False)
            yield Static(lines(t("lock.hint"), "dim"), id="lock-hint")
            if app.demo:
                yield Static(plain(t("lock.demo_pins"), "bold"), id="lock-demo")
        yield Static(plain(t("lock.notice"), "dim"), id="lock-notice")

    def on_mount(self) -> None:
        self.query_one("#lock-pin", Input).focus()

    def on_screen_resume(self) -> None:
        self.query_one("#lock-pin", Input).focus()

    @property
    def role(self) -> Role:
        return self.query_one("#lock-role", RolePicker).chosen

    def say(self, text: str, style: str = "bold") -> None:
        self.query_one("#lock-message", Static).update(plain(text, style))

    def action_switch_role(self) -> None:
        picker = self.query_one("#lock-role", RolePicker)
        picker.step()
        self.say(t("lock.role_now", role=role_name(picker.chosen)), "")

    @on(Input.Submitted, "#lock-pin")
    def submitted(self, event: Input.Submitted) -> None:
        pin = typed_pin(event.value)
        if pin is None:
            self.say(t("pin.format"))
            return
        self.unlock(self.role, pin)

    @work(exclusive=True, group="unlock")
    async def unlock(self, role: Role, pin: str) -> None:
        app = host(self)
        field = self.query_one("#lock-pin", Input)
        field.disabled = True
        self.say(t("pin.checking"), "")
        try:
            actor = await app.ws.auth.authorize(role, pin, Duty.VIEW_INDEX)
        except CallrecError as exc:
            self.say(tr_error(exc), "bold red")
            field.value = ""
            field.disabled = False
            field.focus()
            return
        field.value = ""
        field.disabled = False
        self.say("")
        # The app swaps screens: not from this screen's own worker, which the swap would end.
        app.call_later(app.unlock, actor)
