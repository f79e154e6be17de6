"""Keys that are one role's duties: the key bar shows them to the session's role only, and pressed
by another role they say why not. The service checks the duty again when it acts."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding
from textual.dom import DOMNode

from screens.host import ConsoleHost, host
from services.access import Duty, may, require
from services.core import NotPermitted


def allowed(app: ConsoleHost, duty: Duty) -> bool:
    """Whether the session's role has this duty: the views show only the keys it may use."""
    return app.session is not None and may(app.session.role, duty)


def entitled(app: ConsoleHost, duty: Duty) -> bool:
    """Say so at once when the session's role may not do this (before any form is filled in);
    the service checks again when it acts."""
    if app.session is None:
        return False
    try:
        require(app.session.role, duty)
    except NotPermitted as exc:
        app.say_error(exc)
        return False
    return True


def refusals(*keys: tuple[str, str]) -> list[Binding]:
    """Hidden bindings behind the duty keys, (key, action) each: pressed by a role without the
    duty, the key runs `refuse(action)`, which says why not."""
    return [Binding(key, f"refuse('{action}')", show=False) for key, action in keys]


class DutyKeys:
    """Mixin for a view: `DUTIES` maps an action to the duty it needs; bind each key twice, to the
    action and (with `refusals`) to `refuse`, and check_action enables the one that fits the role."""

    DUTIES: ClassVar[dict[str, Duty]] = {}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "refuse":
            return not allowed(self._duty_app, self.DUTIES[str(parameters[0])])
        duty = self.DUTIES.get(action)
        return duty is None or allowed(self._duty_app, duty)

    def action_refuse(self, action: str) -> None:
        entitled(self._duty_app, self.DUTIES[action])  # says why not

    @property
    def _duty_app(self) -> ConsoleHost:
        assert isinstance(self, DOMNode), "DutyKeys is mixed into a widget"
        return host(self)
