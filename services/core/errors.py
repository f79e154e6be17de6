"""Expected failures: each carries a stable code for the catalogues and a one-line English message."""

from __future__ import annotations

from typing import Any


class CallrecError(Exception):
    """A failure the user is told about in one line; never a traceback."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.params = params

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(CallrecError):
    code = "config"


class KeyFileError(CallrecError):
    code = "keyfile"


class PinError(CallrecError):
    """A PIN that is malformed, wrong, or a role that is locked out."""

    code = "pin"


class WrongPin(PinError):
    code = "pin_wrong"


class LockedOut(PinError):
    code = "pin_locked"


class NotPermitted(CallrecError):
    """The role is not entitled to the action (GUIDELINE 第3条6, DESIGN roles table)."""

    code = "not_permitted"


class NotFound(CallrecError):
    code = "not_found"


class Conflict(CallrecError):
    """The action cannot run now: another one holds the resource, or the state has moved on."""

    code = "conflict"


class SpoolError(CallrecError):
    code = "spool"


class StorageError(CallrecError):
    """The data folder or a destination is missing, read-only or full."""

    code = "storage"


class NeedsSplit(CallrecError):
    """The export needs more discs than one: asked again with split=True (params: needed,
    capacity, volumes)."""

    code = "needs_split"


class DestinationError(CallrecError):
    """Where the output data goes will not do (the folder, the drive, the medium in it): the
    console asks for the destination again, saying why."""

    code = "destination_error"


class DestinationStorageError(StorageError, DestinationError):
    """A destination missing, read-only, full or unreadable."""

    code = "destination_error"


class DestinationConflict(Conflict, DestinationError):
    """Output data is already at the destination: nothing is overwritten."""

    code = "destination_exists"
