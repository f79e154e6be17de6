"""callrec audit verify, callrec audit list."""

from __future__ import annotations

import argparse
import json
from typing import Any

from console.commands import bounded
from console.commands.common import add_json, add_pin, emit, read_pin, with_workspace
from console.commands.privacy import Privacy, Shown, mask_all, numbers_of
from console.exits import Exit
from console.i18n import t
from services.access import Action, Duty, Head, Role
from services.core import CallrecError, visible
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    v = audit.add_parser("verify", help="check the whole HMAC chain")
    v.add_argument(
        "--anchor",
        type=_anchor,
        metavar="SEQ:MAC",
        help="also prove nothing up to this printed head was removed or changed",
    )
    add_json(v)
    v.set_defaults(func=with_workspace(verify))
    ls = audit.add_parser("list", help="the newest entries (manager)")
    ls.add_argument("--limit", type=bounded.count(1), default=50)
    ls.add_argument(
        "--reveal",
        action="store_true",
        help="show the numbers in their subjects and details in full (audited)",
    )
    add_pin(ls)
    add_json(ls)
    ls.set_defaults(func=with_workspace(list_entries))


def _anchor(text: str) -> Head:
    try:
        return Head.parse(text)
    except CallrecError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


async def verify(args: argparse.Namespace, ws: Workspace) -> int:
    result = await ws.audit.verify(args.anchor)
    data = {
        "ok": result.ok,
        "entries": result.entries,
        "head": str(result.head) if result.head else None,
        "first_bad": result.first_bad,
        "problem": result.problem,
        "backwards": [{"seq": b.seq, "at": b.at, "before": b.before} for b in result.backwards],
    }
    # The clock going back between entries is a warning: the chain may verify all the same.
    warnings = [
        t("cli.audit.backwards", seq=b.seq, at=visible(b.at), prev=b.seq - 1, before=visible(b.before))
        for b in result.backwards
    ]
    if result.ok:
        emit(
            args, data, lambda: "\n".join([t("cli.audit.ok", n=result.entries, head=result.head), *warnings])
        )
        return 0
    emit(
        args,
        data,
        lambda: "\n".join(
            [t("cli.audit.broken", seq=result.first_bad, problem=visible(str(result.problem))), *warnings]
        ),
    )
    return Exit.INTEGRITY


async def list_entries(args: argparse.Namespace, ws: Workspace) -> int:
    """The manager's PIN first: subjects and details name calls (their paths carry numbers)."""
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.VERIFY_AUDIT)
    privacy = Privacy(ws, actor if args.reveal else None)
    rows = await ws.db.fetchall(
        "SELECT seq, ts, actor, action, subject, detail FROM audit ORDER BY seq DESC LIMIT ?",
        (args.limit,),
    )
    entries = [dict(r) | {"detail": json.loads(r["detail"])} for r in rows]
    calls = await numbers_of(ws, (e["detail"]["call_id"] for e in entries if _call_of(e)))
    masked = [_masked(e, calls.get(_call_of(e) or 0)) for e in entries]
    if privacy.revealed:
        await privacy.record(calls.values())
        others = [
            e["seq"] for e, m in zip(entries, masked, strict=True) if m != e and _call_of(e) not in calls
        ]
        if others:  # numbers not tied to a call (an instruction's description): said which entries
            await ws.audit.record(
                at=ws.clock.now(),
                actor=actor.role.value,
                action=Action.NUMBER_REVEALED,
                subject="audit",
                detail={"audit_seqs": others},
            )
    data = entries if privacy.revealed else masked
    emit(
        args,
        data,
        lambda: "\n".join(
            f"{r['seq']:>7} {r['ts']} {r['actor']:<8} {r['action']:<18} {visible(r['subject'])}" for r in data
        ),
    )
    return 0


def _call_of(entry: dict[str, Any]) -> int | None:
    detail = entry["detail"]
    call_id = detail.get("call_id") if isinstance(detail, dict) else None
    return call_id if isinstance(call_id, int) and not isinstance(call_id, bool) else None


def _masked(entry: dict[str, Any], call: Shown | None) -> dict[str, Any]:
    digits = call.other_number if call else None
    return entry | {
        "subject": mask_all(entry["subject"], digits),
        "detail": mask_all(entry["detail"], digits),
    }
