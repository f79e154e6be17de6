"""The manager's acknowledgement of a clock correction.

Exports, purges and disposals are refused while the clock reads earlier than the newest audit entry
(AuditLog.check_clock): a clock set back must not delete anything. But an entry written while the
clock ran ahead stays in the future once the clock is set right, and would block them until real
time caught up. The manager, shown both times, acknowledges the correction with their PIN: an audit
entry, from which on the guard counts only the entries written since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.core.clock import Clock
from services.core.db import Database
from services.core.errors import CallrecError


@dataclass(frozen=True)
class ClockGap:
    latest: datetime  # the latest time an audit entry carries
    now: datetime  # what the clock reads

    def as_dict(self) -> dict[str, str]:
        return {
            "latest": self.latest.isoformat(timespec="seconds"),
            "now": self.now.isoformat(timespec="seconds"),
        }


class ClockAck:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    async def gap(self) -> ClockGap | None:
        """Both times when the clock reads earlier than the audit log, else None."""
        now = self.clock.now()
        latest = await self.audit.clock_behind(now)
        return ClockGap(latest.astimezone(self.clock.tz), now) if latest else None

    async def acknowledge(self, actor: Actor) -> ClockGap:
        """Record that the clock reads right now although the audit log has later times."""
        actor.require(Duty.ACKNOWLEDGE_CLOCK)
        gap = await self.gap()
        if gap is None:
            raise CallrecError(
                "the clock is not behind the audit log: nothing to acknowledge", code="clock_not_behind"
            )
        await self.audit.record(
            at=gap.now,
            actor=actor.role.value,
            action=Action.CLOCK_ACKNOWLEDGED,
            subject="clock",
            detail=gap.as_dict(),
        )
        return gap
