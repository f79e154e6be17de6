"""Output data (第4条2-3, 第5条): bit-exact export of instructed calls to media, with forms."""

from services.export.plan import Target, TargetKind
from services.export.progress import Cancelled, CancelToken, Phase, Progress
from services.export.service import ExportPlan, ExportRecord, Exports, MediumRecord

__all__ = ["CancelToken", "Cancelled", "ExportPlan", "ExportRecord", "Exports", "MediumRecord",
           "Phase", "Progress", "Target", "TargetKind"]
