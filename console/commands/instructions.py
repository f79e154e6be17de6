"""callrec instruct export|purge, callrec instructions [show ID], callrec cancel."""

from __future__ import annotations

import argparse

from console.commands import bounded
from console.commands.common import (
    add_json,
    add_pin,
    add_yes,
    confirm,
    emit,
    read_pin,
    term,
    with_workspace,
)
from console.i18n import t
from services.access import Duty, Role
from services.core import CallrecError, NotFound, visible
from services.export import forms
from services.export.media import MEDIA_SPECS
from services.instructions import MEDIA, PURPOSES, Criteria, Instruction, Kind
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    instruct = sub.add_parser("instruct", help="issue an instruction (manager, 様式第1号)")
    kinds = instruct.add_subparsers(dest="kind", required=True)
    e = kinds.add_parser("export", help="instruct the operator to create output data")
    e.add_argument("--purpose", required=True, choices=list(PURPOSES))
    e.add_argument("--medium", required=True, choices=MEDIA)
    e.add_argument(
        "--call",
        dest="calls",
        type=bounded.ident,
        action="append",
        default=[],
        metavar="ID",
        help="a call picked from the index (repeat for more)",
    )
    e.add_argument(
        "--from",
        dest="date_from",
        type=bounded.when,
        metavar="WHEN",
        help="or describe the calls: from a day or a day and time (2026-09-07, 2026-09-07T09:30,"
        " 令和8年9月7日 9時, 昨日 14時; Japan time)",
    )
    e.add_argument(
        "--to",
        dest="date_to",
        type=bounded.when,
        metavar="WHEN",
        help="to a day (the whole day) or a day and time, in the same forms",
    )
    e.add_argument("--city", metavar="NUMBER", help="the city-side number of the described calls")
    e.add_argument("--other", metavar="NUMBER", help="the other party's number of the described calls")
    e.add_argument("--note", default="")
    add_pin(e)
    add_yes(e)
    add_json(e)
    e.set_defaults(func=with_workspace(instruct_export))
    p = kinds.add_parser("purge", help="instruct the operator to delete expired recordings")
    p.add_argument("--note", default="")
    add_pin(p)
    add_json(p)
    p.set_defaults(func=with_workspace(instruct_purge))

    ls = sub.add_parser(
        "instructions", help="list instructions, open ones first; `instructions show ID` prints one's form"
    )
    ls.add_argument("action", nargs="?", choices=["show"], help="show one instruction's form")
    ls.add_argument("ref", nargs="?", metavar="ID", help="instruction id or number (with show)")
    ls.add_argument("--open", action="store_true", help="only those not yet executed")
    ls.add_argument(
        "--form",
        choices=["text", "html"],
        default="text",
        help="with show: plain text, or a print-ready A4 HTML page",
    )
    ls.add_argument(
        "--submission",
        action="store_true",
        help="with show: the 提出書 (様式第2号) submitted with the output data",
    )
    add_json(ls)
    ls.set_defaults(func=with_workspace(list_instructions))

    c = sub.add_parser("cancel", help="cancel an instruction not yet executed (manager)")
    c.add_argument("instruction", metavar="ID", help="instruction id or number (2026-0001)")
    c.add_argument("--reason", default="")
    add_pin(c)
    add_json(c)
    c.set_defaults(func=with_workspace(cancel))


def describe(ins: Instruction) -> str:
    calls = (
        t("cli.instructions.calls", n=len(ins.call_ids))
        if ins.call_ids
        else t("cli.instructions.calls_described")
    )
    extra = (
        t(
            "cli.instructions.export_extra",
            purpose=term("purpose", ins.purpose),
            medium=term("medium", ins.medium),
            calls=calls,
        )
        if ins.kind == Kind.EXPORT
        else ""
    )
    note = f"  {visible(ins.note)}" if ins.note else ""
    return t(
        "cli.instructions.line",
        id=ins.id,
        number=ins.number,
        kind=term("kind", ins.kind),
        state=term("ins_state", ins.state),
        at=f"{ins.issued_at:%Y-%m-%d %H:%M}",
        extra=extra,
        note=note,
    )


def _criteria(args: argparse.Namespace, ws: Workspace) -> Criteria | None:
    described = any(x is not None for x in (args.date_from, args.date_to, args.city, args.other))
    if not described:
        return None
    if args.calls:
        raise CallrecError(
            "either pick calls (--call) or describe them (--from/--to), not both", code="calls_and_criteria"
        )
    if args.date_from is None or args.date_to is None:
        raise CallrecError("described calls need a time range: --from and --to", code="criteria_range")
    tz = ws.config.tz
    today = ws.clock.now().astimezone(tz).date()
    return Criteria.parse(args.date_from, args.date_to, city=args.city, other=args.other, tz=tz, today=today)


async def instruct_export(args: argparse.Namespace, ws: Workspace) -> int:
    criteria = _criteria(args, ws)
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.ISSUE_INSTRUCTION)
    if criteria is not None:
        what = "; ".join(f"{k} {v}" for k, v in forms.describe_criteria(criteria, ws.config.tz))
    else:
        ids = sorted(set(args.calls))
        what = t("cli.instruct_calls", n=len(ids), ids=", ".join(str(c) for c in ids))
    question = t(
        "cli.confirm_instruct",
        purpose=t(f"purpose.{args.purpose}"),
        medium=MEDIA_SPECS[args.medium].label,
        what=what,
    )
    if not confirm(args, question):
        raise CallrecError("not confirmed; nothing was issued", code="not_confirmed")
    ins = await ws.instructions.issue_export(
        actor,
        purpose=args.purpose,
        medium=args.medium,
        call_ids=args.calls,
        criteria=criteria,
        note=args.note,
    )
    emit(args, ins.to_json(), lambda: describe(ins))
    return 0


async def instruct_purge(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.ISSUE_INSTRUCTION)
    ins = await ws.instructions.issue_purge(actor, note=args.note)
    emit(args, ins.to_json(), lambda: describe(ins))
    return 0


async def show_instruction(args: argparse.Namespace, ws: Workspace) -> int:
    if not args.ref:
        raise CallrecError("which instruction? `callrec instructions show ID`", code="no_ref")
    ins = await ws.instructions.get(args.ref)
    if args.submission:
        record = await ws.exports.submitted(ins.id)
        body = await ws.exports.submission_form(ins.id, html=args.form == "html")
        emit(args, record.to_json() | {"form": body}, lambda: body)
        return 0
    if ins.kind != Kind.EXPORT:
        raise NotFound(
            f"instruction {ins.number} is a purge instruction: it has no 様式第1号", code="no_form"
        )
    body = await ws.exports.form1(ins, html=args.form == "html")
    history = [r.to_json() for r in await ws.exports.history(ins.id)]
    emit(args, ins.to_json() | {"form": body, "exports": history}, lambda: body)
    return 0


async def list_instructions(args: argparse.Namespace, ws: Workspace) -> int:
    if args.action == "show":
        return await show_instruction(args, ws)
    items = await ws.instructions.list(open_only=args.open)
    emit(
        args,
        [i.to_json() for i in items],
        lambda: "\n".join(describe(i) for i in items) or t("cli.instructions.empty"),
    )
    return 0


async def cancel(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.CANCEL_INSTRUCTION)
    await ws.exports.recover_interrupted()  # an export killed midway: its instruction issued again
    ins = await ws.instructions.cancel(actor, args.instruction, args.reason)
    emit(args, ins.to_json(), lambda: describe(ins))
    return 0
