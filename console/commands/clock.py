"""callrec clock ack: the manager acknowledges a clock correction (services/access/clock_ack.py)."""

from __future__ import annotations

import argparse

from console.commands.common import add_json, add_pin, emit, read_pin, with_workspace
from console.i18n import t
from services.access import ClockGap, Duty, Role
from services.core import CallrecError
from services.workspace import Workspace

MOMENT = "%Y-%m-%d %H:%M:%S"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clock = sub.add_parser("clock", help="the clock against the audit log").add_subparsers(
        dest="clock_cmd", required=True
    )
    ack = clock.add_parser(
        "ack",
        help="acknowledge that the clock was set right although the audit log has later times (manager)",
    )
    add_pin(ack)
    add_json(ack)
    ack.set_defaults(func=with_workspace(acknowledge))


def describe(gap: ClockGap) -> str:
    seconds = int((gap.latest - gap.now).total_seconds())
    behind = f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return t("cli.clock.gap", latest=f"{gap.latest:{MOMENT}}", now=f"{gap.now:{MOMENT}}", behind=behind)


async def acknowledge(args: argparse.Namespace, ws: Workspace) -> int:
    gap = await ws.clock_ack.gap()
    if gap is None:
        raise CallrecError(
            "the clock is not behind the audit log: nothing to acknowledge", code="clock_not_behind"
        )
    if not args.json:
        print(describe(gap), flush=True)  # both times, before the manager's PIN is asked
    actor = await ws.auth.authorize(Role.MANAGER, read_pin(args, Role.MANAGER), Duty.ACKNOWLEDGE_CLOCK)
    done = await ws.clock_ack.acknowledge(actor)
    emit(
        args,
        done.as_dict() | {"acknowledged": True},
        lambda: t("cli.clock.acknowledged", now=f"{done.now:{MOMENT}}"),
    )
    return 0
