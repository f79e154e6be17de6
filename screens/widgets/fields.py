"""Input fields as the console uses them: a steady cursor (a blinking one redraws twice a second,
which is traffic over a slow SSH link and noise in snapshots)."""

from __future__ import annotations

from typing import Any

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input, Static

from screens.widgets.text import plain


class Field(Input):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_blink = False


def focus_now(widget: Widget) -> None:
    """Focus at once, not after the events already queued (Widget.focus defers): keys typed or
    pasted right after `/` must land in the search field, not in the list."""
    widget.screen.set_focus(widget)


def field_row(label: str, field: Widget, *, label_width: int | None = None) -> Vertical:
    """A line of a form: its label (plain text), then the field."""
    caption = Static(plain(label), classes="field-label")
    if label_width is not None:
        caption.styles.width = label_width
    return Vertical(caption, field, classes="field-row")
