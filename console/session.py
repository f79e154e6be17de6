"""Who is at the console: unlocking, locking, quitting and revealing a number, each audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.access import Action, Actor, Duty, Role
from services.workspace import Workspace


@dataclass(frozen=True)
class Session:
    role: Role
    since: datetime


async def unlocked(ws: Workspace, actor: Actor) -> Session:
    actor.require(Duty.VIEW_INDEX)
    await ws.audit.record(
        at=ws.clock.now(), actor=actor.role.value, action=Action.SESSION_UNLOCKED, subject=actor.role.value
    )
    return Session(actor.role, actor.verified_at)


async def locked(ws: Workspace, session: Session, reason: str) -> None:
    """reason: "key" (ctrl+l), "idle", "quit"."""
    await ws.audit.record(
        at=ws.clock.now(),
        actor=session.role.value,
        action=Action.SESSION_LOCKED,
        subject=session.role.value,
        detail={"reason": reason},
    )


async def quit_console(ws: Workspace, by: str, reason: str) -> None:
    """by: the role whose PIN allowed it (kiosk), the session's role, or "system" (hang-up)."""
    await ws.audit.record(at=ws.clock.now(), actor=by, action=Action.SESSION_QUIT, detail={"reason": reason})


class ShownCall(Protocol):
    """A call as a view or a listing shows it (services.calls.Call or less)."""

    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...


async def number_revealed(ws: Workspace, actor: Actor, call: ShownCall) -> None:
    """The other party's number of one call was shown in full (the PIN was just checked): the
    console's reveal and the command line's --reveal write the same entry."""
    actor.require(Duty.REVEAL_NUMBER)
    await ws.audit.record(
        at=ws.clock.now(),
        actor=actor.role.value,
        action=Action.NUMBER_REVEALED,
        subject=call.path,
        detail={"call_id": call.id},
    )
