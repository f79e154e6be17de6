"""callrec retention, hold, release, holds, purge, deletions (GUIDELINE 第4条6)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from console.commands import bounded, common
from console.commands.common import (
    add_json,
    add_pin,
    add_yes,
    emit,
    listed,
    read_pin,
    term,
    with_workspace,
)
from console.commands.privacy import Privacy, add_reveal, numbers_of
from console.i18n import t
from services.access import Duty, Role
from services.core import CallrecError, parse_when, units, visible
from services.retention import (
    BlockedCall,
    DeletionRecord,
    Hold,
    Preview,
    PurgePlan,
    PurgeProgress,
    PurgeResult,
)
from services.workspace import Workspace

TEXT_LIST_LIMIT = 20  # purgeable calls listed in the text output unless --limit says otherwise


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("retention", help="what a purge would delete now, what is blocked and why")
    p.add_argument(
        "--as-of",
        type=bounded.when,
        metavar="DATE",
        help="preview as of a day (YYYY-MM-DD) or time; previews only: a purge always uses the real clock",
    )
    p.add_argument(
        "--limit",
        type=bounded.count(0),
        default=None,
        metavar="N",
        help="list at most N purgeable calls (default: 20 as text, all with --json;"
        " the counts are always complete)",
    )
    add_reveal(p)
    add_json(p)
    p.set_defaults(func=with_workspace(retention))

    h = sub.add_parser("hold", help="keep a call beyond its retention date (manager, with a reason)")
    h.add_argument("call_id", type=bounded.ident, metavar="CALL_ID")
    h.add_argument("--reason", required=True)
    _destructive(h)
    h.set_defaults(func=with_workspace(hold))

    r = sub.add_parser("release", help="release a hold; the normal schedule applies again (manager)")
    r.add_argument("call_id", type=bounded.ident, metavar="CALL_ID")
    r.add_argument("--reason", required=True)
    _destructive(r)
    r.set_defaults(func=with_workspace(release))

    ls = sub.add_parser("holds", help="list the calls held now")
    add_reveal(ls)
    add_json(ls)
    ls.set_defaults(func=with_workspace(list_holds))

    pg = sub.add_parser(
        "purge", help="execute a purge instruction: delete recordings whose retention has ended (operator)"
    )
    pg.add_argument("instruction", metavar="ID", help="purge instruction id or number (2026-0002)")
    add_yes(pg)
    _destructive(pg)
    pg.set_defaults(func=with_workspace(purge))

    d = sub.add_parser("deletions", help="the deletion record (削除記録) for a period")
    d.add_argument("--from", dest="date_from", required=True, type=bounded.day, metavar="DATE")
    d.add_argument("--to", dest="date_to", required=True, type=bounded.day, metavar="DATE")
    d.add_argument("--html", type=Path, metavar="FILE", help="also write the print-ready A4 page")
    d.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default=Role.MANAGER.value,
        help="whose PIN produces it (default: manager)",
    )
    add_pin(d)
    add_json(d)
    d.set_defaults(func=with_workspace(deletions))


def _destructive(p: argparse.ArgumentParser) -> None:
    add_pin(p)
    add_json(p)
    # Accepted only to refuse it with a clear line: changes always use the real clock.
    p.add_argument("--as-of", type=bounded.when, help=argparse.SUPPRESS)


def _refuse_as_of(args: argparse.Namespace) -> None:
    if getattr(args, "as_of", None) is not None:
        raise CallrecError(
            f"--as-of is for previews only; `{args.command}` always uses the real clock", code="as_of_refused"
        )


def parse_as_of(text: str, ws: Workspace) -> datetime:
    """A day (its start) or a moment, in any form services/core/when.py reads; Japan time."""
    tz = ws.clock.tz
    when = parse_when(text, ws.clock.now().astimezone(tz).date(), tz)
    return when.at if when.at is not None else when.span(tz)[0]


def describe_preview(p: Preview, purgeable_shown: int, privacy: Privacy) -> str:
    s = p.purgeable
    lines = [t("cli.retention.as_of", at=f"{p.as_of:%Y-%m-%d %H:%M %Z}", cutoff=p.cutoff)]
    if p.grace_days:
        lines.append(t("cli.retention.grace", days=p.grace_days))
    oldest = t("cli.retention.oldest", day=f"{s.oldest:%Y-%m-%d}") if s.oldest else ""
    lines.append(t("cli.retention.purgeable", n=s.count, size=units.size(s.bytes), oldest=oldest))
    if purgeable_shown < s.count:
        lines.append(t("cli.retention.listing_more", shown=purgeable_shown))
    if p.in_grace.count:
        lines.append(t("cli.retention.in_grace", n=p.in_grace.count, size=units.size(p.in_grace.bytes)))
    lines.append(t("cli.retention.blocked", n=len(p.blocked)))
    for b in p.blocked:
        why = listed(term("reason", r.value) for r in b.reasons)
        extra = []
        if b.hold:
            extra.append(t("cli.retention.blocked_hold", reason=visible(privacy.text(b.hold.reason))))
        if b.instructions:
            extra.append(t("cli.retention.blocked_instructions", numbers=", ".join(b.instructions)))
        tail = (
            t("cli.retention.blocked_tail", extras=t("cli.retention.blocked_sep").join(extra))
            if extra
            else ""
        )
        lines.append(
            t(
                "cli.retention.blocked_line",
                id=b.id,
                at=f"{b.started_at:%Y-%m-%d %H:%M}",
                kept=b.raw_retention_until,
                why=why,
                tail=tail,
            )
        )
    if p.held_ahead:
        lines.append(t("cli.retention.held_ahead", n=len(p.held_ahead)))
        for b in p.held_ahead:
            hold = (
                t("cli.retention.blocked_hold", reason=visible(privacy.text(b.hold.reason))) if b.hold else ""
            )
            lines.append(
                t(
                    "cli.retention.held_ahead_line",
                    id=b.id,
                    at=f"{b.started_at:%Y-%m-%d %H:%M}",
                    kept=b.raw_retention_until,
                    state=term("state", b.state),
                    hold=hold,
                )
            )
    if p.next_deletable_from:
        lines.append(
            t(
                "cli.retention.next",
                n=p.next_count,
                size=units.size(p.next_bytes),
                day=f"{p.next_deletable_from:%Y-%m-%d}",
                kept=p.next_kept_through,
            )
        )
    else:
        lines.append(t("cli.retention.next_none"))
    if p.register_available:
        lines.append(t("cli.retention.register_due", n=len(p.register_due)))
        for e in p.register_due:
            lines.append(
                t(
                    "cli.retention.register_line",
                    id=e["id"],
                    number=visible(e["instruction"]),
                    medium=visible(e["medium"]),
                    written=e["written_on"],
                    kept=e["kept_through"],
                )
            )
    else:
        lines.append(t("cli.retention.register_none"))
    return "\n".join(lines)


async def retention(args: argparse.Namespace, ws: Workspace) -> int:
    as_of = parse_as_of(args.as_of, ws) if args.as_of else None
    preview = await ws.retention.preview(as_of)
    limit = args.limit if args.limit is not None or args.json else TEXT_LIST_LIMIT
    items = [c async for c in ws.retention.purgeable_calls(preview.as_of, limit=limit)]
    privacy = await Privacy.ask(args, ws)
    listed = [c.id for c in items] + [b.id for b in (*preview.blocked, *preview.held_ahead)]
    shown = await numbers_of(ws, listed)
    await privacy.record(shown.values())

    def path(call_id: int, raw: str) -> str:
        return privacy.path(raw, shown[call_id].other_number if call_id in shown else None)

    def blocked(b: BlockedCall) -> dict[str, object]:
        data = b.to_json()
        return data | {"path": path(b.id, b.path), "hold_reason": privacy.text(data["hold_reason"])}

    data = preview.to_json() | {
        "purgeable": [c.to_json() | {"path": path(c.id, c.path)} for c in items],
        "blocked": [blocked(b) for b in preview.blocked],
        "held_ahead": [blocked(b) for b in preview.held_ahead],
    }

    def text() -> str:
        head = describe_preview(preview, len(items), privacy)
        listing = [
            t(
                "cli.retention.purgeable_line",
                id=c.id,
                at=f"{c.started_at:%Y-%m-%d %H:%M}",
                kept=c.raw_retention_until,
                size=units.size(c.size),
                path=visible(path(c.id, c.path)),
            )
            for c in items
        ]
        title = t("cli.retention.purgeable_title")
        return head + (f"\n{title}\n" + "\n".join(listing) if listing else "")

    emit(args, data, text)
    return 0


def describe_hold(h: Hold, privacy: Privacy | None = None) -> str:
    """A hold's line; in a listing (`privacy`) numbers in its reasons are masked unless revealed."""

    def shown(text: str) -> str:
        return visible(privacy.text(text) if privacy else text)

    if h.active:
        return t("cli.retention.held", id=h.call_id, at=f"{h.set_at:%Y-%m-%d %H:%M}", reason=shown(h.reason))
    assert h.released_at is not None
    return t(
        "cli.retention.released",
        id=h.call_id,
        at=f"{h.released_at:%Y-%m-%d %H:%M}",
        release_reason=shown(h.release_reason or ""),
        reason=shown(h.reason),
    )


async def hold(args: argparse.Namespace, ws: Workspace) -> int:
    _refuse_as_of(args)
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.HOLD)
    h = await ws.holds.set(actor, args.call_id, args.reason)
    emit(args, h.to_json(), lambda: describe_hold(h))
    return 0


async def release(args: argparse.Namespace, ws: Workspace) -> int:
    _refuse_as_of(args)
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.HOLD)
    h = await ws.holds.release(actor, args.call_id, args.reason)
    call = await ws.calls.get(h.call_id)
    data = h.to_json() | {"raw_retention_until": call.raw_retention_until.isoformat()}
    emit(
        args,
        data,
        lambda: t("cli.retention.released_again", line=describe_hold(h), kept=call.raw_retention_until),
    )
    return 0


async def list_holds(args: argparse.Namespace, ws: Workspace) -> int:
    privacy = await Privacy.ask(args, ws)
    items = await ws.holds.active(limit=100000)
    await privacy.record((await numbers_of(ws, (h.call_id for h in items))).values())
    emit(
        args,
        [
            h.to_json() | {"reason": privacy.text(h.reason), "release_reason": privacy.text(h.release_reason)}
            for h in items
        ],
        lambda: "\n".join(describe_hold(h, privacy) for h in items) or t("cli.retention.no_holds"),
    )
    return 0


def describe_plan(plan: PurgePlan) -> str:
    span = ""
    if plan.oldest and plan.newest:
        span = t("cli.retention.plan_span", first=f"{plan.oldest:%Y-%m-%d}", last=f"{plan.newest:%Y-%m-%d}")
    grace = t("cli.retention.plan_grace", days=plan.grace_days) if plan.grace_days else ""
    lines = [
        t(
            "cli.retention.plan",
            number=plan.instruction.number,
            n=plan.count,
            size=units.size(plan.bytes),
            bytes=plan.bytes,
            span=span,
        ),
        t("cli.retention.plan_rule", cutoff=plan.cutoff, grace=grace, at=f"{plan.planned_at:%Y-%m-%d %H:%M}"),
    ]
    if plan.blocked:
        lines.append(t("cli.retention.plan_blocked", n=plan.blocked))
    return "\n".join(lines)


def _typed_confirmation(args: argparse.Namespace, plan: PurgePlan) -> int:
    if args.yes:
        return plan.count
    prompt = t("cli.type_count", n=plan.count)
    if args.pin_stdin:
        print(prompt, file=sys.stderr)
        answer = common._next_stdin_line()  # the line after the PIN
    elif common.at_terminal():
        answer = input(prompt)
    else:
        raise CallrecError("confirmation needed and no terminal: use --yes", code="confirm_no_tty")
    text = answer.strip()
    if not text.isdigit() or int(text) != plan.count:
        raise CallrecError("not confirmed; nothing was deleted", code="not_confirmed")
    return int(text)


def describe_result(r: PurgeResult) -> str:
    lines = [
        t(
            "cli.retention.result",
            number=r.instruction.number,
            n=r.deleted,
            size=units.size(r.deleted_bytes),
            state=term("run", r.state),
            ins_state=term("ins_state", r.instruction.state),
        )
    ]
    if r.skipped:
        lines.append(t("cli.retention.result_skipped", n=r.skipped))
    if r.absent:
        lines.append(t("cli.retention.result_absent", n=r.absent))
    if r.refused:
        lines.append(t("cli.retention.result_refused", n=r.refused))
    if r.folders_removed:
        lines.append(t("cli.retention.result_folders", n=r.folders_removed))
    return "\n".join(lines)


async def purge(args: argparse.Namespace, ws: Workspace) -> int:
    _refuse_as_of(args)
    actor = await ws.auth.authorize(Role.OPERATOR, read_pin(args, Role.OPERATOR), Duty.EXECUTE_INSTRUCTION)
    plan = await ws.purge.plan(args.instruction)
    if not plan.count:
        raise CallrecError(
            f"nothing to delete now under instruction {plan.instruction.number} (blocked: {plan.blocked})",
            code="nothing_to_purge",
        )
    print(describe_plan(plan), file=sys.stderr if args.json else sys.stdout)
    typed = _typed_confirmation(args, plan)
    show = sys.stderr.isatty()

    def progress(p: PurgeProgress) -> None:
        if show:
            print(
                "\r" + t("cli.retention.progress", done=p.done, total=p.total),
                end="",
                file=sys.stderr,
                flush=True,
            )

    result = await ws.purge.execute(actor, plan, typed_count=typed, progress=progress)
    if show:
        print(file=sys.stderr)
    emit(args, result.to_json(), lambda: describe_result(result))
    return 0


async def deletions(args: argparse.Namespace, ws: Workspace) -> int:
    role = Role(args.role)
    actor = await ws.auth.authorize(role, read_pin(args, role), Duty.REPORT)
    record: DeletionRecord = await ws.deletions.build(actor, args.date_from, args.date_to)
    if args.html:
        ws.deletions.save(record, args.html)
    emit(args, record.to_json(), record.text)
    return 0
