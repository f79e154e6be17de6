"""The registry of the console's views (the tabs of the main screen).

A view is a widget shown under a tab, switched with its number key. To add one, create a module
`screens/<name>_view.py` that defines

    VIEW = View(key="register", title_key="view.register", factory=RegisterView, order=40)

and nothing else is needed: every `screens/*_view.py` is found at start. (Or call
`register_view(View(...))` from any module imported before the main screen is built.)
The factory is called with no arguments each time a main screen is built; the widget reaches the
workspace as `self.app.ws` and the session as `self.app.session` (see console/app.py).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from textual.widget import Widget

import screens


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
    """Import every screens/*_view.py once; each module's VIEW is registered."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for info in pkgutil.iter_modules(screens.__path__):
        if info.name.endswith("_view"):
            module = importlib.import_module(f"screens.{info.name}")
            view = getattr(module, "VIEW", None)
            if isinstance(view, View):
                register_view(view)


def views() -> list[View]:
    discover()
    return sorted(_VIEWS.values(), key=lambda v: (v.order, v.key))
