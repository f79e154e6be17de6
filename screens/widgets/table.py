"""A Line-API table: renders only the rows on screen, so a million rows cost what forty do.

Subclasses say how many rows there are (`row_count`) and what a row shows (`row_cells`, or None
while it is still being loaded: a placeholder is drawn and `request_rows` is asked to fetch it).
Line 0 is the column header and never scrolls. Cells are cut to their column width counting CJK
characters as two cells, and every cell passes through `services.core.text.visible`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.i18n import t
from screens.widgets.text import fit

Cell = tuple[str, str]  # text, style ("" for the row's style)


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Item = TypeVar("Item", bound=HasId)


@dataclass(frozen=True)
class Column:
    key: str
    title_key: str  # catalogue key
    width: int
    align: str = "left"


class VirtualTable(ScrollView, can_focus=True):
    """Rows 0..row_count-1 under a fixed header; `cursor` is the selected row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", show=False),
        Binding("down,j", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown,space", "page(1)", show=False),
        Binding("home", "first", show=False),
        Binding("end", "last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "vtable--header",
        "vtable--cursor",
        "vtable--cursor-blurred",
        "vtable--placeholder",
        "vtable--odd",
    }

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; overflow-x: hidden; overflow-y: auto; scrollbar-size-vertical: 1; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; }
    VirtualTable > .vtable--cursor { background: $accent; color: $text; text-style: bold; }
    VirtualTable > .vtable--cursor-blurred { background: $accent 40%; }
    VirtualTable > .vtable--placeholder { color: $text-muted; }
    VirtualTable > .vtable--odd { background: $boost; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class CursorMoved(Message):
        def __init__(self, table: VirtualTable, index: int) -> None:
            super().__init__()
            self.table = table
            self.index = index

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._count = 0
        self._styles: dict[str, Style] = {}

    # -- what subclasses provide -----------------------------------------------------------

    def columns(self, width: int) -> Sequence[Column]:
        raise NotImplementedError

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        raise NotImplementedError

    def request_rows(self, first: int, last: int) -> None:
        """Rows first..last (inclusive) are on screen but not loaded: fetch them."""

    def empty_text(self) -> str:
        return t("table.empty")

    # -- size and position -----------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self._count

    def set_row_count(self, count: int) -> None:
        self._count = max(0, count)
        self.virtual_size = Size(self._table_width(), self._count + 1)
        if self.cursor >= self._count and self._count:
            self.set_cursor(self._count - 1)
        self.refresh()

    def _table_width(self) -> int:
        width = self.scrollable_content_region.width or self.size.width
        return max(width, sum(c.width + 1 for c in self.columns(width)))

    @property
    def rows_visible(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    @property
    def first_visible(self) -> int:
        return int(self.scroll_y)

    def set_cursor(self, index: int, *, scroll: bool = True) -> None:
        index = max(0, min(index, self._count - 1)) if self._count else 0
        if index != self.cursor:
            self.cursor = index
        if scroll:
            self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        top = self.first_visible
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self.rows_visible:
            self.scroll_to(y=self.cursor - self.rows_visible + 1, animate=False, immediate=True)

    def shift(self, rows: int) -> None:
        """Rows were inserted (or removed) above: keep the same call under the cursor and the
        same rows on screen."""
        if not rows:
            return
        self.cursor = max(0, self.cursor + rows)
        if self.first_visible > 0 or rows < 0:
            self.scroll_to(y=max(0, self.scroll_y + rows), animate=False, immediate=True)
        self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        self.post_message(self.CursorMoved(self, new))

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self._table_width(), self._count + 1)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- keys and mouse ----------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self.set_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        step = max(1, self.rows_visible - 1)
        target = self.cursor + direction * step
        top = max(0, min(self.first_visible + direction * step, max(0, self._count - self.rows_visible)))
        self.scroll_to(y=top, animate=False, immediate=True)
        self.set_cursor(target)

    def action_first(self) -> None:
        self.set_cursor(0)

    def action_last(self) -> None:
        self.set_cursor(self._count - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = self.first_visible + offset.y - 1
        if index < self._count:
            self.focus()
            self.set_cursor(index, scroll=False)

    # -- drawing -----------------------------------------------------------------------------

    def _style(self, spec: str) -> Style:
        style = self._styles.get(spec)
        if style is None:
            style = self._styles[spec] = Style.parse(spec) if spec else Style()
        return style

    def _segments(
        self,
        cells: Sequence[tuple[str, str]],
        cols: Sequence[Column],
        base: Style,
        width: int,
        *,
        override: bool = False,
    ) -> Strip:
        segments: list[Segment] = []
        used = 0
        last = len(cols) - 1
        for i, (col, (text, spec)) in enumerate(zip(cols, cells, strict=False)):
            w = col.width if i < last else max(col.width, width - used - 1)
            style = base if override or not spec else base + self._style(spec)
            segments.append(Segment(" ", base))
            segments.append(Segment(fit(text, w, align=col.align), style))
            used += w + 1
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, max(used, width))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        cols = self.columns(width)
        if y == 0:
            header = self.get_component_rich_style("vtable--header")
            titles = [(t(c.title_key), "") for c in cols]
            return self._segments(titles, cols, header, width).crop(0, width)
        base = self.rich_style
        index = self.first_visible + y - 1
        if index >= self._count:
            if index == 0 and self._count == 0:
                muted = self.get_component_rich_style("vtable--placeholder")
                return Strip([Segment(fit(" " + self.empty_text(), width), muted)], width)
            return Strip.blank(width, base)
        cells = self.row_cells(index)
        if cells is None:
            self._want(index)
            muted = self.get_component_rich_style("vtable--placeholder")
            return self._segments([("…", "")], cols[:1], muted, width)
        if index == self.cursor:
            name = "vtable--cursor" if self.has_focus else "vtable--cursor-blurred"
            style = base + self.get_component_rich_style(name)
            return self._segments(cells, cols, style, width, override=self.has_focus).crop(0, width)
        if index % 2:
            base = base + self.get_component_rich_style("vtable--odd")
        return self._segments(cells, cols, base, width).crop(0, width)

    def _want(self, index: int) -> None:
        first = self.first_visible
        self.request_rows(min(first, index), max(first + self.rows_visible, index))


class ItemTable(VirtualTable, Generic[Item]):
    """A table of a list read whole into memory (instructions, register entries, holds): when the
    list is read again the cursor stays on the item it was on (by id), wherever that now is."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[Item] = []

    @property
    def selected(self) -> Item | None:
        return self.items[self.cursor] if 0 <= self.cursor < len(self.items) else None

    def replace(self, items: list[Item]) -> None:
        current = self.selected
        self.items = items
        self.set_row_count(len(items))
        if current is not None:
            for i, item in enumerate(items):
                if item.id == current.id:
                    self.set_cursor(i)
                    break
        self.refresh()

    def show(self, items: list[Item]) -> None:
        """Replace the items and announce the selection (for the detail pane), moved or not."""
        self.replace(items)
        self.post_message(self.CursorMoved(self, self.cursor))
