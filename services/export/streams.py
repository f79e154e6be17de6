"""Source files handed to pycdlib (and to the folder writer) that hash what they hand over.

pycdlib copies a file by calling read() and writing exactly what it got; a recording that changed
or shrank since it was indexed would otherwise be written silently. These readers hash every byte
as it leaves (so the hash is of the bytes actually written) and, at the file's end, compare with the
ingest hash. Any difference raises SourceChanged, which aborts the whole export.

Speed: hashing runs on a second thread (HashPipe) while the caller writes and the next block is read,
and the kernel is asked to read the next recordings ahead; so the disk, the hash and the copy overlap.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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

    def reader(self, meter: Meter | None, pipe: HashPipe | None = None) -> HashingReader:
        return HashingReader(self, meter, pipe)


class HashPipe:
    """One hashing thread, one block in flight: blocks are hashed in the order they are handed in,
    and a failure (a file whose hash differs) is raised at the next hand-in or at settle()."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="callrec-hash")
        self._pending: Future[None] | None = None
        self._buffers = [bytearray(), bytearray()]
        self._turn = 0

    def buffer(self, n: int) -> memoryview:
        """The buffer for the next block: two in turn, so a block can be read while the one
        before is hashed (that one was written already; the one before it is hashed: settled)."""
        self._turn ^= 1
        if len(self._buffers[self._turn]) < n:
            self._buffers[self._turn] = bytearray(n)
        return memoryview(self._buffers[self._turn])[:n]

    def submit(self, work: Callable[[], None]) -> None:
        self.settle()
        self._pending = self._pool.submit(work)

    def settle(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        """Wait for the last block (its failure is no longer news) and stop the thread."""
        try:
            self.settle()
        except CallrecError:
            pass
        finally:
            self._pool.shutdown()

    def __enter__(self) -> HashPipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetch(paths: Sequence[Path]) -> None:
    """Ask the kernel to start reading these files now (they are next)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # the reader of that file will say what is wrong
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except (AttributeError, OSError):
            pass
        finally:
            os.close(fd)


def chain_prefetch(readers: Sequence[HashingReader], ahead: int = 2) -> None:
    """Tell each reader which recordings come next, in the order they will be written."""
    sources = [r for r in readers if r.spec.source is not None]
    for i, r in enumerate(sources):
        r.then = [s.spec.source for s in sources[i + 1 : i + 1 + ahead] if s.spec.source]


class HashingReader:
    """A read-only, forward-only file object over a FileSpec (opened lazily, closed at its end).

    With a pipe, a recording's bytes are returned in the pipe's buffers, used in turn: the caller
    writes each block before asking for the next (pycdlib and the folder writer do)."""

    mode = "rb"  # what pycdlib looks for in a binary file object

    def __init__(self, spec: FileSpec, meter: Meter | None, pipe: HashPipe | None = None) -> None:
        self.spec = spec
        self.meter = meter
        self.pipe = pipe
        self.then: Sequence[Path] = ()  # the recordings written after this one, to prefetch
        self.verified = False
        self._fd: int | None = None
        self._pos = 0
        self._hash = hashlib.sha256()

    # pycdlib calls seek(0) before copying; a second pass starts the hash over.
    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise ValueError("HashingReader only seeks to the start")
        if self.pipe is not None:
            self.pipe.settle()
        self._close()
        self._pos = 0
        self._hash = hashlib.sha256()
        self.verified = False
        return 0

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes | memoryview:
        spec = self.spec
        n = spec.size - self._pos if n < 0 else min(n, spec.size - self._pos)
        if self._pos == 0 and self.meter is not None:
            self.meter.file(spec.path)
        if n == 0:
            return b""
        data = self._next_block(n)
        self._pos += n
        last = self._pos == spec.size
        h = self._hash
        if last and spec.source is not None:
            self._check_size()
        if self.pipe is None:
            h.update(data)
            if last:
                self._compare(h)
        elif last:
            self.pipe.submit(lambda: (h.update(data), self._compare(h))[-1])
        else:
            self.pipe.submit(lambda: h.update(data))
        if self.meter is not None:
            self.meter.add(n)
        return data

    def finish(self) -> None:
        """After the writer is done with this file: an empty one is checked here (there was no
        block to hash); any other must have been hashed and compared (the caller settles the
        pipe first)."""
        if self.verified:
            return
        if self.spec.size == 0 and self._pos == 0:
            if self.spec.source is not None:
                self._open()
                self._check_size()
            self._compare(self._hash)
            return
        raise CallrecError(f"{visible(self.spec.path)} was not copied whole",
                           code="export_incomplete", path=self.spec.path)

    def _next_block(self, n: int) -> bytes | memoryview:
        spec = self.spec
        if spec.data is not None:
            return memoryview(spec.data)[self._pos : self._pos + n]
        if self._fd is None:
            self._open()
        assert self._fd is not None
        data = self.pipe.buffer(n) if self.pipe is not None else memoryview(bytearray(n))
        got = 0
        while got < n:
            k = os.readv(self._fd, [data[got:]])
            if k == 0:
                raise self._changed(f"ended after {self._pos + got} of {spec.size} bytes")
            got += k
        return data

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
        prefetch([spec.source, *self.then])

    def _check_size(self) -> None:
        """At the last block: a file that grew meanwhile changed too."""
        assert self._fd is not None
        grown = os.fstat(self._fd).st_size
        self._close()
        if grown != self.spec.size:
            raise self._changed(f"is now {grown} bytes, indexed as {self.spec.size}")

    def _compare(self, h: hashlib._Hash) -> None:
        digest = h.hexdigest()
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
