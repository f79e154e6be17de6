"""Source files handed to pycdlib (and to the folder writer) that hash what they hand over.

pycdlib copies a file by calling read() and writing exactly what it got; a recording that changed
or shrank since it was indexed would otherwise be written silently. These readers hash every byte
as it leaves (so the hash is of the bytes actually written), and on the last byte compare with the
ingest hash. Any difference raises SourceChanged, which aborts the whole export.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from services.errors import CallrecError
from services.export.progress import Meter
from services.text import visible


class SourceChanged(CallrecError):
    code = "export_source_changed"


@dataclass(frozen=True)
class FileSpec:
    """One file of a volume: a recording on disk or a generated document."""

    path: str                  # relative path on the volume, '/'-separated (the true name)
    size: int
    sha256: str                # the ingest hash of a recording; the hash of generated data
    source: Path | None = None
    data: bytes | None = None
    call_id: int | None = None
    iso_hint: str | None = None

    def reader(self, meter: Meter | None) -> HashingReader:
        return HashingReader(self, meter)


class HashingReader:
    """A read-only, forward-only file object over a FileSpec (opened lazily, closed at the end)."""

    mode = "rb"  # what pycdlib looks for in a binary file object

    def __init__(self, spec: FileSpec, meter: Meter | None) -> None:
        self.spec = spec
        self.meter = meter
        self._fd: int | None = None
        self._pos = 0
        self._hash = hashlib.sha256()
        self.verified = False

    # pycdlib calls seek(0) before copying; a second pass starts the hash over.
    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise ValueError("HashingReader only seeks to the start")
        self._close()
        self._pos = 0
        self._hash = hashlib.sha256()
        self.verified = False
        return 0

    def tell(self) -> int:
        return self._pos

    def _open(self) -> None:
        spec = self.spec
        assert spec.source is not None
        try:
            self._fd = os.open(spec.source, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise self._changed(f"cannot be read ({exc.strerror})") from exc
        size = os.fstat(self._fd).st_size
        if size != spec.size:
            raise self._changed(f"is {size} bytes, indexed as {spec.size}")

    def read(self, n: int = -1) -> bytes:
        spec = self.spec
        left = spec.size - self._pos
        if n < 0 or n > left:
            n = left
        if self._pos == 0 and self.meter is not None:
            self.meter.file(spec.path)
        if n == 0:
            self._check_end()
            return b""
        if spec.data is not None:
            data = spec.data[self._pos : self._pos + n]
        else:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            data = os.read(self._fd, n)
            while len(data) < n:
                more = os.read(self._fd, n - len(data))
                if not more:
                    raise self._changed(f"ended after {self._pos + len(data)} of {spec.size} bytes")
                data += more
        self._hash.update(data)
        self._pos += len(data)
        if self.meter is not None:
            self.meter.add(len(data))
        if self._pos == spec.size:
            self._check_end()
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def _check_end(self) -> None:
        if self.verified:
            return
        if self._fd is not None:
            grown = os.fstat(self._fd).st_size
            self._close()
            if grown != self.spec.size:
                raise self._changed(f"is now {grown} bytes, indexed as {self.spec.size}")
        digest = self._hash.hexdigest()
        if digest != self.spec.sha256:
            raise self._changed(f"differs from its ingest hash (sha256 {digest[:12]}…, "
                                f"indexed {self.spec.sha256[:12]}…)", actual=digest)
        self.verified = True

    def _changed(self, why: str, **params: object) -> SourceChanged:
        self._close()
        what = f"call {self.spec.call_id}" if self.spec.call_id is not None else "file"
        return SourceChanged(
            f"{what} ({visible(self.spec.path.rpartition('/')[2])}) {why}: the recording changed"
            " since it was indexed; nothing was exported",
            call_id=self.spec.call_id, path=self.spec.path, expected=self.spec.sha256, **params,
        )

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close()
