"""The wiring the list-and-detail views share (instructions, the output-data register): a summary,
a list read whole from its service, the selected item's details below it; read again whenever
the audit log moves (every change to these is audited), so changes made from another console or
the CLI show within a second. Subclasses say what to read and how to sum it up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from screens.duty_keys import DutyKeys
from screens.host import ConsoleHost, host
from screens.widgets.fields import focus_now
from screens.widgets.table import Item, ItemTable, VirtualTable
from services.access import Head
from services.core import CallrecError

if TYPE_CHECKING:
    from services.workspace import Workspace


class ItemDetail(Static, Generic[Item]):
    """The pane under the list: what it shows of the selected item (None: nothing selected)."""

    def show(self, item: Item | None) -> None:
        raise NotImplementedError


class ListingView(DutyKeys, Vertical, Generic[Item]):
    SUMMARY_ID: ClassVar[str]
    LIST: ClassVar[type[ItemTable[Any]]]
    DETAIL: ClassVar[type[ItemDetail[Any]]]

    def __init__(self) -> None:
        super().__init__()
        self._seen: Head | None = None

    # -- what subclasses provide -----------------------------------------------------------

    async def read(self, ws: Workspace) -> list[Item]:
        raise NotImplementedError

    def summary(self, items: list[Item]) -> Text:
        raise NotImplementedError

    # -- the wiring --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id=self.SUMMARY_ID, markup=False)
        yield self.LIST()
        yield self.DETAIL()

    @property
    def list(self) -> ItemTable[Item]:
        return self.query_one(self.LIST)

    def on_mount(self) -> None:
        host(self).data_changed.subscribe(self, lambda _v: self.load())
        host(self).session_changed.subscribe(self, lambda _s: self.refresh_bindings())
        self.load(force=True)

    def focus_default(self) -> None:
        focus_now(self.list)

    @work(exclusive=True, group="listing")
    async def load(self, force: bool = False) -> None:
        ws = host(self).ws
        try:
            head = await ws.audit.head()
            if not force and head == self._seen:
                return
            items = await self.read(ws)
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        if not self.query(self.LIST):  # taken down (locked, closing) while the list was read
            return
        self._seen = head
        self.list.show(items)
        self.query_one(f"#{self.SUMMARY_ID}", Static).update(self.summary(items))

    @on(VirtualTable.CursorMoved)
    def _moved(self, event: VirtualTable.CursorMoved) -> None:
        if event.table is self.list:
            self.query_one(self.DETAIL).show(self.list.selected)

    async def act_on_selected(
        self, act: Callable[[ConsoleHost, Item], Awaitable[object]], *, reload: bool = True
    ) -> None:
        """Run an action on the selected item, if any; read the list again if it did something."""
        item = self.list.selected
        if item is not None and await act(host(self), item) and reload:
            self.load(force=True)
