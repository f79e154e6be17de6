"""Output data (第4条2-3, 第5条): bit-exact export of instructed calls to media, with forms.

The faces use `Exports` (workspace.exports): `prepare` -> confirm the `ExportPlan` -> `run` with a
progress callback (`Progress`) and a `CancelToken`; `submitted`/`submission_form` afterwards.
"""

from services.export.plan import Target, TargetKind
from services.export.progress import Cancelled, CancelToken, Phase, Progress
from services.export.records import ExportPlan, ExportRecord, MediumRecord
from services.export.service import Exports
from services.export.writer import ChangeMedium

__all__ = [
    "CancelToken",
    "Cancelled",
    "ChangeMedium",
    "ExportPlan",
    "ExportRecord",
    "Exports",
    "MediumRecord",
    "Phase",
    "Progress",
    "Target",
    "TargetKind",
]
