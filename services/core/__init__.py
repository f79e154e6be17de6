"""Infrastructure every package stands on: errors, time, the store, configuration, keys, text, numbers."""

from services.core.clock import JST, Clock, FixedClock, SystemClock, from_epoch, to_epoch
from services.core.config import PATTERN_REQUIRED, Centre, Config
from services.core.db import BUSY_TIMEOUT_MS, Database, storage_error
from services.core.errors import (
    CallrecError,
    ConfigError,
    Conflict,
    DestinationConflict,
    DestinationError,
    DestinationStorageError,
    KeyFileError,
    LockedOut,
    NeedsSplit,
    NotFound,
    NotPermitted,
    PinError,
    SpoolError,
    StorageError,
    WrongPin,
)
from services.core.lease import Lease
from services.core.phone import CallerId, NumberPlan, display, mask_in, masked, normalize, search_digits
from services.core.text import ljust_cells, visible
from services.core.when import DAY_FORMS, BadWhen, Phrase, Precision, When, parse_when, signed_minutes
from services.core.when import read as read_when
from services.core.when import refused as refused_when

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DAY_FORMS",
    "JST",
    "PATTERN_REQUIRED",
    "BadWhen",
    "CallerId",
    "CallrecError",
    "Centre",
    "Clock",
    "Config",
    "ConfigError",
    "Conflict",
    "Database",
    "DestinationConflict",
    "DestinationError",
    "DestinationStorageError",
    "FixedClock",
    "KeyFileError",
    "Lease",
    "LockedOut",
    "NeedsSplit",
    "NotFound",
    "NotPermitted",
    "NumberPlan",
    "Phrase",
    "PinError",
    "Precision",
    "SpoolError",
    "StorageError",
    "SystemClock",
    "When",
    "WrongPin",
    "display",
    "from_epoch",
    "ljust_cells",
    "mask_in",
    "masked",
    "normalize",
    "parse_when",
    "read_when",
    "refused_when",
    "search_digits",
    "signed_minutes",
    "storage_error",
    "to_epoch",
    "visible",
]
