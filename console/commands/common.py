"""What every subcommand shares: opening the workspace, reading a PIN, printing results."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from console import logs
from console.i18n import active, t
from services.access import Role
from services.core import CallrecError, PinError
from services.core import config as config_mod
from services.core.version import VERSION
from services.workspace import Workspace

_log = logging.getLogger("callrec.cli")

Handler = Callable[[argparse.Namespace, Workspace], Awaitable[int]]


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def add_pin(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pin-stdin",
        action="store_true",
        help="read the PIN from standard input (one line) instead of asking",
    )


def add_yes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def load_config(args: argparse.Namespace) -> config_mod.Config:
    """The configuration; from here on the command logs where it says (console/logs.py)."""
    cfg = config_mod.load(config_mod.resolve_path(args.config))
    logs.setup(cfg, to_stderr=getattr(args, "command", None) == "indexer")
    _log.info("callrec %s %s", VERSION, getattr(args, "command", None) or "console")
    return cfg


def with_workspace(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Run an async handler with an open workspace, closing it whatever happens."""

    def run(args: argparse.Namespace) -> int:
        async def main() -> int:
            ws = await Workspace.open(load_config(args))
            try:
                return await handler(args, ws)
            finally:
                await ws.close()

        return asyncio.run(main())

    return run


_stdin_lines: list[str] | None = None


def at_terminal() -> bool:
    """Whether stdin is a terminal to ask at (False when it is closed: `callrec ... <&-`)."""
    return sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty()


def _next_stdin_line() -> str:
    global _stdin_lines
    if _stdin_lines is None:
        closed = sys.stdin is None or sys.stdin.closed
        _stdin_lines = [] if closed else sys.stdin.read().splitlines()
    if not _stdin_lines:
        raise PinError("no PIN on standard input", code="pin_missing")
    return _stdin_lines.pop(0)


def read_pin(args: argparse.Namespace, role: Role, ask: str = "cli.pin") -> str:
    """The role's PIN from stdin (--pin-stdin, one per line) or typed at a terminal without echo
    (`ask`: the prompt's catalogue key)."""
    if getattr(args, "pin_stdin", False):
        return _next_stdin_line()
    if not at_terminal():
        raise PinError("no terminal to ask for the PIN: use --pin-stdin", code="pin_no_tty")
    return getpass.getpass(t(ask, role=t(f"role.{role.value}")))


def confirm(args: argparse.Namespace, question: str) -> bool:
    """A yes/no question at the terminal (already answered yes by --yes)."""
    if getattr(args, "yes", False):
        return True
    if not at_terminal():
        raise CallrecError("confirmation needed and no terminal: use --yes", code="confirm_no_tty")
    answer = input(f"{question} {t('cli.yes_no')} ").strip().lower()
    return answer in ("y", "yes", "はい")


def term(group: str, value: object) -> str:
    """A word inside a printed report (a state, a kind, a reason): `cli.term.<group>.<value>`,
    the value itself when the catalogue has no such word."""
    key = f"cli.term.{group}.{value}"
    return t(key) if active().has(key) else str(value)


def listed(items: Iterable[str]) -> str:
    """Words in a row, separated the language's way."""
    return t("cli.list_sep").join(items)


def cells(text: str, width: int) -> str:
    """`text` padded to `width` terminal columns (wide characters, as Japanese ones are, take two),
    so that columns line up in either language."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(0, width - used)


def emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    """Print JSON when asked, else the human text."""
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(text())
