"""Who may act: role PINs and lockout, duties, the chained audit log and clock acknowledgements."""

from services.access.audit import SYSTEM, Action, AuditLog, Entry, Head, VerifyResult
from services.access.auth import Actor, Auth, normalize_pin
from services.access.clock_ack import ClockAck, ClockGap
from services.access.duties import DUTIES, Duty, Role, may, require

__all__ = [
    "DUTIES",
    "SYSTEM",
    "Action",
    "Actor",
    "AuditLog",
    "Auth",
    "ClockAck",
    "ClockGap",
    "Duty",
    "Entry",
    "Head",
    "Role",
    "VerifyResult",
    "may",
    "normalize_pin",
    "require",
]
