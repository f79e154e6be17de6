"""The frame around the views: the title bar, the view tabs and the key bar."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from console import i18n
from console.i18n import t
from screens.host import host
from screens.widgets.text import day_label, plain, role_name, width_of

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "Esc",
    "enter": "Enter",
    "space": "Space",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "delete": "Del",
    "tab": "Tab",
}


def key_label(key: str) -> str:
    """ctrl+l -> ^L, question_mark -> ?, f5 -> F5."""
    first = key.split(",")[0].strip()
    if first.startswith("ctrl+"):
        return "^" + _KEY_NAMES.get(first[5:], first[5:]).upper()
    if first.startswith("f") and first[1:].isdigit():
        return first.upper()
    return _KEY_NAMES.get(first, first)


class TopBar(Static):
    """Centre name, console title, the unlocked role, the date and time."""

    DEFAULT_CSS = "TopBar { width: 100%; height: 1; background: $primary; color: $text; }"

    def __init__(self, *, locked: bool = False) -> None:
        super().__init__(markup=False)
        self.locked = locked

    def on_mount(self) -> None:
        self.draw()
        self.set_interval(10, self.draw)
        app = host(self)
        app.session_changed.subscribe(self, lambda _session: self.draw())

    def draw(self) -> None:
        app = host(self)
        now = app.ws.clock.now()
        left = Text(" ", end="")
        left.append_text(plain(app.centre_name, "bold"))
        left.append("  " + t("app.title"))
        if app.demo:
            left.append("  " + t("app.demo_badge") + " ", style="reverse")
        right = Text(end="")
        if app.session is not None and not self.locked:
            right.append(t("top.role", role=role_name(app.session.role)) + "  ")
        right.append(f"{day_label(now.date())} {now:%H:%M} ")
        width = self.size.width or 80
        gap = width - width_of(left.plain) - width_of(right.plain)
        if gap < 1:
            left.truncate(max(1, width - width_of(right.plain) - 1), overflow="ellipsis")
            gap = width - width_of(left.plain) - width_of(right.plain)
        self.update(Text.assemble(left, " " * max(1, gap), right))

    def on_resize(self, _event: events.Resize) -> None:
        self.draw()


class ViewBar(Static):
    """The tabs: `1 通話 2 指示 3 状況`, the current one highlighted; click or press its number."""

    DEFAULT_CSS = "ViewBar { width: 100%; height: 1; background: $panel; }"

    def __init__(self, titles: Sequence[str], on_pick: Callable[[int], Any]) -> None:
        super().__init__(markup=False)
        self.titles = list(titles)
        self.current = 0
        self.on_pick = on_pick
        self._spans: list[tuple[int, int]] = []

    def on_mount(self) -> None:
        self.draw()

    def select(self, index: int) -> None:
        self.current = index
        self.draw()

    def draw(self) -> None:
        text = Text(end="")
        self._spans = []
        for i, title in enumerate(self.titles):
            start = width_of(text.plain)
            label = f" {i + 1} {title} "
            text.append(label, style="reverse bold" if i == self.current else "")
            self._spans.append((start, start + width_of(label)))
            text.append(" ")
        self.update(text)

    async def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for i, (start, end) in enumerate(self._spans):
            if start <= offset.x < end:
                result = self.on_pick(i)
                if inspect.isawaitable(result):
                    await result


class KeyBar(Widget):
    """The footer: every key that does something here, with its translated name, most specific
    first; what does not fit is in the help (?)."""

    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; }
    """

    def __init__(self, extra: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__()
        self.extra = list(extra)  # (key label, catalogue key) always shown after the bindings

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def items(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(keys of the focused widget, view and screen; keys that are always shown)."""
        screen: Screen[Any] = self.screen
        seen: set[str] = set()
        local: list[tuple[str, str]] = []
        always: list[tuple[str, str]] = []
        for active in screen.active_bindings.values():
            binding: Binding = active.binding
            if not binding.show or not active.enabled or not i18n.active().has(binding.description):
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            item = (key_label(binding.key), t(binding.description))
            (always if active.node is self.app else local).append(item)
        return local, [(k, t(d)) for k, d in self.extra] + always

    def render(self) -> Text:
        width = self.size.width or 80
        local, always = self.items()

        def cells(item: tuple[str, str]) -> int:
            return width_of(item[0]) + width_of(item[1]) + 3

        room = width - sum(cells(i) for i in always)
        shown: list[tuple[str, str]] = []
        for item in local:
            if cells(item) > room:
                break
            shown.append(item)
            room -= cells(item)
        text = Text(end="", no_wrap=True, overflow="crop")
        for key, label in shown + always:
            text.append(f" {key} ", style="reverse bold")
            text.append(f" {label}")
        return text
