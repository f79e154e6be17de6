"""Output data (第4条2-3, 第5条): bit-exact export of instructed calls to media, with forms.

The faces use `Exports` (workspace.exports): `prepare` -> confirm the `ExportPlan` -> `run` with a
progress callback (`Progress`) and a `CancelToken`; `submitted`/`submission_form` afterwards. The
register of output data (出力データ管理簿, 第4条4) is `Register` (workspace.register).
"""

from services.export.plan import Target, TargetKind
from services.export.progress import Cancelled, Phase, Progress
from services.export.records import ExportPlan, ExportRecord, MediumRecord
from services.export.register import COUNTED_FROM, Register, RegisterEntry, Status
from services.export.service import Exports
from services.export.writer import ChangeMedium
from services.jobs import CancelToken

__all__ = [
    "COUNTED_FROM",
    "CancelToken",
    "Cancelled",
    "ChangeMedium",
    "ExportPlan",
    "ExportRecord",
    "Exports",
    "MediumRecord",
    "Phase",
    "Progress",
    "Register",
    "RegisterEntry",
    "Status",
    "Target",
    "TargetKind",
]
