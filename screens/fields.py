"""Input fields as the console uses them: a steady cursor (a blinking one redraws twice a second,
which is traffic over a slow SSH link and noise in snapshots)."""

from __future__ import annotations

from typing import Any

from textual.widget import Widget
from textual.widgets import Input


class Field(Input):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_blink = False


def focus_now(widget: Widget) -> None:
    """Focus at once, not after the events already queued (Widget.focus defers): keys typed or
    pasted right after `/` must land in the search field, not in the list."""
    widget.screen.set_focus(widget)
