"""The console: the Textual app, its session (lock, unlock, idle lock, quit), live data, and `run`.

What other areas use from here (screens reach it as `host(self)`, screens/host.py ConsoleHost):
- `app.ws` the open Workspace; `app.side` / `app.side_calls` a second, read-only connection for
  slow counts; `app.session` (role, since) or None while locked.
- `app.data_changed` (Signal, data_version) fires within half a second of any commit to the
  database (this console's indexer, another console, the CLI); `app.session_changed` (Signal).
- `await app.ask_pin(duty, purpose, role=None)` -> Actor | None, `await app.confirm(title, lines,
  typed=None, danger=False)` -> bool, `await app.run_job(title, work, unit=...)`: call these from a
  worker. `app.say(text)`, `app.say_error(exc)` for one-line messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerFailed

from console import i18n, logs
from console import session as session_mod
from console.i18n import t
from console.session import Session
from screens.help import HelpScreen
from screens.host import ConsoleHost
from screens.lock import LockScreen
from screens.main import MainScreen
from screens.widgets.modals import ConfirmModal, DismissOnLock, PinPrompt
from screens.widgets.progress import Job, ProgressModal
from services import status
from services.access import Actor, Duty, Role, may
from services.calls import Call, CallStore
from services.core import CallrecError, Clock, Config, Database, visible
from services.core import config as config_mod
from services.workspace import Workspace

T = TypeVar("T")
_log = logging.getLogger("callrec.console")
Recorder = Callable[[asyncio.Event], Awaitable[None]]

HANGUP_EXIT = 129
STOP_GRACE_SECONDS = 3.0
BACKGROUND_AFTER_SECONDS = 0.3
RECOVER_EVERY_SECONDS = 10.0


class CallrecApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "callrec"
    # No command palette: it would offer Textual's own commands (theme, screenshot, quit).
    ENABLE_COMMAND_PALETTE = False
    COMMANDS: ClassVar[set[Any]] = set()

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "lock", "key.lock", priority=True),
        Binding("question_mark,f1", "help", "key.help"),
        Binding("ctrl+q", "quit", "key.quit", priority=True),
        # Never a shell, never a signal: these keys only say how to quit.
        Binding("ctrl+c", "help_quit", show=False, system=True),
        Binding("ctrl+z,ctrl+backslash", "help_quit", show=False, priority=True),
    ]

    def __init__(
        self,
        ws: Workspace | Config,
        *,
        clock: Clock | None = None,
        lang: str = i18n.DEFAULT_LANGUAGE,
        demo: bool = False,
        kiosk: bool | None = None,
        idle_lock_seconds: float | None = None,
        start_indexer: bool = True,
        recorder: Recorder | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        i18n.use(lang)
        super().__init__()
        # Given a configuration, the app opens (and closes) the workspace in its own event loop.
        self._config = ws if isinstance(ws, Config) else None
        self._fixed_clock = clock
        self.ws: Workspace = ws if isinstance(ws, Workspace) else None  # type: ignore[assignment]  # opened on mount, before any screen
        config = ws if isinstance(ws, Config) else ws.config
        self.lang = lang
        self.demo = demo
        self.kiosk = config.kiosk if kiosk is None else kiosk
        self.idle_lock_seconds = (
            config.idle_lock_minutes * 60 if idle_lock_seconds is None else idle_lock_seconds
        )
        self.start_indexer = start_indexer
        self.recorder = recorder
        self.poll_seconds = poll_seconds
        self.session: Session | None = None
        # The side reader and the store over it, opened on mount (slow counts go there).
        self.side: Database = None  # type: ignore[assignment]  # opened on mount, before any screen
        self.side_calls: CallStore = None  # type: ignore[assignment]  # opened on mount
        self.data_changed: Signal[int] = Signal(self, "data-changed")
        self.session_changed: Signal[Session | None] = Signal(self, "session-changed")
        self.jobs: list[Job] = []
        self.stop = asyncio.Event()
        self._last_input = time.monotonic()
        self._version: int | None = None
        self._pending_change = False
        self._quitting = False
        self._hung_up = False
        self._signals: list[int] = []
        self._watch_errors = 0
        self._watch_problem: tuple[str, datetime | None] | None = None  # (said, last scan then)
        self._watch_warning = ""
        self.animation_level = "none"

    # -- start and stop ----------------------------------------------------------------------

    async def on_mount(self) -> None:
        self.animation_level = "none"
        if self._config is not None:
            self.ws = await Workspace.open(self._config, clock=self._fixed_clock)
        try:
            self.side = await status.open_side_reader(self.ws.config.database)
        except CallrecError as exc:
            self.side = self.ws.db  # counts then share the main reader: slower, still right
            self.say_error(exc)
        self.side_calls = CallStore(self.side, self.ws.clock.tz)
        self._install_signals()
        # The main screen is built now, behind the lock, so that unlocking only has to load the
        # first page; its views read nothing until there is a session.
        await self.push_screen(MainScreen())
        await self.push_screen(LockScreen())
        # Everything built so far lives as long as the app: keep it out of the collector's
        # full passes, which otherwise stall the screen for tens of ms while paging.
        gc.freeze()
        self.set_interval(self.poll_seconds, self._poll)
        self.set_interval(1.0, self._check_idle)
        # The indexer (whose first scan of a big spool starts worker processes) begins once the
        # lock screen is on the terminal, not before: the first frame never waits for it.
        self.call_after_refresh(self.set_timer, BACKGROUND_AFTER_SECONDS, self._start_background)

    def _start_background(self) -> None:
        if self._quitting:
            return
        self._recover()
        self.set_interval(RECOVER_EVERY_SECONDS, self._recover)
        if self.start_indexer:
            self.run_worker(self._index(), name="indexer", group="indexer", exit_on_error=False)
        if self.recorder is not None:
            self.run_worker(self.recorder(self.stop), name="recorder", group="recorder", exit_on_error=False)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        handlers: dict[int, Callable[[], None]] = {
            signal.SIGHUP: self._on_hangup,
            signal.SIGTERM: self._on_hangup,
        }
        if self.kiosk:
            # Raw mode already turns ^C ^Z ^\ into keys; these cover a signal sent anyway.
            handlers.update({sig: _ignore for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP)})
        for sig, handler in handlers.items():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                self._signals.append(sig)

    def _remove_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        self._signals.clear()

    def _recover(self) -> None:
        if not self._quitting:
            # The Worker typed: else mypy solves Textual's WorkType union for Never.
            _: Worker[None] = self.run_worker(
                self.recover_exports, group="recover", exclusive=True, exit_on_error=False
            )

    async def recover_exports(self) -> None:
        """An export whose process died (this console killed, or another's) leaves its instruction
        in progress: clean up and give it back, so that it can be executed again from here."""
        try:
            recovered = await self.ws.exports.recover_interrupted()
        except CallrecError as exc:
            self.say_error(exc)
            return
        except (sqlite3.Error, OSError):
            return  # the next round tries again
        if recovered:
            self.say(t("recover.exports", n=recovered), severity="warning")

    async def _index(self) -> None:
        await self.ws.run_indexer(self.stop, self._indexed)

    def _indexed(self) -> None:
        self.call_later(self._poll)

    async def on_unmount(self) -> None:
        self.stop.set()
        self._remove_signals()
        if self.side is not None and self.side is not self.ws.db:
            await self.side.close()
        if self._config is not None and self.ws is not None:
            await self.ws.close()

    def _on_hangup(self) -> None:
        """SIGHUP (the SSH connection dropped) or SIGTERM: end cleanly. Every action commits in
        its own transaction, so stopping here loses nothing that was committed."""
        if self._hung_up:
            return
        self._hung_up = True
        self.call_later(self.shutdown, HANGUP_EXIT, "hangup", "system")

    async def shutdown(self, code: int, reason: str, by: str) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.stop.set()
        with contextlib.suppress(CallrecError, sqlite3.Error):
            await session_mod.quit_console(self.ws, by, reason)
        workers = [w for w in self.workers if w.group in ("indexer", "recorder")]
        if workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(w.wait() for w in workers), return_exceptions=True),
                    STOP_GRACE_SECONDS,
                )
        self.exit(code, return_code=code)

    def _handle_exception(self, error: Exception) -> None:
        """A worker that met the disk or the database failing (an error its screen did not
        expect) is said in one line, and the console goes on: a locked-down terminal must not
        drop the operator out of it. Anything else is a bug, and ends the app as Textual does."""
        cause = error.error if isinstance(error, WorkerFailed) else None
        if isinstance(cause, CallrecError | sqlite3.Error | OSError) and not self._quitting:
            self.log.error(f"worker failed: {cause!r}")
            if isinstance(cause, CallrecError):
                self.say_error(cause)
            else:
                self.say(t("unexpected.storage", what=str(cause)), severity="error")
            return
        super()._handle_exception(error)

    # -- keys, palette, signals ---------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> list[SystemCommand]:
        return []

    def action_help_quit(self) -> None:
        self.say(t("quit.how_kiosk") if self.kiosk else t("quit.how"))

    def action_suspend_process(self) -> None:
        """Never suspend to a shell."""

    def action_command_palette(self) -> None:
        """No palette (see ENABLE_COMMAND_PALETTE)."""

    async def action_quit(self) -> None:
        if self._quitting:
            return
        if isinstance(self.screen, PinPrompt) and self.screen.duty is Duty.QUIT_KIOSK:
            return  # already asking
        if self.kiosk:
            self._kiosk_quit()
            return
        by = self.session.role.value if self.session else "console"
        await self.shutdown(0, "quit", by)

    @work(exclusive=True, group="quit")
    async def _kiosk_quit(self) -> None:
        actor = await self.push_screen_wait(
            PinPrompt(Duty.QUIT_KIOSK, t("quit.purpose"), roles=[Role.OPERATOR, Role.MANAGER])
        )
        if actor is not None:
            await self.shutdown(0, "kiosk", actor.role.value)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self._last_input = time.monotonic()
        await super().on_event(event)

    # -- lock and unlock ---------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self.session is None

    async def unlock(self, actor: Actor) -> None:
        self.session = await session_mod.unlocked(self.ws, actor)
        self._last_input = time.monotonic()
        if isinstance(self.screen, LockScreen):
            await self.pop_screen()
        if not any(isinstance(s, MainScreen) for s in self.screen_stack):
            await self.push_screen(MainScreen())
        for job in self.jobs:
            if not any(isinstance(s, ProgressModal) and s.job is job for s in self.screen_stack):
                await self.push_screen(ProgressModal(job))
        self.session_changed.publish(self.session)
        if self._pending_change:
            self._pending_change = False
            self.data_changed.publish(self._version or 0)

    async def action_lock(self) -> None:
        await self.lock("key")

    async def lock(self, reason: str) -> None:
        session = self.session
        if session is None:
            return
        self.session = None
        try:  # recorded first: an exit right after the lock must not lose it
            await asyncio.shield(session_mod.locked(self.ws, session, reason))
        except CallrecError as exc:
            self.say_error(exc)
        while isinstance(self.screen, DismissOnLock):
            top = self.screen
            await top.dismiss(top.lock_result)
        await self.push_screen(LockScreen(reason=f"lock.reason.{reason}"))
        self.session_changed.publish(None)

    async def _check_idle(self) -> None:
        if self.session is None or self.jobs or self._quitting:
            return
        if time.monotonic() - self._last_input >= self.idle_lock_seconds:
            await self.lock("idle")

    # -- live data ---------------------------------------------------------------------------

    async def _poll(self) -> None:
        if self._quitting:
            return
        self._check_watch()
        try:
            version = await status.data_version(self.ws.db)
        except (CallrecError, sqlite3.Error, ValueError):
            return
        if version == self._version:
            return
        self._version = version
        if self.session is None:
            self._pending_change = True
            return
        self.data_changed.publish(version)

    def _check_watch(self) -> None:
        """Say once when this console's indexer meets a problem (the spool gone, the database
        unwritable...) and once when a scan has succeeded again; it retries by itself meanwhile."""
        health = self.ws.indexer.health
        if health.errors != self._watch_errors:
            self._watch_errors = health.errors
            if health.problem is None:  # a folder it could not read, say: it goes on watching
                if health.last_error != self._watch_warning:
                    self._watch_warning = health.last_error
                    self.say(t("watch.warning", problem=health.last_error), severity="warning")
                return
            problem = self.error_text(health.problem)
            if self._watch_problem is None or self._watch_problem[0] != problem:
                self._watch_problem = (problem, health.last_scan_at)
                self.say(t("watch.problem", problem=problem), severity="error")
        elif self._watch_problem is not None and health.last_scan_at != self._watch_problem[1]:
            self._watch_problem = None
            self.say(t("watch.resumed"))

    # -- what views use ----------------------------------------------------------------------

    async def ask_pin(
        self, duty: Duty, purpose: str, *, role: Role | None = None, roles: Sequence[Role] | None = None
    ) -> Actor | None:
        """The acting role's PIN (from a worker). role=None: the session's role if it may do
        `duty`, else the role(s) that may (the manager's PIN for a manager's duty on the
        operator's console: the manager at the floor terminal acts as the manager)."""
        if role is None and roles is None and self.session is not None and may(self.session.role, duty):
            role = self.session.role
        return await self.push_screen_wait(PinPrompt(duty, purpose, role=role, roles=roles))

    async def confirm(
        self,
        title: str,
        lines: Sequence[str | Text],
        *,
        action: str | None = None,
        typed: str | None = None,
        danger: bool = False,
    ) -> bool:
        answer: bool | None = await self.push_screen_wait(
            ConfirmModal(title, lines, action=action, typed=typed, danger=danger)
        )
        return bool(answer)

    async def run_job(
        self,
        title: str,
        work_fn: Callable[[Job], Awaitable[T]],
        *,
        unit: str = "bytes",
        cancellable: bool = True,
    ) -> T:
        job = Job(title, unit=unit, cancellable=cancellable)
        self.jobs.append(job)
        if self.session is not None:  # else the unlock shows it
            await self.push_screen(ProgressModal(job))
        try:
            return await work_fn(job)
        finally:
            job.finished = True
            self.jobs.remove(job)

    async def record_reveal(self, actor: Actor, call: Call) -> None:
        await session_mod.number_revealed(self.ws, actor, call)

    @property
    def centre_name(self) -> str:
        centre = self.ws.config.centre
        return centre.name_en if self.lang == "en" and centre.name_en else centre.name

    def error_text(self, exc: CallrecError) -> str:
        return i18n.tr_error(exc)

    def say(self, text: str, *, severity: SeverityLevel = "information") -> None:
        """One line: never markup, and whatever came from outside in it shown escaped."""
        self.notify(visible(text), severity=severity, markup=False)

    def say_error(self, exc: CallrecError) -> None:
        _log.warning("console: %s (%s)", exc.message, exc.code)
        self.say(self.error_text(exc), severity="error")


def _host(app: CallrecApp) -> ConsoleHost:
    """Never called: mypy checks here that the App is what screens/host.py says it is."""
    return app


# -- running it --------------------------------------------------------------------------------


def _ignore() -> None:
    """A signal that must not stop the kiosk console."""


async def run_app(
    cfg: Config, *, lang: str, demo: bool, kiosk: bool, recorder: Recorder | None = None
) -> int:
    ws = await Workspace.open(cfg)
    try:
        app = CallrecApp(ws, lang=lang, demo=demo, kiosk=kiosk, recorder=recorder)
        await app.run_async()
        return int(app.return_code or 0)
    finally:
        await ws.close()


def run(args: argparse.Namespace) -> int:
    """`callrec` with no subcommand: the console (or, with --demo, the demo)."""
    if args.demo:
        from demo_data.workspace import demo_session

        lang = i18n.active().lang  # chosen by the command line (console/cli.py language())

        def announce(path: Path) -> None:
            print(t("demo.preparing", path=path), flush=True)

        with demo_session(Path(args.workspace) if args.workspace else None, announce) as (cfg, recorder):
            logs.setup(cfg, console=True)
            return asyncio.run(run_app(cfg, lang=lang, demo=True, kiosk=False, recorder=recorder))
    if args.workspace:
        raise CallrecError(
            "--workspace is for the demo only (use it with --demo)", code="workspace_without_demo"
        )
    cfg = config_mod.load(config_mod.resolve_path(args.config))
    logs.setup(cfg, console=True)
    lang = i18n.active().lang
    if cfg.kiosk:
        os.environ.pop("TEXTUAL_ALLOW_SIGNALS", None)  # keep ^C ^Z ^\ keys, never signals
    return asyncio.run(run_app(cfg, lang=lang, demo=False, kiosk=cfg.kiosk))
