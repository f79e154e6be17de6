"""callrec index, callrec indexer, callrec calls."""

from __future__ import annotations

import argparse
import asyncio
import signal

from console.commands import bounded
from console.commands.common import add_json, cells, emit, listed, term, with_workspace
from console.commands.privacy import Privacy, add_reveal
from console.i18n import t
from services.calls import CallFilter, CallState
from services.core import SpoolError, display, visible
from services.indexing import CallType
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", help="scan the spool once and reconcile the index")
    add_json(p)
    p.set_defaults(func=with_workspace(index))

    p = sub.add_parser("indexer", help="keep the index live without a console (for a service unit)")
    p.set_defaults(func=with_workspace(indexer))

    p = sub.add_parser("calls", help="list calls from the index (metadata only; no audio)")
    p.add_argument("--from", dest="date_from", type=bounded.day, metavar="DATE")
    p.add_argument("--to", dest="date_to", type=bounded.day, metavar="DATE")
    p.add_argument("--number", default="", metavar="DIGITS", help="digits found in either number")
    p.add_argument("--type", action="append", choices=[t.value for t in CallType], default=[])
    p.add_argument("--state", action="append", choices=[s.value for s in CallState], default=[])
    p.add_argument("--limit", type=bounded.count(1), default=100, help="at most this many (default 100)")
    p.add_argument("--offset", type=bounded.count(0), default=0, help="skip this many first")
    add_reveal(p)
    add_json(p)
    p.set_defaults(func=with_workspace(calls))


async def index(args: argparse.Namespace, ws: Workspace) -> int:
    report = await ws.indexer.scan()
    data = report.to_json()
    data["missing_total"] = (await ws.calls.counts_by_state()).get(CallState.MISSING.value, 0)

    def text() -> str:
        skipped = listed(
            t("cli.index.skipped", reason=term("skip", k), n=v) for k, v in data["skipped"].items()
        ) or t("cli.index.skipped_none")
        lines = [
            t(
                "cli.index.scanned",
                added=report.added,
                completed=report.completed,
                recording=report.recording,
                seen=report.seen,
                missing=report.missing,
                missing_total=data["missing_total"],
                skipped=skipped,
            )
        ]
        if report.unknown:
            lines.append(t("cli.index.unknown", n=report.unknown))
        if report.anomalies:
            lines.append(t("cli.index.anomalies", n=report.anomalies))
        return "\n".join(lines)

    emit(args, data, text)
    if report.unreadable:  # what is in them is not indexed: a failure, said in one line
        rel, why = report.unreadable[0]
        more = f" and {len(report.unreadable) - 1} more" if len(report.unreadable) > 1 else ""
        raise SpoolError(
            f"{visible(rel or '.')}: {why}{more}: a spool folder could not be read,"
            " its recordings are not indexed",
            code="folder_unreadable",
            path=rel or ".",
            reason=why,
            count=len(report.unreadable),
        )
    return 0


async def indexer(args: argparse.Namespace, ws: Workspace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    print(t("cli.index.following", spool=visible(str(ws.config.spool))), flush=True)
    await ws.run_indexer(stop)
    return 0


async def calls(args: argparse.Namespace, ws: Workspace) -> int:
    f = CallFilter(
        number=args.number,
        date_from=args.date_from,
        date_to=args.date_to,
        types=tuple(args.type),
        states=tuple(args.state),
    )
    privacy = await Privacy.ask(args, ws)
    rows = await ws.calls.page(f, limit=args.limit, offset=args.offset)
    await privacy.record(rows)

    def text() -> str:
        lines = []
        for c in rows:
            other = privacy.shown(c.other_number) or c.caller_id
            duration = f"{c.duration_s:7.1f}s" if c.duration_s is not None else "      -"
            kind = term("calltype", c.type)
            lines.append(
                f"{c.id:>8}  {c.started_at:%Y-%m-%d %H:%M:%S}  {duration}  {cells(kind, 8)}"
                f" {display(c.city_number):<14} {cells(visible(other), 16)}"
                f" {cells(term('state', c.state), 9)}"
                f" {c.raw_retention_until}"
            )
        return "\n".join(lines) if lines else t("cli.index.no_calls")

    emit(
        args,
        [
            c.to_json()
            | {"path": privacy.path(c.path, c.other_number), "other_number": privacy.number(c.other_number)}
            for c in rows
        ],
        text,
    )
    return 0
