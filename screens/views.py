"""The registry of the console's views (the tabs of the main screen).

A view is a widget shown under a tab, switched with its number key. Each view's module defines

    VIEW = View(key="register", title_key="view.register", factory=RegisterView, order=60)

and is named once in `discover` below, the explicit list of the console's views. (A test or an
extension may also call `register_view(View(...))` before the main screen is built.)
The factory is called with no arguments each time a main screen is built; the widget reaches the
application through the host protocol (screens/host.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.widget import Widget


@dataclass(frozen=True)
class View:
    key: str  # stable id, also the widget id of the view ("view-<key>")
    title_key: str  # catalogue key of the tab title
    factory: Callable[[], Widget]
    order: int = 100  # tabs sorted by this, then by key


_VIEWS: dict[str, View] = {}
_discovered = False


def register_view(view: View) -> None:
    _VIEWS[view.key] = view


def discover() -> None:
    """Register the console's views, once (imported here, not at the top: each imports View)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    from screens.calls.view import VIEW as calls
    from screens.exports.register_view import VIEW as register
    from screens.instructions.view import VIEW as instructions
    from screens.reports.status_view import VIEW as status
    from screens.reports.view import VIEW as report
    from screens.retention.view import VIEW as retention

    for view in (calls, instructions, status, retention, register, report):
        register_view(view)


def views() -> list[View]:
    discover()
    return sorted(_VIEWS.values(), key=lambda v: (v.order, v.key))
