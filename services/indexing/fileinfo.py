"""Reading a recording's bytes: one streamed pass gives its SHA-256 and its header."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

CHUNK = 1 << 20
HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Digest:
    sha256: str
    size: int  # bytes hashed
    head: bytes
    mtime_ns: int = 0  # as the open file says after hashing
    steady: bool = True  # False when the file was written to while it was being hashed
    dev: int | None = None  # which file was hashed (device, inode), for a purge to recognise it
    ino: int | None = None


def digest_file(path: str | os.PathLike[str]) -> Digest:
    """Hash a file in one streamed pass, refusing to follow a symlink or open anything but a
    regular file (a FIFO would block). `steady` tells whether the bytes hashed are the whole file
    as it stood before and after the pass."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        h = hashlib.sha256()
        head = fh.read(HEAD_BYTES)
        h.update(head)
        size = len(head)
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
        after = os.fstat(fd)
    steady = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and (
        size == after.st_size
    )
    return Digest(h.hexdigest(), size, head, after.st_mtime_ns, steady, after.st_dev, after.st_ino)
