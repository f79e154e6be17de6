"""Retention (第4条6): dates, the preview, holds, purges and the deletion record."""

from services.core.clock import fiscal_year, local_day
from services.jobs import CancelToken
from services.retention.deletion_record import DeletedCall, DeletionRecord, DeletionRecords
from services.retention.engine import Purge
from services.retention.holds import Hold, Holds
from services.retention.journal import ReconcileReport
from services.retention.records import PurgePlan, PurgeProgress, PurgeResult
from services.retention.rules import (
    deletable_from,
    is_expired,
    output_kept_through,
    raw_kept_through,
)
from services.retention.status import BlockedCall, Preview, RetentionStatus

__all__ = [
    "BlockedCall",
    "CancelToken",
    "DeletedCall",
    "DeletionRecord",
    "DeletionRecords",
    "Hold",
    "Holds",
    "Preview",
    "Purge",
    "PurgePlan",
    "PurgeProgress",
    "PurgeResult",
    "ReconcileReport",
    "RetentionStatus",
    "deletable_from",
    "fiscal_year",
    "is_expired",
    "local_day",
    "output_kept_through",
    "raw_kept_through",
]
