"""callrec report, callrec notice."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands import bounded
from console.commands.common import add_pin, load_config, read_pin, with_workspace
from console.exits import Exit
from console.i18n import t
from services import backup, reports
from services.access import Duty, Role
from services.core import StorageError, visible
from services.instructions import notice
from services.workspace import Workspace

_RENDER = {
    "text": reports.to_text,
    "csv": reports.to_csv,
    "json": reports.to_json_text,
    "html": reports.to_html,
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("report", help="the report to the manager for a period (第3条5)")
    r.add_argument("--from", dest="date_from", type=bounded.day, required=True, metavar="DATE")
    r.add_argument("--to", dest="date_to", type=bounded.day, required=True, metavar="DATE")
    r.add_argument("--format", choices=list(_RENDER), default="text", help="html is a print-ready A4 page")
    r.add_argument(
        "--role",
        choices=[x.value for x in Role],
        default=Role.MANAGER.value,
        help="who produces it (the operator reports to the manager)",
    )
    r.add_argument("--out", type=Path, help="write to this file instead of standard output")
    add_pin(r)
    r.set_defaults(func=with_workspace(report))

    n = sub.add_parser("notice", help="the public notice text for the city web site (第3条7)")
    n.add_argument("--lang", dest="notice_lang", choices=("ja", "en"), default="ja")
    n.add_argument("--out", type=Path)
    n.set_defaults(func=public_notice)
    register_backup(sub)


def _write(text: str, out: Path | None) -> None:
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StorageError(f"{out}: {exc.strerror}", path=str(out)) from None
    print(t("cli.reports.written", path=visible(str(out))))


async def report(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(args.role, read_pin(args, Role(args.role)), Duty.REPORT)
    built = await ws.reports.build(actor, args.date_from, args.date_to)
    _write(_RENDER[args.format](built), args.out)
    return Exit.OK if built.audit_ok else Exit.INTEGRITY  # the report stands; its audit line says why


def public_notice(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    _write(notice.notice_en(cfg) if args.notice_lang == "en" else notice.notice_ja(cfg), args.out)
    return 0


def register_backup(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("backup", help="copy the database and its key files into a new folder")
    b.add_argument("dest", type=Path, help="folder that receives callrec-YYYYMMDD-HHMMSS/")
    b.set_defaults(func=with_workspace(make_backup))


async def make_backup(args: argparse.Namespace, ws: Workspace) -> int:
    result = await backup.backup(ws.config, ws.db, ws.audit, ws.clock, args.dest)
    print(t("cli.reports.backup", folder=visible(str(result.folder))))
    print(t("cli.reports.audit_head", head=result.audit_head or "-"))
    print(t("cli.reports.keep_head"))
    return 0
