"""The `callrec` command: the console by default, headless subcommands beside it."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from console import i18n
from console.commands import audit, clock, export, index, instructions, reports, retention, setup
from console.exits import Exit, for_error
from console.i18n import t
from services.core import CallrecError, visible
from services.core import config as config_mod
from services.core.version import VERSION

_log = logging.getLogger("callrec.cli")

COMMAND_MODULES = [setup, index, audit, clock, instructions, reports, retention, export]


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (subcommand parsers inherit this class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(Exit.USAGE, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="callrec",
        description="Console for the call-recording device (さいたまコールセンター通話録音装置).",
    )
    parser.add_argument("--version", action="version", version=f"callrec {VERSION}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (else $CALLREC_CONFIG)")
    parser.add_argument("--demo", action="store_true", help="try it out: no configuration needed")
    parser.add_argument("--workspace", metavar="DIR", help="demo workspace folder (default: temporary)")
    parser.add_argument("--lang", choices=("ja", "en"), help="interface language")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def run_console(args: argparse.Namespace) -> int:
    from console.app import run

    return run(args)


def language(args: argparse.Namespace) -> str:
    """--lang, then the configuration's console.language, then the locale, then Japanese."""
    return i18n.choose_language(args.lang, i18n.configured_language(config_mod.resolve_path(args.config)))


def fail(line: str) -> None:
    """A failure: one line on stderr, whatever came from outside in it shown escaped."""
    print(f"callrec: {visible(line)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    # Until the configuration says where the log goes, records go nowhere (Python's last resort
    # would add them to the one line a failure prints).
    logging.getLogger().addHandler(logging.NullHandler())
    # The language first: a value refused while parsing is told in it.
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--config")
    early.add_argument("--lang")
    known, _ = early.parse_known_args(argv)
    if known.lang not in ("ja", "en"):
        known.lang = None  # the full parser refuses it
    i18n.use(language(known))
    parser = build_parser()
    args = parser.parse_args(argv)
    i18n.use(language(args))
    func = getattr(args, "func", run_console)
    try:
        return int(func(args) or 0)
    except CallrecError as exc:
        fail(i18n.tr_error(exc))
        code = for_error(exc)
        _log.warning("%s failed (%s, exit %d): %s", args.command or "console", exc.code, code, exc.message)
        return code
    except KeyboardInterrupt:
        fail(t("cli.interrupted"))
        return Exit.INTERRUPTED
    except BrokenPipeError:
        return Exit.FAILED
    except (sqlite3.Error, OSError) as exc:
        where = f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else ""
        what = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        fail(t("unexpected.storage", what=f"{where}{what}"))
        _log.error("%s failed on storage: %s%s", args.command or "console", where, what)
        return Exit.STORAGE
    except Exception as exc:  # the last resort: one line, never a traceback
        # Only the kind of failure: its message may hold a number, a path or a PIN.
        fail(t("unexpected.internal", kind=type(exc).__name__))
        # The log keeps where it happened, not the message either.
        where = "".join(traceback.format_tb(exc.__traceback__))
        _log.error("%s: internal error %s at %s", args.command or "console", type(exc).__name__, where)
        return Exit.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
