"""Checks on where an export goes, before anything is written, and one-line storage failures."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from services.core import units
from services.core.errors import DestinationConflict, DestinationStorageError
from services.core.text import visible

DIR_ALLOWANCE = 64 * 1024  # a folder entry and its directory blocks, generously


def storage_error(exc: OSError, where: str | os.PathLike[str]) -> DestinationStorageError:
    place = visible(str(where))
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return DestinationStorageError(
            f"{place}: the destination is full; nothing was left behind",
            code="destination_full",
            path=str(where),
        )
    if exc.errno == errno.EROFS:
        return DestinationStorageError(
            f"{place}: the destination is read-only", code="destination_readonly", path=str(where)
        )
    if exc.errno == errno.ENOENT:
        return DestinationStorageError(
            f"{place}: no such folder or file", code="destination_missing", path=str(where)
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DestinationStorageError(
            f"{place}: permission denied", code="destination_denied", path=str(where)
        )
    return DestinationStorageError(
        f"{place}: {exc.strerror or exc}", code="destination_error", path=str(where)
    )


def writable_folder(folder: Path) -> None:
    """The folder exists, is a folder, and can be written to."""
    if not folder.exists():
        raise DestinationStorageError(
            f"{visible(folder)}: the destination folder does not exist (is the medium mounted?)",
            code="destination_missing",
            path=str(folder),
        )
    if not folder.is_dir():
        raise DestinationStorageError(
            f"{visible(folder)}: not a folder", code="destination_missing", path=str(folder)
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        try:
            readonly = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            readonly = False
        code = "destination_readonly" if readonly else "destination_denied"
        why = "is read-only" if readonly else "cannot be written to (permission denied)"
        raise DestinationStorageError(
            f"{visible(folder)}: the destination {why}", code=code, path=str(folder)
        )
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise DestinationStorageError(
            f"{visible(folder)}: the destination is read-only", code="destination_readonly", path=str(folder)
        )


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def block_size(folder: Path) -> int:
    return os.statvfs(folder).f_frsize or 4096


def check_room(folder: Path, needed: int) -> None:
    free = free_bytes(folder)
    if needed > free:
        raise DestinationStorageError(
            f"{visible(folder)}: the destination is full: the export needs"
            f" {units.size(needed)}, {units.size(free)} is free",
            code="destination_full",
            path=str(folder),
            needed=needed,
            free=free,
        )


def absent(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise DestinationConflict(
            f"{visible(path)} exists already; nothing is overwritten",
            code="destination_exists",
            path=str(path),
        )
