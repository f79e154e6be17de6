"""Reading a recording's bytes: one streamed pass gives its SHA-256 and its header."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

CHUNK = 1 << 20
HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Digest:
    sha256: str
    size: int
    head: bytes


def digest_file(path: str | os.PathLike[str]) -> Digest:
    """Hash a file in one streamed pass, refusing to follow a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        h = hashlib.sha256()
        head = fh.read(HEAD_BYTES)
        h.update(head)
        size = len(head)
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return Digest(h.hexdigest(), size, head)
