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

__all__ = [
    "BUSY_TIMEOUT_MS",
    "JST",
    "PATTERN_REQUIRED",
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
    "PinError",
    "SpoolError",
    "StorageError",
    "SystemClock",
    "WrongPin",
    "display",
    "from_epoch",
    "ljust_cells",
    "mask_in",
    "masked",
    "normalize",
    "search_digits",
    "storage_error",
    "to_epoch",
    "visible",
]
