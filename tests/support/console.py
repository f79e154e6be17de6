"""Helpers for the console's Pilot tests (imported by tests/test_console*.py; holds no tests)."""

from __future__ import annotations

import asyncio
import fcntl
import html
import inspect
import os
import pty
import random
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyte
from rich.cells import cell_len
from textual.pilot import Pilot

from demo_data.calls import random_call
from services.core.clock import JST
from services.indexing.layouts import FreePBXLayout
from services.retention.rules import raw_kept_through
from services.workspace import Workspace
from tests.support.workspace import ROOT

if TYPE_CHECKING:
    from console.app import CallrecApp
    from screens.retention.view import RetentionView


_SVG_TEXT = re.compile(
    r'<text [^>]*?x="([0-9.]+)"[^>]*?clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>', re.S
)


def screen_text(app: CallrecApp) -> str:
    """What the top screen shows, as plain text lines (read back from Textual's public screenshot)."""
    svg = app.export_screenshot()
    width, height = app.size
    cell = float(re.search(r'<rect [^>]*?x="0" y="[0-9.]+" width="([0-9.]+)"', svg)[1]) / width  # type: ignore[index]  # the first clip rect spans the screen
    rows: list[list[tuple[int, str]]] = [[] for _ in range(height)]
    for x, line, text in _SVG_TEXT.findall(svg):
        rows[int(line)].append((round(float(x) / cell), html.unescape(text).replace("\xa0", " ")))
    lines = []
    for row in rows:
        out, col = "", 0
        for start, text in sorted(row):
            out += " " * max(0, start - col) + text
            col = start + cell_len(text) if start >= col else col + cell_len(text)
        lines.append(out)
    return "\n".join(lines)


class Said:
    """Every one-line message the console showed (toasts expire; this keeps them all)."""

    def __init__(self, app: Any) -> None:
        self.messages: list[tuple[str, str]] = []
        original = app.notify

        def notify(message: str, *args: Any, severity: str = "information", **kw: Any) -> Any:
            self.messages.append((severity, message))
            return original(message, *args, severity=severity, **kw)

        app.notify = notify

    def __contains__(self, needle: str) -> bool:
        return any(needle in m for _, m in self.messages)

    def line(self, needle: str) -> str:
        """The one message holding `needle`: a single line, in the user's words, no traceback."""
        found = [m for _, m in self.messages if needle in m]
        assert found, f"{needle!r} never said; said: {self.messages}"
        line = found[-1]
        assert "\n" not in line and "Traceback" not in line and "database is locked" not in line, line
        return line

    def errors(self) -> list[str]:
        return [m for s, m in self.messages if s == "error"]


_SAID: weakref.WeakKeyDictionary[Any, Said] = weakref.WeakKeyDictionary()


def said(app: Any) -> Said:
    """Every one-line message an app from make_app has shown so far."""
    return _SAID[app]


def make_app(ws: Workspace, **options: Any) -> CallrecApp:
    from console.app import CallrecApp

    options.setdefault("kiosk", False)
    options.setdefault("start_indexer", False)
    options.setdefault("poll_seconds", 0.1)
    app = CallrecApp(ws, **options)
    _SAID[app] = Said(app)
    return app


async def until(
    pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 20.0, what: str = "condition"
) -> None:
    """Let the app run until `condition()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shown = screen_text(pilot.app)  # type: ignore[arg-type]
            raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{shown}")
        await pilot.pause(0.02)


def call_list(app: CallrecApp) -> Any:
    """The calls list of the main screen (built behind the lock)."""
    from screens.calls.view import CallList
    from screens.main import MainScreen

    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return main.query_one(CallList)


async def until_exit(pilot: Pilot[Any], timeout: float = 20.0) -> None:
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
        app.post_message(events.Key("slash" if ch == "/" else ch, ch))


async def press_only(pilot: Pilot[Any], *keys: str) -> None:
    """Press keys without Pilot's wait for the screen (which never returns once the app exits):
    each key is posted as the terminal would send it; the app handles them in order."""
    from textual import events

    for key in keys:
        pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))


async def unlock(pilot: Pilot[Any], pin: str = "2222") -> None:
    app: CallrecApp = pilot.app  # type: ignore[assignment]
    await pilot.press(*pin, "enter")
    await until(pilot, lambda: app.session is not None and app.screen.id == "main", what="unlock")
    await settle(pilot)


async def unlock_as_manager(pilot: Pilot[Any]) -> None:
    await pilot.press("tab")  # the lock screen offers the operator first
    await unlock(pilot, "1111")


def footer(app: CallrecApp) -> str:
    """The key bar: the last line of the screen."""
    return screen_text(app).rstrip("\n").rsplit("\n", 1)[-1]


async def show(pilot: Pilot[Any], key: str) -> None:
    """Switch the main screen to the view named `key`."""
    from screens.views import views

    index = [v.key for v in views()].index(key)
    await in_app(pilot, lambda: pilot.app.screen.show_view(index))  # type: ignore[attr-defined]
    await pilot.pause(0.1)


async def in_app(pilot: Pilot[Any], act: Callable[[], Any]) -> Any:
    """Run `act` in the app's own task, as its handlers run (a test may run two apps in one task,
    so acting from the test's task would act in the other app's context), and wait for it."""
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def run() -> None:
        try:
            result = act()
            done.set_result(await result if inspect.isawaitable(result) else result)
        except Exception as exc:
            done.set_exception(exc)

    pilot.app.call_later(run)
    return await asyncio.wait_for(done, 30)


async def show_instructions(pilot: Pilot[Any]) -> Any:
    """The instructions view, shown with its first instruction selected; returns its list."""
    from screens.instructions.view import InstructionList

    await show(pilot, "instructions")
    lst = pilot.app.screen.query_one(InstructionList)
    await until(pilot, lambda: lst.selected is not None, what="an instruction selected")
    return lst


async def answer(pilot: Pilot[Any], kind: type, *keys: str) -> None:
    """Wait for a modal of type `kind`, then press `keys` in it."""
    await until(pilot, lambda: isinstance(pilot.app.screen, kind), what=kind.__name__)
    await pilot.press(*keys)


async def pin(pilot: Pilot[Any], value: str) -> None:
    from screens.widgets.modals import PinPrompt

    await answer(pilot, PinPrompt, *value, "enter")


async def confirm_typed(pilot: Pilot[Any], word: str) -> None:
    from screens.widgets.modals import ConfirmModal

    await answer(pilot, ConfirmModal, *word, "enter")


async def fill(pilot: Pilot[Any], **values: str) -> None:
    """Wait for the fields form, set its fields (by key) and save it."""
    from textual.widgets import Input, Select

    from screens.exports.dialogs import FieldsForm

    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="form")

    def set_fields() -> None:
        for key, value in values.items():
            widget = app.screen.query_one(f"#ff-{key}")
            assert isinstance(widget, Input | Select)
            widget.value = value

    await in_app(pilot, set_fields)
    await pilot.pause(0.05)
    await pilot.press("ctrl+s")


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for the calls list to finish loading (first page, count, detail)."""
    app: CallrecApp = pilot.app  # type: ignore[assignment]
    lst = call_list(app)
    await until(
        pilot,
        lambda: (
            lst.exact
            and not lst._loading
            and not any(
                w.group in ("reload", "count") and not w.is_finished for w in app.workers if w.node is lst
            )
        ),
        what="calls list loaded",
    )
    await pilot.pause(0.05)


async def wait_for_lock(pilot: Pilot[Any]) -> None:
    app: CallrecApp = pilot.app  # type: ignore[assignment]
    await until(
        pilot,
        lambda: app.session is None and app.screen.id == "lock" and "PIN" in screen_text(app),
        what="lock screen",
    )


INSERT_CALL = (
    "INSERT INTO calls (path, dir, started_at, type, city_number, other_number, caller_id, numbers,"
    " uniqueid, fmt, size, mtime_ns, duration_s, sha256, state, raw_retention_until, indexed_at,"
    " completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def synthetic_rows(
    count: int,
    *,
    seed: int = 0,
    end: datetime | None = None,
    days: int = 90,
    states: tuple[str, ...] = ("complete",),
) -> Iterator[tuple[Any, ...]]:
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
            f"{rel_dir}/{name}",
            rel_dir,
            epoch,
            parsed.type,
            parsed.city_number,
            parsed.other_number,
            parsed.caller_id.value,
            numbers,
            parsed.uniqueid,
            parsed.fmt,
            size,
            epoch * 10**9,
            (size - 44) / 16000,
            f"{rng.getrandbits(256):064x}",
            state,
            raw_kept_through(when, JST).isoformat(),
            epoch,
            epoch,
        )


async def insert_synthetic(ws: Workspace, count: int, **options: Any) -> None:
    await ws.db.executemany(INSERT_CALL, list(synthetic_rows(count, **options)))


# -- the console as a process in a pseudo-terminal ----------------------------------------------


class Terminal:
    """`callrec` in a pseudo-terminal of 80x24, as on the floor terminal or over SSH."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        prefix: tuple[str, ...] = (),
        size: tuple[int, int] = (80, 24),
    ) -> None:
        """prefix: a command the console runs under (setpriv, to drop root's file privileges)."""
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "console.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            close_fds=True,
            start_new_session=True,
            env={
                **os.environ,
                "TERM": "xterm-256color",
                "LANG": "ja_JP.UTF-8",
                "PYTHONFAULTHANDLER": "1",
                # the pseudo-terminal's own size, not one a test runner left in the environment
                "COLUMNS": str(size[0]),
                "LINES": str(size[1]),
                **(env or {}),
            },
        )
        os.close(slave)
        self.output = b""
        # What a person would see: Textual redraws only what changed, so a word on the screen may
        # never appear whole in the byte stream; a terminal emulator puts the pieces together.
        self.screen = pyte.Screen(*size)
        self._stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        # A wide character's second cell holds "" (pyte's own `display` trips on a half-overwritten one).
        screen = self.screen
        return "\n".join(
            "".join(screen.buffer[y][x].data for x in range(screen.columns)) for y in range(screen.lines)
        )

    def read_until(self, needle: str, timeout: float = 20) -> None:
        """Wait until `needle` is on the screen (or was written whole, e.g. after the console ended)."""
        deadline = time.monotonic() + timeout
        data = needle.encode()
        while data not in self.output and needle not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared; the screen:\n{self.text()}")
            self._read(0.05)

    def _read(self, wait: float) -> None:
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                time.sleep(wait)
                return
            self.output += chunk
            self._stream.feed(chunk)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read(0.05)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def state(self) -> str:
        """R/S running or sleeping, T stopped, Z exited."""
        return Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    def wait(self, timeout: float) -> int:
        """The exit status; on a timeout, the stacks of every thread (faulthandler) in the error."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                os.kill(self.proc.pid, signal.SIGABRT)
                self.drain(2)
                text = self.output.decode("utf-8", "replace")
                raise AssertionError("no exit; " + text[text.find("Fatal Python error") :][-8000:])
            self.drain(0.1)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def selected_state(app: Any, number: str) -> str | None:
    from screens.instructions.view import InstructionList

    chosen = app.screen.query_one(InstructionList).selected
    return chosen.state if chosen is not None and chosen.number == number else None


async def show_retention(pilot: Pilot[Any]) -> RetentionView:
    from screens.retention.view import RetentionView

    """The retention view, shown once its preview has loaded."""
    await pilot.press("4")
    await until(pilot, lambda: pilot.app.screen.query(RetentionView))
    view = pilot.app.screen.query_one(RetentionView)
    await until(pilot, lambda: view.preview is not None, what="the preview")
    return view


async def open_view(pilot, app) -> RetentionView:  # type: ignore[no-untyped-def]
    await unlock(pilot)
    return await show_retention(pilot)
