"""Who may do what (GUIDELINE 第3条, 第4条; DESIGN roles table). The one place a role is checked."""

from __future__ import annotations

from enum import StrEnum

from services.core.errors import NotPermitted


class Role(StrEnum):
    MANAGER = "manager"
    OPERATOR = "operator"


class Duty(StrEnum):
    VIEW_INDEX = "view_index"
    REVEAL_NUMBER = "reveal_number"
    ISSUE_INSTRUCTION = "issue_instruction"
    CANCEL_INSTRUCTION = "cancel_instruction"
    EXECUTE_INSTRUCTION = "execute_instruction"
    RECEIVE_OUTPUT = "receive_output"
    EXTEND_RETENTION = "extend_retention"
    DISPOSE_OUTPUT = "dispose_output"
    HOLD = "hold"
    VERIFY_AUDIT = "verify_audit"
    REPORT = "report"
    QUIT_KIOSK = "quit_kiosk"
    ACKNOWLEDGE_CLOCK = "acknowledge_clock"


_BOTH = frozenset(Role)
DUTIES: dict[Duty, frozenset[Role]] = {
    Duty.VIEW_INDEX: _BOTH,
    Duty.REVEAL_NUMBER: _BOTH,
    Duty.ISSUE_INSTRUCTION: frozenset({Role.MANAGER}),
    Duty.CANCEL_INSTRUCTION: frozenset({Role.MANAGER}),
    Duty.EXECUTE_INSTRUCTION: frozenset({Role.OPERATOR}),  # 第3条6: only on instruction
    Duty.RECEIVE_OUTPUT: frozenset({Role.MANAGER}),
    Duty.EXTEND_RETENTION: frozenset({Role.MANAGER}),
    Duty.DISPOSE_OUTPUT: frozenset({Role.MANAGER}),
    Duty.HOLD: frozenset({Role.MANAGER}),
    Duty.VERIFY_AUDIT: frozenset({Role.MANAGER}),
    Duty.REPORT: _BOTH,  # the operator reports to the manager (第3条5)
    Duty.QUIT_KIOSK: _BOTH,
    Duty.ACKNOWLEDGE_CLOCK: frozenset({Role.MANAGER}),
}


def may(role: Role | str, duty: Duty) -> bool:
    return Role(role) in DUTIES[duty]


def require(role: Role | str, duty: Duty) -> None:
    if not may(role, duty):
        allowed = "/".join(sorted(DUTIES[duty]))
        raise NotPermitted(
            f"the {role} may not {duty.value.replace('_', ' ')} (only: {allowed})",
            role=str(role),
            duty=duty.value,
        )
