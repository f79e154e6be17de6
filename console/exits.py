"""The command's exit codes: one per kind of failure, so a script or the indexer's service can tell a
wrong PIN from a broken audit chain (README, 終了コード). The table is the only place they are set."""

from __future__ import annotations

from enum import IntEnum

from services.core import (
    CallrecError,
    ConfigError,
    Conflict,
    KeyFileError,
    NotPermitted,
    PinError,
    SpoolError,
    StorageError,
)
from services.core.when import BadWhen
from services.export.verify import VerifyFailed


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # anything else: not found, not confirmed, a value the service refused
    USAGE = 2  # the command line: an unknown option, a value it cannot read, no terminal to ask at
    CONFIG = 3  # the configuration file or the key files' place and modes
    PIN = 4  # a wrong PIN, a role locked out
    REFUSED = 5  # the rules or the state refuse it now: not entitled, held, another purge running
    INTEGRITY = 6  # the audit chain, the database or a read-back does not verify; keys swapped
    STORAGE = 7  # the spool, the data folder or a destination is missing, unreadable, read-only or full
    INTERNAL = 70  # a bug (EX_SOFTWARE): one line, never a traceback
    INTERRUPTED = 130  # Ctrl+C


# Errors the user can correct by running the command differently.
_USAGE_CODES = frozenset({"confirm_no_tty", "pin_no_tty", "pin_missing"})
# Key files that are present and readable but not this installation's: tampering or a bad restore.
_INTEGRITY_CODES = frozenset({"keys_swapped", "key_mismatch"})

# First match wins: subclasses before the classes they extend.
_BY_KIND: tuple[tuple[type[CallrecError], Exit], ...] = (
    (BadWhen, Exit.USAGE),
    (ConfigError, Exit.CONFIG),
    (KeyFileError, Exit.CONFIG),
    (PinError, Exit.PIN),
    (NotPermitted, Exit.REFUSED),
    (VerifyFailed, Exit.INTEGRITY),
    (StorageError, Exit.STORAGE),
    (SpoolError, Exit.STORAGE),
    (Conflict, Exit.REFUSED),
)


def for_error(exc: CallrecError) -> Exit:
    """The exit code for an expected failure."""
    if exc.code in _USAGE_CODES:
        return Exit.USAGE
    if exc.code in _INTEGRITY_CODES:
        return Exit.INTEGRITY
    return next((code for kind, code in _BY_KIND if isinstance(exc, kind)), Exit.FAILED)
