"""callrec instruct export|purge, callrec instructions, callrec cancel."""

from __future__ import annotations

import argparse

from console.commands.common import add_json, add_pin, emit, read_pin, with_workspace
from services.duties import Duty, Role
from services.instructions import MEDIA, PURPOSES, Instruction, Kind
from services.text import visible
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    instruct = sub.add_parser("instruct", help="issue an instruction (manager, 様式第1号)")
    kinds = instruct.add_subparsers(dest="kind", required=True)
    e = kinds.add_parser("export", help="instruct the operator to create output data")
    e.add_argument("--purpose", required=True, choices=list(PURPOSES))
    e.add_argument("--medium", required=True, choices=MEDIA)
    e.add_argument("--call", dest="calls", type=int, action="append", default=[], metavar="ID")
    e.add_argument("--note", default="")
    add_pin(e)
    add_json(e)
    e.set_defaults(func=with_workspace(instruct_export))
    p = kinds.add_parser("purge", help="instruct the operator to delete expired recordings")
    p.add_argument("--note", default="")
    add_pin(p)
    add_json(p)
    p.set_defaults(func=with_workspace(instruct_purge))

    ls = sub.add_parser("instructions", help="list instructions, open ones first")
    ls.add_argument("--open", action="store_true", help="only those not yet executed")
    add_json(ls)
    ls.set_defaults(func=with_workspace(list_instructions))

    c = sub.add_parser("cancel", help="cancel an instruction not yet executed (manager)")
    c.add_argument("instruction", metavar="ID", help="instruction id or number (2026-0001)")
    c.add_argument("--reason", default="")
    add_pin(c)
    add_json(c)
    c.set_defaults(func=with_workspace(cancel))


def describe(ins: Instruction) -> str:
    calls = f"{len(ins.call_ids)} calls" if ins.call_ids else "calls by description"
    extra = f" {ins.purpose} {ins.medium} {calls}" if ins.kind == Kind.EXPORT else ""
    note = f"  {visible(ins.note)}" if ins.note else ""
    return (f"{ins.id:>5} {ins.number}  {ins.kind:<6} {ins.state:<11}"
            f" {ins.issued_at:%Y-%m-%d %H:%M}{extra}{note}")


async def instruct_export(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, "manager PIN: "),
                                    Duty.ISSUE_INSTRUCTION)
    ins = await ws.instructions.issue_export(actor, purpose=args.purpose, medium=args.medium,
                                             call_ids=args.calls, note=args.note)
    emit(args, ins.to_json(), lambda: describe(ins))
    return 0


async def instruct_purge(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, "manager PIN: "),
                                    Duty.ISSUE_INSTRUCTION)
    ins = await ws.instructions.issue_purge(actor, note=args.note)
    emit(args, ins.to_json(), lambda: describe(ins))
    return 0


async def list_instructions(args: argparse.Namespace, ws: Workspace) -> int:
    items = await ws.instructions.list(open_only=args.open)
    emit(args, [i.to_json() for i in items],
         lambda: "\n".join(describe(i) for i in items) or "no instructions")
    return 0


async def cancel(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, "manager PIN: "),
                                    Duty.CANCEL_INSTRUCTION)
    ins = await ws.instructions.cancel(actor, args.instruction, args.reason)
    emit(args, ins.to_json(), lambda: describe(ins))
    return 0
