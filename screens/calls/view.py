"""The calls view: the live index, newest first, filtered as you type, with a detail pane.

The list pages rows from the store a block at a time into a small cache and draws only what is on
screen (screens/widgets/table.py). Counting the matches can take longer at a million calls, so it runs on
the side reader while the first page is already shown. When the index changes (new recordings, a
recording completes) the rows around the view are fetched again and the cursor stays on the call
it was on.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Select, Static

from console.i18n import t, tr_error
from screens.calls.filters import STATE_CHOICES, BadDate, parse_day, parse_from
from screens.duty_keys import DutyKeys, refusals
from screens.exports import actions as export_actions
from screens.host import host
from screens.retention import holding
from screens.views import View
from screens.widgets import text as fmt
from screens.widgets.fields import Field, focus_now
from screens.widgets.table import Cell, Column, VirtualTable
from screens.widgets.text import LabelledLines, plain
from services.access import Duty
from services.calls import Call, CallFilter, CallState
from services.core import CallrecError, signed_minutes
from services.indexing import CallType
from services.retention import deletable_from, is_expired

BLOCK = 64
COUNT_DELAY = 0.25  # after a keystroke, count once the typing pauses
LIVE_COUNT_EVERY = 2.0  # while recordings come in, recount at most this often
MAX_BLOCKS = 48
WIDE = 100  # from this width on, the roomier column set
LABEL = 11  # cells for the labels of the detail pane

STATE_STYLE = {
    CallState.RECORDING.value: "bold red",
    CallState.MISSING.value: "bold yellow",
    CallState.PURGING.value: "magenta",
    CallState.PURGED.value: "dim",
}

NARROW_COLUMNS = (
    Column("start", "calls.col.start", 12),
    Column("duration", "calls.col.duration", 7, "right"),
    Column("type", "calls.col.type", 8),
    Column("city", "calls.col.city", 12),
    Column("other", "calls.col.other", 14),
    Column("state", "calls.col.state", 9),
    Column("kept", "calls.col.kept", 10),
)
WIDE_COLUMNS = (
    Column("id", "calls.col.id", 8, "right"),
    Column("start", "calls.col.start", 20),
    Column("duration", "calls.col.duration", 8, "right"),
    Column("type", "calls.col.type", 12),
    Column("city", "calls.col.city", 15),
    Column("other", "calls.col.other", 16),
    Column("size", "calls.col.size", 9, "right"),
    Column("state", "calls.col.state", 10),
    Column("kept", "calls.col.kept", 11),
)


def elapsed(call: Call, now: datetime) -> str:
    """The length of a call; while it is being recorded, the time since it started."""
    if call.state == CallState.RECORDING.value:
        return fmt.duration(max(0.0, (now - call.started_at).total_seconds()))
    return fmt.duration(call.duration_s)


def default_filter() -> CallFilter:
    return CallFilter()


class CallList(VirtualTable):
    """The index as a virtual list of calls."""

    def __init__(self) -> None:
        super().__init__(id="call-list")
        self.filter = default_filter()
        self.revealed: int | None = None  # id of the call whose number is shown in full
        self.marked: set[int] = set()  # calls picked for an export instruction (m, then i)
        self.exact = False  # row_count is the real count (else: rows known so far + 1)
        self._blocks: OrderedDict[int, list[Call]] = OrderedDict()
        self._loading: set[int] = set()
        self._generation = 0
        self._ticket = 0
        self._counted_at = -LIVE_COUNT_EVERY

    # -- rows --------------------------------------------------------------------------------

    def columns(self, width: int) -> Sequence[Column]:
        return WIDE_COLUMNS if width >= WIDE else NARROW_COLUMNS

    def empty_text(self) -> str:
        return t("calls.empty")

    def call_at(self, index: int) -> Call | None:
        rows = self._blocks.get(index // BLOCK)
        if rows is None or index % BLOCK >= len(rows):
            return None
        return rows[index % BLOCK]

    @property
    def selected(self) -> Call | None:
        return self.call_at(self.cursor) if self.row_count else None

    def row_cells(self, index: int) -> Sequence[Cell] | None:
        call = self.call_at(index)
        if call is None:
            return None
        self._blocks.move_to_end(index // BLOCK)
        return self.cells(call, wide=self.size.width >= WIDE)

    def cells(self, call: Call, *, wide: bool) -> list[Cell]:
        app = host(self)
        now = app.ws.clock.now()
        started = call.started_at
        length = elapsed(call, now)
        expired = is_expired(call.raw_retention_until, now, app.ws.config.raw_grace_days, app.ws.clock.tz)
        kept_style = "yellow" if expired and call.state in (CallState.RECORDING, CallState.COMPLETE) else ""
        other = fmt.number(call.other_number, masked=call.id != self.revealed, caller=call.caller_id)
        mark = "✓" if call.id in self.marked else ""  # after the time (its column has room)
        cells: list[Cell] = [
            (started.strftime("%Y-%m-%d %H:%M:%S" if wide else "%m-%d %H:%M") + mark, "bold" if mark else ""),
            (length, ""),
            (fmt.call_type(call.type), ""),
            (fmt.number(call.city_number), ""),
            (other, "bold" if call.id == self.revealed else ""),
            (fmt.call_state(call.state), STATE_STYLE.get(call.state, "")),
            (call.raw_retention_until.isoformat(), kept_style),
        ]
        if wide:
            cells.insert(0, (str(call.id), "dim"))
            cells.insert(6, (fmt.size(call.size), ""))
        return cells

    # -- loading -----------------------------------------------------------------------------

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._read_ahead()

    def _read_ahead(self) -> None:
        """Load the page after (and before) the one on screen, so that paging finds it ready."""
        if not self.row_count or not self._blocks:
            return
        top, rows = self.first_visible, self.rows_visible
        first, last = max(0, top - rows), min(self.row_count - 1, top + 2 * rows)
        if any(self.call_at(i) is None for i in (first, last)):
            self.request_rows(first, last)

    def request_rows(self, first: int, last: int) -> None:
        for block in range(first // BLOCK, last // BLOCK + 1):
            if block not in self._blocks and block not in self._loading:
                self._loading.add(block)
                self.load_block(self._generation, block)

    @work(group="blocks")
    async def load_block(self, generation: int, block: int) -> None:
        try:
            rows = await host(self).ws.calls.page(self.filter, limit=BLOCK, offset=block * BLOCK)
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        finally:
            self._loading.discard(block)
        if generation != self._generation:
            return
        self._store(block, rows)
        end = block * BLOCK + len(rows)
        if len(rows) < BLOCK:
            if not self.exact or end < self.row_count:
                self.exact = True
                self.set_row_count(end)
        elif not self.exact and end >= self.row_count:
            self.set_row_count(end + 1)
        self.refresh()
        self._announce()

    def _store(self, block: int, rows: list[Call]) -> None:
        self._blocks[block] = rows
        self._blocks.move_to_end(block)
        while len(self._blocks) > MAX_BLOCKS:
            self._blocks.popitem(last=False)

    def set_filter(self, f: CallFilter) -> None:
        if f == self.filter:
            return
        self.filter = f
        self.revealed = None
        self.reload(keep_place=False)

    @work(exclusive=True, group="reload")
    async def reload(self, keep_place: bool = True) -> None:
        """Fetch the rows around the view again (and the count); with keep_place the cursor
        stays on the call it was on, wherever that call now is."""
        self._ticket += 1
        ticket = self._ticket
        f = self.filter
        top = self.first_visible if keep_place else 0
        start = max(0, (top - BLOCK) // BLOCK * BLOCK) if keep_place else 0
        span = 3 * BLOCK if keep_place else BLOCK
        try:
            rows = await host(self).ws.calls.page(f, limit=span, offset=start)
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        if ticket != self._ticket or f != self.filter:
            return
        # the call under the cursor now, not when the fetch began: a key pressed meanwhile stands
        anchor = self.selected if keep_place else None
        self._generation += 1
        self._blocks.clear()
        self._loading.clear()
        for i in range(0, len(rows), BLOCK):
            self._store((start + i) // BLOCK, rows[i : i + BLOCK])
        known_end = start + len(rows)
        if len(rows) < span:
            self.exact = True
            count = known_end
        elif keep_place and self.exact:
            count = max(self.row_count, known_end + 1)  # corrected by the next count
        else:
            self.exact = False
            count = known_end + 1
        shift = 0
        if anchor is not None:
            for i, call in enumerate(rows):
                if call.id == anchor.id:
                    shift = start + i - self.cursor
                    break
        if keep_place and self.exact and shift > 0:
            count = max(count, self.row_count + shift)  # new calls above: seen before the recount
        self.set_row_count(count)
        if keep_place:
            self.shift(shift)
        else:
            self.scroll_to(y=0, animate=False, immediate=True)
            self.set_cursor(0)
        self.refresh()
        self._announce()
        if keep_place:  # a live refresh: recount at most every LIVE_COUNT_EVERY seconds
            since = asyncio.get_running_loop().time() - self._counted_at
            self.count_matches(f, max(0.0, LIVE_COUNT_EVERY - since))
        else:
            self.count_matches(f, COUNT_DELAY)

    @work(exclusive=True, group="count")
    async def count_matches(self, f: CallFilter, delay: float = 0.0) -> None:
        """Count on the side reader; while the operator types, only once the typing pauses
        (a count can take a few hundred ms at a million calls and is not needed per key)."""
        if delay:
            await asyncio.sleep(delay)
        try:
            n = await host(self).side_calls.count(f)
        except CallrecError as exc:
            host(self).say_error(exc)
            return
        if f != self.filter:
            return
        self._counted_at = asyncio.get_running_loop().time()
        self.exact = True
        self.set_row_count(n)
        self._announce()

    def _announce(self) -> None:
        self.post_message(self.CursorMoved(self, self.cursor))


class CallDetail(Static):
    """Everything the index knows about the selected call (never its audio)."""

    def __init__(self) -> None:
        super().__init__(markup=False, id="call-detail")

    def show(
        self,
        call: Call | None,
        *,
        revealed: bool,
        instructions: Sequence[str] = (),
        near: datetime | None = None,
    ) -> None:
        if call is None:
            self.update(plain(t("calls.detail.none"), "dim"))
            return
        app = host(self)
        tz = app.ws.clock.tz
        grace = app.ws.config.raw_grace_days
        out = LabelledLines(LABEL - 1)
        other = fmt.number(call.other_number, masked=not revealed, caller=call.caller_id)
        folder, _, name = call.path.rpartition("/")
        if not revealed:
            name = fmt.mask_digits_in(name, call.other_number)
        room = max(20, (self.size.width or 78) - LABEL - 1)
        shown = name + "  " + t("calls.detail.folder", folder=folder) if folder else name
        if fmt.width_of(shown) > room:
            shown = name
        for i, piece in enumerate(fmt.wrap_cells(shown, room)[:2]):
            if i == 0:
                out.line("calls.detail.file", piece)
            else:
                out.add(Text(" " * LABEL + piece, end=""))
        if call.other_number:
            callerid = fmt.caller_id(call.caller_id)
            if revealed:
                callerid = t("calls.detail.shown", callerid=callerid)
            party = t("calls.detail.other", number=other, callerid=callerid)
        else:
            party = t("calls.detail.other_none", callerid=fmt.caller_id(call.caller_id))
        out.line(
            "calls.detail.parties",
            Text(party, style="bold" if revealed else ""),
            t("calls.detail.city", number=fmt.number(call.city_number)),
            fmt.call_type(call.type),
        )
        started = t("calls.detail.started", at=fmt.moment(call.started_at))
        if near is not None:  # the calls around a typed moment: how far this one is from it
            minutes = signed_minutes(call.started_at - near)
            started += t("calls.detail.from_near", difference=t("when.difference", minutes=minutes))
        out.line(
            "calls.detail.recording",
            started,
            t("calls.detail.length", length=elapsed(call, app.ws.clock.now())),
            t("calls.detail.size", size=f"{call.size:,}"),
            plain(call.fmt),
        )
        out.line("calls.detail.sha256", call.sha256 or t("calls.detail.no_hash"))
        deletable = deletable_from(call.raw_retention_until, tz, grace)
        kept = t(
            "calls.detail.kept",
            date=call.raw_retention_until.isoformat(),
            deletable=fmt.moment(deletable, seconds=False),
        )
        out.line(
            "calls.detail.retention",
            kept,
            Text(fmt.call_state(call.state), style=STATE_STYLE.get(call.state, "")),
        )
        if instructions:
            out.line("calls.detail.instructions", t("calls.detail.named_by", numbers=", ".join(instructions)))
        self.update(out.text())


class CallsView(DutyKeys, Vertical):
    DEFAULT_CSS = """
    #call-filter {
        height: 1;
        margin: 1 0 0 0;
    }

    #call-filter Input {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
        margin-right: 1;
    }

    #call-filter Input:focus {
        background: $accent 30%;
    }

    #call-filter Input.invalid {
        background: $error 40%;
    }

    #f-number {
        width: 1fr;
        min-width: 14;
    }

    #f-from, #f-to {
        width: 13;
    }

    .filter-sep {
        width: 2;
        margin-right: 1;
    }

    #call-filter Select {
        width: 16;
        margin-right: 1;
    }

    #call-filter SelectCurrent {
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }

    #call-filter Select:focus > SelectCurrent {
        background: $accent 30%;
    }

    #call-filter Select > SelectOverlay {
        width: 24;
    }

    #call-summary {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }

    #call-list {
        height: 1fr;
    }

    #call-detail {
        height: auto;
        max-height: 8;
        border-top: solid $accent;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: handled as the key arrives, so the digits typed (or pasted) right after it
        # land in the search field rather than in the list's queue.
        Binding("slash", "search", "key.search", priority=True),
        # m and i (export instruction) are the manager's: shown to the manager only, early enough
        # to fit 80 columns; pressed by the operator they say why not (screens/duty_keys.py).
        Binding("m", "mark", "key.mark"),
        Binding("i", "issue", "key.issue"),
        Binding("r", "reveal", "key.reveal"),
        # h asks for the manager's PIN whoever is signed in (the manager at the operator's console).
        Binding("h", "hold", "key.hold"),
        Binding("t", "today", "key.today"),
        Binding("c", "clear", "key.clear"),
        Binding("d", "toggle_detail", "key.detail"),
        *refusals(("m", "mark"), ("i", "issue")),
        Binding("escape", "to_list", show=False),
    ]
    DUTIES: ClassVar[dict[str, Duty]] = {"mark": Duty.ISSUE_INSTRUCTION, "issue": Duty.ISSUE_INSTRUCTION}

    def compose(self) -> ComposeResult:
        types = [(fmt.call_type(c.value), c.value) for c in CallType]
        states = [(t(f"calls.filter.state.{k}"), k) for k in STATE_CHOICES]
        with Horizontal(id="call-filter"):
            yield Field(
                id="f-number",
                placeholder=t("calls.filter.number"),
                restrict=r"[0-9０-９+\-－ー ()]*",
                max_length=20,
            )
            yield Field(id="f-from", placeholder=t("calls.filter.from"), max_length=24)
            yield Static("〜", classes="filter-sep")
            yield Field(id="f-to", placeholder=t("calls.filter.to"), max_length=12)
            yield Select(types, id="f-type", prompt=t("calls.filter.type_all"), allow_blank=True)
            yield Select(states, id="f-state", value="all", allow_blank=False)
        yield Static("", id="call-summary", markup=False)
        yield CallList()
        yield CallDetail()

    @property
    def list(self) -> CallList:
        return self.query_one(CallList)

    def on_mount(self) -> None:
        host(self).data_changed.subscribe(self, self._data_changed)
        host(self).session_changed.subscribe(self, self._session_changed)
        self._loaded = False
        if host(self).session is not None:
            self._first_load()

    def _first_load(self) -> None:
        """Nothing is read before the first unlock (the screen may be built behind the lock)."""
        self._loaded = True
        self.list.reload(keep_place=False)

    def focus_default(self) -> None:
        focus_now(self.list)

    def _data_changed(self, _version: int) -> None:
        if self._loaded:
            self.list.reload(keep_place=True)

    def _session_changed(self, session: object) -> None:
        self.refresh_bindings()  # m and i are for the manager only
        if session is not None and not self._loaded:
            self._first_load()
        if self.list.revealed is not None:
            self.list.revealed = None
            self.list.refresh()
            self._show_detail()

    # -- filter ------------------------------------------------------------------------------

    def _read_filter(self) -> CallFilter | None:
        today = host(self).ws.clock.now().date()
        f = self.list.filter
        from_field, to_field = self.query_one("#f-from", Input), self.query_one("#f-to", Input)
        start: date | datetime | None = None
        end: date | None = None
        bad = False
        try:
            start = parse_from(from_field.value, today)
            from_field.remove_class("invalid")
        except BadDate:
            from_field.add_class("invalid")
            bad = True
        near = start if isinstance(start, datetime) else None
        try:
            end = parse_day(to_field.value, today)
            if near is not None and end is not None:  # around a moment: no end to it
                raise BadDate(to_field.value)
            to_field.remove_class("invalid")
        except BadDate:
            to_field.add_class("invalid")
            bad = True
        if bad:
            return None
        type_value = self.query_one("#f-type", Select).value
        state_value = self.query_one("#f-state", Select).value
        return replace(
            f,
            number=self.query_one("#f-number", Input).value,
            date_from=None if near is not None else start,
            date_to=end,
            near=near,
            types=(str(type_value),) if isinstance(type_value, str) else (),
            states=STATE_CHOICES.get(str(state_value), ()),
        )

    def _apply_filter(self) -> None:
        f = self._read_filter()
        if f is not None:
            self.list.set_filter(f)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply_filter()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._apply_filter()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        focus_now(self.list)

    def action_search(self) -> None:
        focused = self.screen.focused
        if isinstance(focused, Input) and focused.id in ("f-from", "f-to"):
            # A date being typed (2026/11/24): the field gets the key behind those before it.
            focused.post_message(events.Key("slash", "/"))
            return
        focus_now(self.query_one("#f-number", Input))

    def action_to_list(self) -> None:
        focus_now(self.list)

    def action_today(self) -> None:
        today = host(self).ws.clock.now().date().isoformat()
        self.query_one("#f-from", Input).value = today
        self.query_one("#f-to", Input).value = today
        focus_now(self.list)

    def action_clear(self) -> None:
        for field_id in ("#f-number", "#f-from", "#f-to"):
            self.query_one(field_id, Input).value = ""
        self.query_one("#f-type", Select).clear()
        self.query_one("#f-state", Select).value = "all"
        focus_now(self.list)

    def action_toggle_detail(self) -> None:
        detail = self.query_one(CallDetail)
        detail.display = not detail.display

    # -- summary and detail -----------------------------------------------------------------

    @on(VirtualTable.CursorMoved)
    def _moved(self, event: VirtualTable.CursorMoved) -> None:
        lst = self.list
        call = lst.selected
        if lst.revealed is not None and (call is None or call.id != lst.revealed):
            lst.revealed = None
            lst.refresh()
        self._summarise()
        self._show_detail()

    def _summarise(self) -> None:
        lst = self.list
        if lst.row_count == 0 and lst.exact:
            text = t("calls.summary.none")
        else:
            total = (
                fmt.count(lst.row_count)
                if lst.exact
                else t("calls.summary.counting", known=fmt.count(lst.row_count - 1))
            )
            text = t("calls.summary.position", index=fmt.count(lst.cursor + 1), total=total)
        if lst.filter.near is not None:  # typed a moment: the calls around it, closest first
            text += "   " + t(
                "calls.summary.near",
                at=fmt.moment(lst.filter.near, seconds=False),
                minutes=round(lst.filter.within.total_seconds() / 60),
            )
        if lst.marked:  # calls picked for an export instruction (m), until it is issued (i)
            text += "   " + t("export.issue.marked", n=fmt.count(len(lst.marked)))
        self.query_one("#call-summary", Static).update(plain(text))

    @work(exclusive=True, group="detail")
    async def _show_detail(self) -> None:
        lst = self.list
        call = lst.selected
        detail = self.query_one(CallDetail)
        if call is None:
            detail.show(None, revealed=False)
            return
        try:
            named = await host(self).ws.instructions.protecting([call.id])
        except CallrecError:
            named = {}
        if lst.selected is not call:
            return
        numbers = named.get(call.id, [])
        detail.show(call, revealed=call.id == lst.revealed, instructions=numbers, near=lst.filter.near)

    # -- picking calls for an export instruction (screens/exports/actions.py) -----------------

    def action_mark(self) -> None:
        call = self.list.selected
        if call is None:
            return
        self.list.marked ^= {call.id}
        self.list.refresh()
        self.list.action_cursor(1)
        self._summarise()

    @work(exclusive=True, group="issue")
    async def action_issue(self) -> None:
        lst = self.list
        picked = sorted(lst.marked) or ([lst.selected.id] if lst.selected else [])
        if not picked:
            host(self).say(t("export.issue.nothing_marked"))
            return
        if await export_actions.issue(host(self), picked):
            lst.marked.clear()
            lst.refresh()
            self._summarise()

    # -- hold ---------------------------------------------------------------------------------

    @work(exclusive=True, group="hold")
    async def action_hold(self) -> None:
        call = self.list.selected
        if call is None:
            host(self).say(t("calls.hold.nothing"))
            return
        if await holding.hold(host(self), call):
            self._show_detail()

    # -- reveal ------------------------------------------------------------------------------

    def action_reveal(self) -> None:
        call = self.list.selected
        if call is None or not call.other_number:
            host(self).say(t("calls.reveal.nothing"))
            return
        self.reveal(call)

    @work(exclusive=True, group="reveal")
    async def reveal(self, call: Call) -> None:
        app = host(self)
        which = (
            f"{call.started_at:%Y-%m-%d %H:%M}  {fmt.call_type(call.type)}  "
            f"{fmt.number(call.other_number, masked=True)}"
        )
        actor = await app.ask_pin(Duty.REVEAL_NUMBER, t("calls.reveal.purpose", call=which))
        if actor is None:
            return
        try:
            await app.record_reveal(actor, call)
        except CallrecError as exc:
            app.say(tr_error(exc), severity="error")
            return
        lst = self.list
        lst.revealed = call.id
        if lst.selected is None or lst.selected.id != call.id:
            lst.revealed = None  # the cursor moved away meanwhile: nothing to show
        lst.refresh()
        self._show_detail()


VIEW = View(key="calls", title_key="view.calls", factory=CallsView, order=10)
