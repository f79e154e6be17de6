"""Source files handed to pycdlib (and to the folder writer), hashed as they are written.

pycdlib copies a file by calling read() and writing exactly what it got; a recording that changed
or shrank since it was indexed would otherwise be written silently. So every recording is hashed as
it is written and, at its end, compared with its ingest hash; any difference raises SourceChanged,
which aborts the whole export.

Speed: a recording's bytes never pass through Python. read() hands pycdlib a `Span` (which bytes,
not the bytes), the output's write() has the kernel copy them (sendfile, page cache to page cache),
and a second thread (HashPipe) hashes the span as it now stands in the output: the hash is of the
bytes actually written. That thread then asks the kernel to start writing the span to the disk, so
the final fsync has little left to do. The kernel is also asked to read the next recordings ahead.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.core import beneath
from services.core.errors import CallrecError
from services.core.text import visible
from services.export.progress import Meter

HASH_BLOCK = 4 << 20  # what the hashing thread reads back at a time
BACKLOG = 64 << 20  # written but not yet hashed, at most (still in the page cache)
# sendfile refused for this pair of files (not for lack of room or a failing disk): copy by hand.
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV, errno.EBADF}


class SourceChanged(CallrecError):
    code = "export_source_changed"


@dataclass(frozen=True)
class FileSpec:
    """One file of a volume: a recording on disk or a generated document."""

    path: str  # relative path on the volume, '/'-separated (the true name)
    size: int
    sha256: str  # the ingest hash of a recording; the hash of generated data
    source: Path | None = None
    spool: Path | None = None  # the folder `source` is under, reached without following symlinks
    data: bytes | None = None
    call_id: int | None = None
    iso_hint: str | None = None

    def reader(self, meter: Meter | None, pipe: HashPipe | None = None) -> HashingReader:
        return HashingReader(self, meter, pipe)


@dataclass(frozen=True, eq=False)
class Span:
    """`length` bytes of a recording from `offset`, not read: what read() returns for pycdlib to
    hand to the output's write() (pycdlib only takes its len())."""

    reader: HashingReader
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length


def write_all(fd: int, data: bytes | memoryview | Span) -> None:
    """Write `data` at `fd`'s position, all of it (os.write may write less than asked)."""
    if isinstance(data, Span):
        data.reader.copy_span(fd, data)
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class HashPipe:
    """One hashing thread. Jobs run in the order they are handed in; at most BACKLOG bytes wait.
    A failure (a file whose hash differs) is raised at the next hand-in or at settle()."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="callrec-hash")
        self._jobs: deque[tuple[Future[None], int]] = deque()
        self._queued = 0
        self._backlog = backlog
        self._buffer: memoryview | None = None  # used by the hashing thread only
        self.sendfile = True  # False once the kernel refused to copy between these files

    def buffer(self) -> memoryview:
        """The hashing thread's read-back buffer (made on first use)."""
        if self._buffer is None:
            self._buffer = memoryview(bytearray(HASH_BLOCK))
        return self._buffer

    def submit(self, work: Callable[[], None], size: int) -> None:
        self._reap()
        while self._jobs and self._queued + size > self._backlog:
            self._wait_oldest()
        self._jobs.append((self._pool.submit(work), size))
        self._queued += size

    def _reap(self) -> None:
        while self._jobs and self._jobs[0][0].done():
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        job, size = self._jobs.popleft()
        self._queued -= size
        job.result()

    def settle(self) -> None:
        """Wait for every job; raise the first failure."""
        while self._jobs:
            self._wait_oldest()

    def close(self) -> None:
        """Wait for the jobs (a failure is no longer news: the caller is failing already or has
        settled) and stop the thread."""
        try:
            while self._jobs:
                with contextlib.suppress(CallrecError):
                    self._wait_oldest()
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
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
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

    With a pipe, a recording is read as Spans, which must be written with write_all() in the
    order they were read. Without one (and for generated documents), read() returns the bytes and
    hashes them itself."""

    mode = "rb"  # what pycdlib looks for in a binary file object

    def __init__(self, spec: FileSpec, meter: Meter | None, pipe: HashPipe | None = None) -> None:
        self.spec = spec
        self.meter = meter
        self.pipe = pipe
        self.then: Sequence[Path] = ()  # the recordings written after this one, to prefetch
        self.verified = False
        self._fd: int | None = None
        self._pos = 0  # handed out by read()
        self._copied = 0  # copied by copy_span()
        self._hash = hashlib.sha256()

    # pycdlib calls seek(0) before copying; a second pass starts the hash over.
    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise ValueError("HashingReader only seeks to the start")
        if self.pipe is not None:
            self.pipe.settle()
        self._close()
        self._pos = self._copied = 0
        self._hash = hashlib.sha256()
        self.verified = False
        return 0

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes | memoryview | Span:
        spec = self.spec
        n = spec.size - self._pos if n < 0 else min(n, spec.size - self._pos)
        if self._pos == 0 and self.meter is not None:
            self.meter.file(spec.path)
        if n == 0:
            return b""
        if spec.data is not None:
            view = memoryview(spec.data)[self._pos : self._pos + n]
            self._hash.update(view)
            data: bytes | memoryview | Span = view
        else:
            if self._fd is None:
                self._open()
            data = Span(self, self._pos, n) if self.pipe is not None else self._read_bytes(n)
        self._pos += n
        if self._pos == spec.size and not isinstance(data, Span):
            if spec.source is not None:
                self._check_size()
            self._compare(self._hash)
        if self.meter is not None:
            self.meter.add(n)
        return data

    def copy_span(self, out: int, span: Span) -> None:
        """Copy the span from the recording to `out` at its position, then have it hashed there."""
        if span.offset != self._copied or self._fd is None:
            raise CallrecError(
                f"{visible(self.spec.path)} was not written in order",
                code="export_incomplete",
                path=self.spec.path,
            )
        pipe = self.pipe
        assert pipe is not None
        at = os.lseek(out, 0, os.SEEK_CUR)
        done = 0
        while done < span.length:
            want = span.length - done
            if pipe.sendfile:
                try:
                    k = os.sendfile(out, self._fd, span.offset + done, want)
                except OSError as exc:
                    if exc.errno not in _NO_SENDFILE or done:
                        raise
                    pipe.sendfile = False
                    continue
            else:
                k = self._copy_by_hand(out, span.offset + done, want)
            if k == 0:
                raise self._changed(f"ended after {span.offset + done} of {self.spec.size} bytes")
            done += k
        self._copied += span.length
        last = self._copied == self.spec.size
        if last:
            self._check_size()
        copy = os.dup(out)  # the caller may close `out` before the hash is taken
        try:
            pipe.submit(lambda: self._hash_written(pipe, copy, at, span.length, last), span.length)
        except BaseException:  # an earlier file failed: this one is not hashed, its fd not kept
            os.close(copy)
            raise

    def _copy_by_hand(self, out: int, offset: int, want: int) -> int:
        assert self._fd is not None and self.pipe is not None
        buf = memoryview(bytearray(min(want, HASH_BLOCK)))
        got = os.preadv(self._fd, [buf], offset)
        write_all(out, buf[:got])
        return got

    def _hash_written(self, pipe: HashPipe, fd: int, at: int, length: int, last: bool) -> None:
        """In the hashing thread: hash the span as it stands in the output, compare at the end,
        and start writing it to the disk (the page cache keeps it until then anyway)."""
        try:
            buf, h, done = pipe.buffer(), self._hash, 0
            while done < length:
                k = os.preadv(fd, [buf[: min(len(buf), length - done)]], at + done)
                if k <= 0:
                    raise CallrecError(
                        f"{visible(self.spec.path)} could not be read back as it was written",
                        code="export_incomplete",
                        path=self.spec.path,
                    )
                h.update(buf[:k])
                done += k
            if last:
                self._compare(h)
            with contextlib.suppress(AttributeError, OSError):
                os.posix_fadvise(fd, at, length, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

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
        raise CallrecError(
            f"{visible(self.spec.path)} was not copied whole", code="export_incomplete", path=self.spec.path
        )

    def _read_bytes(self, n: int) -> bytes:
        assert self._fd is not None
        data = os.pread(self._fd, n, self._pos)
        if len(data) < n:  # a short read of a regular file is its end
            raise self._changed(f"ended after {self._pos + len(data)} of {self.spec.size} bytes")
        self._hash.update(data)
        return data

    def _open(self) -> None:
        spec = self.spec
        assert spec.source is not None
        try:
            # O_NONBLOCK: a recording replaced by a FIFO must fail here, not wait for a writer.
            if spec.spool is None:
                self._fd = os.open(spec.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            else:
                self._fd = beneath.open_file(str(spec.spool), spec.source.relative_to(spec.spool).as_posix())
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._changed("is reached through a symbolic link: not read") from exc
            raise self._changed(f"cannot be read ({exc.strerror})") from exc
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode):
            raise self._changed("is no longer a regular file")
        os.set_blocking(self._fd, True)
        size = st.st_size
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
            raise self._changed(
                f"differs from its ingest hash (sha256 {digest[:12]}…, indexed {self.spec.sha256[:12]}…)",
                actual=digest,
            )
        self.verified = True

    def _changed(self, why: str, **params: Any) -> SourceChanged:
        self._close()
        what = f"call {self.spec.call_id}" if self.spec.call_id is not None else "file"
        return SourceChanged(
            f"{what} ({visible(self.spec.path.rpartition('/')[2])}) {why}: the recording changed"
            " since it was indexed; nothing was exported",
            call_id=self.spec.call_id,
            path=self.spec.path,
            expected=self.spec.sha256,
            **params,
        )

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close()
