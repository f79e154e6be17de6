"""callrec index, callrec indexer, callrec calls."""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

from console.commands import bounded
from console.commands.common import add_json, cells, emit, listed, term, with_workspace
from console.commands.privacy import Privacy, add_reveal
from console.i18n import t
from services.calls import Call, CallFilter, CallState
from services.core import SpoolError, display, signed_minutes, visible
from services.indexing import CallType
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("index", help="scan the spool once and reconcile the index")
    add_json(p)
    p.set_defaults(func=with_workspace(index))

    p = sub.add_parser("indexer", help="keep the index live without a console (for a service unit)")
    p.set_defaults(func=with_workspace(indexer))

    p = sub.add_parser("calls", help="list calls from the index (metadata only; no audio)")
    days = "a day with its year: 2026-12-04, 2026/12/4, 20261204, 2026年12月4日, 令和8年12月4日, R8.12.4"
    p.add_argument("--from", dest="date_from", type=bounded.day, metavar="DATE", help=days)
    p.add_argument("--to", dest="date_to", type=bounded.day, metavar="DATE", help="its last day, as --from")
    p.add_argument(
        "--around",
        type=bounded.phrase,
        metavar="WHEN",
        help="the calls closest to a time (14時頃, 昨日 午後2時, 12/4 14:05, 2026-12-04T14:05), closest"
        " first, with their difference from it; a day alone (12/4): that day's calls in time order",
    )
    p.add_argument(
        "--within",
        type=bounded.count(1, 7 * 24 * 60),
        default=30,
        metavar="MINUTES",
        help="with --around: at most this far from it (default 30)",
    )
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
    tz = ws.config.tz
    today = ws.clock.now().astimezone(tz).date()
    f = CallFilter(
        number=args.number,
        date_from=args.date_from,
        date_to=args.date_to,
        types=tuple(args.type),
        states=tuple(args.state),
    )
    privacy = await Privacy.ask(args, ws)
    differences: dict[int, timedelta] = {}
    if args.around is None:
        rows = await ws.calls.page(f, limit=args.limit, offset=args.offset)
    else:
        around = args.around.resolve(today, tz)
        if around.at is None:  # a day: its calls in time order, from its first second
            start = datetime.combine(around.day, time(0), tz)
            f = replace(f, date_from=max(f.date_from or around.day, around.day), date_to=around.day)
            found = await ws.calls.around(start, timedelta(days=1), f, limit=args.offset + args.limit)
        else:
            within = timedelta(minutes=args.within)
            found = await ws.calls.around(around.at, within, f, limit=args.offset + args.limit)
            differences = {c.id: d for c, d in found}
        rows = [c for c, _ in found[args.offset :]]
    await privacy.record(rows)

    def text() -> str:
        lines = []
        for c in rows:
            other = privacy.shown(c.other_number) or c.caller_id
            duration = f"{c.duration_s:7.1f}s" if c.duration_s is not None else "      -"
            kind = term("calltype", c.type)
            line = (
                f"{c.id:>8}  {c.started_at:%Y-%m-%d %H:%M:%S}  {duration}  {cells(kind, 8)}"
                f" {display(c.city_number):<14} {cells(visible(other), 16)}"
                f" {cells(term('state', c.state), 9)}"
                f" {c.raw_retention_until}"
            )
            if c.id in differences:
                line += f"  {t('when.difference', minutes=signed_minutes(differences[c.id]))}"
            lines.append(line)
        return "\n".join(lines) if lines else t("cli.index.no_calls")

    def shown(c: Call) -> dict[str, Any]:
        data = c.to_json() | {
            "path": privacy.path(c.path, c.other_number),
            "other_number": privacy.number(c.other_number),
        }
        if args.around is not None:
            d = differences.get(c.id)
            data["difference_s"] = int(d.total_seconds()) if d is not None else None
        return data

    emit(args, [shown(c) for c in rows], text)
    return 0
