"""Helpers for the console's Pilot tests (imported by tests/test_console*.py; holds no tests)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from textual.pilot import Pilot

from demo_data.calls import random_call
from services.clock import JST
from services.layouts import FreePBXLayout
from services.retention import raw_kept_through
from services.workspace import Workspace

if TYPE_CHECKING:
    from console.app import CallrecApp


def screen_text(app: CallrecApp) -> str:
    """What the top screen shows, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def make_app(ws: Workspace, **options: Any) -> CallrecApp:
    from console.app import CallrecApp

    options.setdefault("kiosk", False)
    options.setdefault("start_indexer", False)
    options.setdefault("poll_seconds", 0.1)
    return CallrecApp(ws, **options)


async def until(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 5.0,
                what: str = "condition") -> None:
    """Let the app run until `condition()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shown = screen_text(pilot.app)  # type: ignore[arg-type]
            raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{shown}")
        await pilot.pause(0.02)


def call_list(app: CallrecApp) -> Any:
    """The calls list of the main screen (built behind the lock)."""
    from screens.calls_view import CallList
    from screens.main import MainScreen

    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return main.query_one(CallList)


async def until_exit(pilot: Pilot[Any], timeout: float = 5.0) -> None:
    """Wait for the app to end (Pilot's own waits never return once it has)."""
    deadline = time.monotonic() + timeout
    while pilot.app.return_code is None:
        if time.monotonic() > deadline:
            raise AssertionError("the app did not exit")
        await asyncio.sleep(0.02)


def burst(app: CallrecApp, keys: str) -> None:
    """Characters arriving in one read from the terminal (pasted, or typed faster than the app
    handles them): every key is queued before the first is handled."""
    from textual import events

    for ch in keys:
        event = events.Key("slash" if ch == "/" else ch, ch)
        event.set_sender(app)
        app._driver.send_message(event)


async def press_only(pilot: Pilot[Any], *keys: str) -> None:
    """Press keys without Pilot's wait for the screen (which never returns once the app exits)."""
    await pilot.app._press_keys(keys)


async def unlock(pilot: Pilot[Any], pin: str = "2222") -> None:
    app: CallrecApp = pilot.app  # type: ignore[assignment]
    await pilot.press(*pin, "enter")
    await until(pilot, lambda: app.session is not None and app.screen.id == "main", what="unlock")
    await settle(pilot)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for the calls list to finish loading (first page, count, detail)."""
    app: CallrecApp = pilot.app  # type: ignore[assignment]
    lst = call_list(app)
    await until(pilot, lambda: lst.exact and not lst._loading
                and not any(w.group in ("reload", "count") and not w.is_finished for w in app.workers
                            if w.node is lst),
                what="calls list loaded")
    await pilot.pause(0.05)


async def wait_for_lock(pilot: Pilot[Any]) -> None:
    app: CallrecApp = pilot.app  # type: ignore[assignment]
    await until(pilot, lambda: app.session is None and app.screen.id == "lock"
                and "PIN" in screen_text(app), what="lock screen")


INSERT_CALL = (
    "INSERT INTO calls (path, dir, started_at, type, city_number, other_number, caller_id, numbers,"
    " uniqueid, fmt, size, mtime_ns, duration_s, sha256, state, raw_retention_until, indexed_at,"
    " completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def synthetic_rows(count: int, *, seed: int = 0, end: datetime | None = None, days: int = 90,
                   states: tuple[str, ...] = ("complete",)) -> Iterator[tuple[Any, ...]]:
    """Rows for the calls table with the indexer's column set (the names parsed by the real
    layout), spread over the `days` before `end`."""
    rng = random.Random(seed)
    layout = FreePBXLayout(JST)
    end = end or datetime.now(JST)
    start = end - timedelta(days=days)
    span = int((end - start).total_seconds())
    base = int(start.timestamp())
    for seq in range(count):
        call = random_call(rng)
        epoch = base + rng.randrange(span)
        when = datetime.fromtimestamp(epoch, JST)
        name = f"{call.type}-{call.dest}-{call.source}-{when:%Y%m%d-%H%M%S}-{epoch}.{seq}.wav"
        parsed = layout.parse(name)
        assert parsed is not None, name
        rel_dir = f"{when:%Y/%m/%d}"
        numbers = " ".join(n for n in (parsed.city_number, parsed.other_number) if n)
        size = 2048 + rng.randrange(200000) * 2
        state = states[seq % len(states)]
        yield (
            f"{rel_dir}/{name}", rel_dir, epoch, parsed.type, parsed.city_number,
            parsed.other_number, parsed.caller_id.value, numbers, parsed.uniqueid, parsed.fmt,
            size, epoch * 10**9, (size - 44) / 16000, f"{rng.getrandbits(256):064x}", state,
            raw_kept_through(parsed.started_at, JST).isoformat(), epoch, epoch,
        )


async def insert_synthetic(ws: Workspace, count: int, **options: Any) -> None:
    await ws.db.executemany(INSERT_CALL, list(synthetic_rows(count, **options)))


