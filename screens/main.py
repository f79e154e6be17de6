"""The main screen: title bar, view tabs, the current view, the key bar.

Views come from the registry (screens/views.py) and are built the first time they are shown, so
unlocking only pays for the calls view.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher

from console.i18n import t
from screens.views import View, views
from screens.widgets.chrome import KeyBar, TopBar, ViewBar


def _view_id(view: View) -> str:
    return f"view-{view.key}"


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(n), f"show_view({n - 1})", show=False) for n in range(1, 10)),
        Binding("ctrl+right", "next_view(1)", show=False),
        Binding("ctrl+left", "next_view(-1)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.views = views()
        self.current = 0

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield ViewBar([t(v.title_key) for v in self.views], self.show_view)
        with ContentSwitcher(id="views", initial=_view_id(self.views[0]) if self.views else None):
            if self.views:
                yield self._build(self.views[0])
        yield KeyBar(extra=[(f"1-{len(self.views)}", "key.views")] if len(self.views) > 1 else [])

    def _build(self, view: View) -> Widget:
        widget = view.factory()
        widget.id = _view_id(view)
        widget.add_class("view")
        return widget

    def on_mount(self) -> None:
        self.call_after_refresh(self._focus_view)

    def on_screen_resume(self) -> None:
        """Back from the lock screen or a modal: the keys go to the view, never to nowhere."""
        if self.focused is None:
            self._focus_view()

    def _focus_view(self) -> None:
        if not self.views:
            return
        widget = self.query_one(f"#{_view_id(self.views[self.current])}")
        focus = getattr(widget, "focus_default", None)
        if callable(focus):
            focus()
        else:
            self.focus_next()

    async def show_view(self, index: int) -> None:
        if not 0 <= index < len(self.views):
            return
        if not self.is_current:
            return  # a digit meant for a PIN prompt that was still opening
        view = self.views[index]
        switcher = self.query_one("#views", ContentSwitcher)
        if not switcher.query(f"#{_view_id(view)}"):
            await switcher.mount(self._build(view))
        switcher.current = _view_id(view)
        self.current = index
        self.query_one(ViewBar).select(index)
        self._focus_view()
        self.refresh_bindings()

    async def action_show_view(self, index: int) -> None:
        await self.show_view(index)

    async def action_next_view(self, delta: int) -> None:
        if self.views:
            await self.show_view((self.current + delta) % len(self.views))

    @property
    def current_view(self) -> Widget | None:
        if not self.views:
            return None
        found = self.query(f"#{_view_id(self.views[self.current])}")
        return found.first() if found else None
