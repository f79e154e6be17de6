"""callrec export, receive, register, extend, dispose: output data from instruction to disposal."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from console.commands import bounded
from console.commands.common import (
    add_json,
    add_pin,
    add_yes,
    at_terminal,
    cells,
    confirm,
    emit,
    read_pin,
    term,
    with_workspace,
)
from console.i18n import t
from services.access import Duty, Role
from services.core import CallrecError, display, mask_in, masked, signed_minutes, units, visible
from services.export import COUNTED_FROM, CancelToken, ExportPlan, Progress, RegisterEntry
from services.instructions import closest_first
from services.workspace import Workspace


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="execute an export instruction (operator): write, verify, submit")
    p.add_argument("instruction", metavar="ID", help="instruction id or number (2026-0001)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="IMAGE.iso", help="write a disc image file")
    where.add_argument(
        "--device",
        nargs="?",
        const="",
        metavar="DEV",
        help="burn to DEV with xorriso (default: the configured media device); stdio:FILE is a pseudo-drive",
    )
    where.add_argument("--dir", metavar="FOLDER", help="write into a folder (a mounted USB stick)")
    p.add_argument(
        "--split",
        action="store_true",
        help="if the calls do not fit one disc, write numbered discs (1/N, 2/N, ...)",
    )
    add_pin(p)
    add_yes(p)
    add_json(p)
    p.set_defaults(func=with_workspace(export))

    r = sub.add_parser("receive", help="record receipt of submitted output data (manager)")
    r.add_argument("instruction", metavar="ID", help="instruction id or number")
    r.add_argument(
        "--custodian",
        default="",
        metavar="TEXT",
        help="who keeps the medium and where (e.g. 広聴課 書庫 A-3)",
    )
    add_pin(r)
    add_yes(r)
    add_json(r)
    r.set_defaults(func=with_workspace(receive))

    g = sub.add_parser("register", help="the output-data register (出力データ管理簿)")
    g.add_argument("--due", action="store_true", help="only entries due for disposal")
    add_json(g)
    g.set_defaults(func=with_workspace(show_register))

    e = sub.add_parser("extend", help="keep registered output data longer, with a reason (manager)")
    e.add_argument("entry", type=bounded.ident, metavar="REG_ID")
    e.add_argument("--until", required=True, type=bounded.day, metavar="DATE")
    e.add_argument("--reason", required=True, metavar="TEXT")
    add_pin(e)
    add_yes(e)
    add_json(e)
    e.set_defaults(func=with_workspace(extend))

    d = sub.add_parser("dispose", help="record the disposal of registered output data (manager)")
    d.add_argument("entry", type=bounded.ident, metavar="REG_ID")
    d.add_argument("--method", required=True, metavar="TEXT", help="e.g. 破砕 (shredded)")
    d.add_argument("--witness", required=True, metavar="NAME")
    d.add_argument("--on", type=bounded.day, metavar="DATE", help="default: today")
    add_pin(d)
    add_yes(d)
    add_json(d)
    d.set_defaults(func=with_workspace(dispose))


# -- export ----------------------------------------------------------------------------------------


def plan_lines(plan: ExportPlan) -> list[str]:
    ins = plan.instruction
    n = len(plan.volumes)
    label = plan.medium.label
    media = t("cli.export.plan_media", n=n, label=label) if n > 1 else label
    lines = [
        t("cli.export.plan_head", number=ins.number, purpose=term("purpose", ins.purpose), medium=label),
        t(
            "cli.export.plan_destination",
            location=visible(plan.target.location),
            kind=term("target", plan.target.kind.value),
        ),
        t(
            "cli.export.plan_size",
            n=len(plan.calls),
            recordings=units.size(plan.recordings_bytes),
            total=units.size(plan.total_bytes),
            media=media,
        ),
    ]
    if plan.described:
        lines.append(t("cli.export.plan_described"))
    for v in plan.volumes:
        if n > 1:
            lines.append(
                t(
                    "cli.export.plan_disc",
                    seq=v.seq,
                    n=n,
                    calls=len(v.calls),
                    size=units.size(v.size),
                    location=visible(v.location),
                )
            )
    described = ins.described.other if ins.described is not None else None
    # As the console's plan: described calls closest to the described time first, with the difference.
    ranked = closest_first(ins.described, plan.calls) if ins.described else [(c, None) for c in plan.calls]
    for c, off in ranked:
        # As the console's plan: the number the manager described is shown whole (it is in the
        # instruction, the operator checks the calls against it); any other stays masked.
        whole = described is not None and c.other_number == described
        other = (display if whole else masked)(c.other_number) if c.other_number else c.caller_id
        name = c.name if whole else mask_in(c.name, c.other_number)
        kind = term("calltype", c.type)
        lines.append(
            f"  {c.id:>7}  {c.started_at:%Y-%m-%d %H:%M:%S}  {cells(kind, 8)}"
            f" {display(c.city_number):<14} {cells(visible(other), 16)} {units.size(c.size):>9}"
            f"  {visible(name)}"
            + ("" if off is None else f"  {t('when.difference', minutes=signed_minutes(off))}")
        )
    return lines


class ProgressLine:
    """One self-overwriting line on a terminal: bar, phase, throughput, time left."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.enabled = out.isatty()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        width = 24
        filled = int(p.fraction * width)
        eta = (
            t("cli.export.eta", m=f"{int(p.eta_s) // 60:d}", s=f"{int(p.eta_s) % 60:02d}")
            if p.eta_s is not None
            else ""
        )
        vol = f" {p.volume}/{p.volumes}" if p.volumes > 1 else ""
        name = visible(p.current.rpartition("/")[2])[:28]
        phase = term("phase", p.phase.value)
        self.out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {p.fraction * 100:5.1f}%"
            f" {cells(phase, 8)}{vol} {p.rate / 1e6:7.1f} MB/s {eta:>10} {name:<28}"
        )
        self.out.flush()

    def done(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()


async def export(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.OPERATOR, read_pin(args, Role.OPERATOR), Duty.EXECUTE_INSTRUCTION)
    target = ws.exports.target(out=args.out, device=args.device, folder=args.dir)
    interactive = at_terminal() and not args.pin_stdin
    plan = await ws.exports.prepare(
        actor, args.instruction, target, split=args.split, can_change_medium=interactive
    )
    info = sys.stderr if args.json else sys.stdout
    print("\n".join(plan_lines(plan)), file=info)
    if not confirm(
        args,
        t(
            "cli.confirm_export",
            calls=len(plan.calls),
            volumes=len(plan.volumes),
            medium=plan.medium.label,
            size=units.size(plan.total_bytes),
        ),
    ):
        raise CallrecError("not confirmed; nothing was written", code="not_confirmed")

    async def change_medium(seq: int, count: int, device: str) -> bool:
        answer = await asyncio.to_thread(
            input, "\n" + t("cli.insert_disc", seq=seq, count=count, device=visible(device))
        )
        return answer.strip().lower() not in ("q", "quit")

    bar = ProgressLine(sys.stderr)
    try:
        record = await ws.exports.run(
            actor,
            plan,
            progress=bar,
            cancel=CancelToken(),
            change_medium=change_medium if interactive else None,
        )
    finally:
        bar.done()

    def text() -> str:
        number = plan.instruction.number
        lines = [
            t(
                "cli.export.submitted",
                number=number,
                id=record.id,
                written=record.written_on,
                kept=record.kept_through,
                counted=COUNTED_FROM,
            )
        ]
        for m in record.media:
            sha = t("cli.export.medium_sha", sha=m.image_sha256) if m.image_sha256 else ""
            lines.append(
                t(
                    "cli.export.medium_line",
                    seq=m.seq,
                    count=m.count,
                    label=m.label,
                    location=visible(m.location),
                    size=units.size(m.size),
                    calls=m.calls,
                    sha=sha,
                )
            )
        lines.append(t("cli.export.audit_head", head=record.audit_head))
        lines.append(t("cli.export.hand_over", number=number))
        return "\n".join(lines)

    emit(args, record.to_json(), text)
    return 0


# -- register --------------------------------------------------------------------------------------


def entry_line(e: RegisterEntry, ws: Workspace) -> str:
    status = e.status(ws.clock.now()).value
    flag = {
        "due": t("cli.export.entry_due"),
        "kept": t("cli.export.entry_kept"),
        "disposed": t("cli.export.entry_disposed", on=e.disposed_on),
    }[status]
    ext = t("cli.export.entry_extended") if e.extensions else ""
    custodian = f"  {visible(e.custodian)}" if e.custodian else ""
    return t(
        "cli.export.entry",
        id=e.id,
        number=e.number,
        purpose=term("purpose", e.purpose),
        medium=e.media_label,
        written=e.written_on,
        kept=e.kept_through,
        ext=ext,
        flag=flag,
        custodian=custodian,
    )


async def receive(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.RECEIVE_OUTPUT)
    ins, submitted = await ws.register.awaiting_receipt(args.instruction)
    media = ", ".join(f"{m.label} ({visible(m.location)})" for m in submitted.media)
    if not confirm(
        args,
        t(
            "cli.confirm_receive",
            n=len(submitted.media),
            media=media,
            number=ins.number,
            calls=submitted.calls,
        ),
    ):
        raise CallrecError("not confirmed; nothing was recorded", code="not_confirmed")
    entry = await ws.register.receive(actor, args.instruction, custodian=args.custodian)
    emit(
        args,
        entry.to_json(ws.clock.now()),
        lambda: t(
            "cli.export.received",
            id=entry.id,
            kept=entry.kept_through,
            written=entry.written_on,
            counted=COUNTED_FROM,
        ),
    )
    return 0


async def show_register(args: argparse.Namespace, ws: Workspace) -> int:
    entries = await (ws.register.due() if args.due else ws.register.list())
    now = ws.clock.now()
    emit(
        args,
        [e.to_json(now) for e in entries],
        lambda: (
            "\n".join(
                [entry_line(e, ws) for e in entries] + [t("cli.export.register_rule", counted=COUNTED_FROM)]
            )
            if entries
            else t("cli.export.register_empty")
        ),
    )
    return 0


async def extend(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.EXTEND_RETENTION)
    entry = await ws.register.get(args.entry)
    if not confirm(
        args,
        t("cli.confirm_extend", id=entry.id, number=entry.number, new=args.until, old=entry.kept_through),
    ):
        raise CallrecError("not confirmed; nothing was changed", code="not_confirmed")
    entry = await ws.register.extend(actor, args.entry, until=args.until, reason=args.reason)
    emit(args, entry.to_json(ws.clock.now()), lambda: entry_line(entry, ws))
    return 0


async def dispose(args: argparse.Namespace, ws: Workspace) -> int:
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.DISPOSE_OUTPUT)
    entry = await ws.register.get(args.entry)
    if not confirm(
        args,
        t(
            "cli.confirm_dispose",
            medium=entry.media_label,
            number=entry.number,
            method=visible(args.method),
            witness=visible(args.witness),
        ),
    ):
        raise CallrecError("not confirmed; nothing was recorded", code="not_confirmed")
    entry = await ws.register.dispose(actor, args.entry, method=args.method, witness=args.witness, on=args.on)
    emit(args, entry.to_json(ws.clock.now()), lambda: entry_line(entry, ws))
    return 0
