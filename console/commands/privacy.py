"""Numbers in the command's listings: masked as the console masks them, unless `--reveal` and a
role's PIN show them (each call shown audited as the console's reveal is: session.number_revealed)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from console import session
from console.commands.common import add_pin, read_pin
from services.access import Actor, Duty, Role
from services.core import phone
from services.workspace import Workspace


def add_reveal(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reveal",
        nargs="?",
        const=Role.OPERATOR.value,
        choices=[r.value for r in Role],
        metavar="ROLE",
        help="show the numbers in full (asks the role's PIN, default the operator's; audited)",
    )
    if not any("--pin-stdin" in a.option_strings for a in p._actions):
        add_pin(p)


@dataclass(frozen=True)
class Shown:
    """A call whose number a listing shows: its id, its path, the other party's digits."""

    id: int
    path: str
    other_number: str | None


class NumberedCall(session.ShownCall, Protocol):
    """A call whose number a listing may show (a Shown, or a services.calls.Call)."""

    @property
    def other_number(self) -> str | None: ...


class Privacy:
    """How a listing shows numbers: masked, or revealed by `actor` (then every call shown is
    audited before it is printed)."""

    def __init__(self, ws: Workspace, actor: Actor | None) -> None:
        self.ws = ws
        self.actor = actor

    @classmethod
    async def ask(cls, args: argparse.Namespace, ws: Workspace) -> Privacy:
        """`--reveal ROLE`: that role's PIN (a wrong one counts as a failure, as anywhere)."""
        role = getattr(args, "reveal", None)
        if role is None:
            return cls(ws, None)
        actor = await ws.auth.authorize(Role(role), read_pin(args, Role(role)), Duty.REVEAL_NUMBER)
        return cls(ws, actor)

    @property
    def revealed(self) -> bool:
        return self.actor is not None

    async def record(self, calls: Iterable[NumberedCall]) -> None:
        """Audit the reveal of every call with a number, once each, before anything is printed."""
        if self.actor is None:
            return
        seen: set[int] = set()
        for call in calls:
            if call.other_number and call.id not in seen:
                seen.add(call.id)
                await session.number_revealed(self.ws, self.actor, call)

    def number(self, digits: str | None) -> str | None:
        """The other party's number: the digits when revealed, else the console's masked form."""
        if digits is None or self.revealed:
            return digits
        return phone.masked(digits)

    def shown(self, digits: str | None) -> str:
        """The other party's number as a listing's text prints it."""
        return phone.display(digits) if self.revealed else phone.masked(digits)

    def path(self, path: str, digits: str | None) -> str:
        return path if self.revealed else phone.mask_in(path, digits)

    def text(self, value: Any) -> Any:
        """Free text (a reason, nested JSON): number-like runs masked unless revealed."""
        return value if self.revealed else mask_all(value)


def mask_all(value: Any, digits: str | None = None) -> Any:
    """Every string in `value` (nested lists and dicts too) with `digits` masked as the console
    masks a call's number, and anything else that looks like a number (free text may hold one)."""
    if isinstance(value, str):
        return phone.mask_any_in(phone.mask_in(value, digits))
    if isinstance(value, dict):
        return {k: mask_all(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_all(v, digits) for v in value]
    return value


async def numbers_of(ws: Workspace, ids: Iterable[int]) -> dict[int, Shown]:
    """The path and other party's number of each call id that exists (ids that do not: left out)."""
    wanted = sorted(set(ids))
    out: dict[int, Shown] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = await ws.db.fetchall(
            f"SELECT id, path, other_number FROM calls WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )
        out.update({r["id"]: Shown(r["id"], r["path"], r["other_number"]) for r in rows})
    return out
