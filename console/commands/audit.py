"""callrec audit verify, callrec audit list."""

from __future__ import annotations

import argparse
import json

from console.commands.common import add_json, emit, with_workspace
from console.i18n import t
from services.audit import Head
from services.errors import CallrecError
from services.text import visible
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd",
                                                                          required=True)
    v = audit.add_parser("verify", help="check the whole HMAC chain")
    v.add_argument("--anchor", type=_anchor, metavar="SEQ:MAC",
                   help="also prove nothing up to this printed head was removed or changed")
    add_json(v)
    v.set_defaults(func=with_workspace(verify))
    ls = audit.add_parser("list", help="the newest entries")
    ls.add_argument("--limit", type=int, default=50)
    add_json(ls)
    ls.set_defaults(func=with_workspace(list_entries))


def _anchor(text: str) -> Head:
    try:
        return Head.parse(text)
    except CallrecError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


async def verify(args: argparse.Namespace, ws: Workspace) -> int:
    result = await ws.audit.verify(args.anchor)
    data = {"ok": result.ok, "entries": result.entries,
            "head": str(result.head) if result.head else None,
            "first_bad": result.first_bad, "problem": result.problem,
            "backwards": [{"seq": b.seq, "at": b.at, "before": b.before} for b in result.backwards]}
    # The clock going back between entries is a warning: the chain may verify all the same.
    warnings = [t("cli.audit.backwards", seq=b.seq, at=visible(b.at), prev=b.seq - 1,
                  before=visible(b.before)) for b in result.backwards]
    if result.ok:
        emit(args, data, lambda: "\n".join(
            [t("cli.audit.ok", n=result.entries, head=result.head), *warnings]))
        return 0
    emit(args, data, lambda: "\n".join(
        [t("cli.audit.broken", seq=result.first_bad, problem=visible(str(result.problem))),
         *warnings]))
    return 1


async def list_entries(args: argparse.Namespace, ws: Workspace) -> int:
    rows = await ws.db.fetchall(
        "SELECT seq, ts, actor, action, subject, detail FROM audit ORDER BY seq DESC LIMIT ?",
        (args.limit,),
    )
    data = [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]
    emit(args, data, lambda: "\n".join(
        f"{r['seq']:>7} {r['ts']} {r['actor']:<8} {r['action']:<18} {visible(r['subject'])}"
        for r in rows))
    return 0
