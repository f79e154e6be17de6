"""Read-back: prove that what was written is what was meant, reading the written bytes again.

An image is parsed with pycdlib (every file must be in the Rock Ridge, Joliet and UDF trees, all three
pointing at the same data), then read once from start to end with the page cache dropped, hashing each
file's extent and the whole image. A folder's files are read back the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

from services.core.errors import CallrecError
from services.core.text import visible
from services.export.media import SECTOR
from services.export.names import TreeNames
from services.export.progress import Meter
from services.export.streams import FileSpec

READ_BLOCK = 4 << 20


class VerifyFailed(CallrecError):
    code = "export_verify_failed"


def drop_cache(fd: int) -> None:
    """Ask the kernel to forget cached pages, so the read-back reads the medium, not memory; and
    to read ahead generously, as the file is read from start to end."""
    with contextlib.suppress(AttributeError, OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)


def _extents(
    path: Path, files: Sequence[FileSpec], names: Mapping[str, TreeNames]
) -> list[tuple[int, int, FileSpec]]:
    """(offset, length, spec) of every file, after checking all trees agree."""
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except PyCdlibException as exc:
        raise VerifyFailed(f"the image written cannot be read back: {exc}") from exc
    try:
        found = sum(len(fs) for _, _, fs in iso.walk(rr_path="/"))
        if found != len(files):
            raise VerifyFailed(f"the image holds {found} files, expected {len(files)}")
        out = []
        for spec in files:
            n = names[spec.path]
            try:
                rr = iso.get_record(rr_path=n.rr)
                jo = iso.get_record(joliet_path=n.joliet)
                udf = iso.get_record(udf_path=n.udf)
            except PyCdlibException as exc:
                raise VerifyFailed(
                    f"{visible(spec.path)} is missing from a tree of the image: {exc}"
                ) from exc
            length = rr.get_data_length()
            extent = rr.extent_location()
            udf_extent = udf.inode.extent_location() if udf.inode is not None else extent
            if (
                length != spec.size
                or jo.get_data_length() != length
                or udf.get_data_length() != length
                or (length and (jo.extent_location() != extent or udf_extent != extent))
            ):
                raise VerifyFailed(f"{visible(spec.path)}: the trees of the image disagree on it")
            out.append((extent * SECTOR, length, spec))
        return sorted(out, key=lambda e: e[0])
    finally:
        iso.close()


def verify_image(
    path: Path,
    files: Sequence[FileSpec],
    names: Mapping[str, TreeNames],
    meter: Meter,
    *,
    whole_image: bool = False,
) -> str | None:
    """Check every file of the image at `path`. With whole_image, also return the SHA-256 of the
    whole image (hashed on a second thread meanwhile): what a burnt medium is compared with."""
    extents = _extents(path, files, names)
    for _, length, spec in extents:
        if length == 0:
            _check(hashlib.sha256(), spec)
    extents = [e for e in extents if e[1] > 0]
    hashes = [hashlib.sha256() for _ in extents]
    whole = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        drop_cache(fd)
        size = os.fstat(fd).st_size
        buf = bytearray(READ_BLOCK)
        view = memoryview(buf)
        pos = 0
        first = 0  # extents are sorted and disjoint: those before `first` are checked
        pool = ThreadPoolExecutor(1, thread_name_prefix="callrec-verify") if whole_image else None
        try:
            while pos < size:
                got = os.readv(fd, [view[: min(READ_BLOCK, size - pos)]])
                if got <= 0:
                    raise VerifyFailed(f"the image ended at byte {pos} of {size}")
                chunk = view[:got]
                whole_done = pool.submit(whole.update, chunk) if pool is not None else None
                end = pos + got
                while first < len(extents) and extents[first][0] < end:
                    off, length, spec = extents[first]
                    if off >= pos:
                        meter.file(spec.path)
                    hashes[first].update(chunk[max(off, pos) - pos : min(off + length, end) - pos])
                    if off + length > end:
                        break
                    _check(hashes[first], spec)
                    first += 1
                if whole_done is not None:
                    whole_done.result()
                meter.add(got)
                pos = end
        finally:
            if pool is not None:
                pool.shutdown()
        if first < len(extents):
            raise VerifyFailed(f"{visible(extents[first][2].path)} lies beyond the end of the image")
    finally:
        os.close(fd)
    return whole.hexdigest() if whole_image else None


def _check(h: hashlib._Hash, spec: FileSpec) -> None:
    digest = h.hexdigest()
    if digest != spec.sha256:
        raise VerifyFailed(
            f"read-back of {visible(spec.path)} gave sha256 {digest[:12]}…,"
            f" written {spec.sha256[:12]}…: the medium is bad",
            path=spec.path,
            expected=spec.sha256,
            actual=digest,
        )


def hash_prefix(path: str, size: int, meter: Meter) -> str:
    """SHA-256 of the first `size` bytes at `path` (a burnt medium: exactly the image's sectors)."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        drop_cache(fd)
        buf = bytearray(READ_BLOCK)
        view = memoryview(buf)
        pos = 0
        while pos < size:
            got = os.readv(fd, [view[: min(READ_BLOCK, size - pos)]])
            if got <= 0:
                raise VerifyFailed(f"the medium ended at byte {pos} of {size}")
            h.update(view[:got])
            meter.add(got)
            pos += got
    finally:
        os.close(fd)
    return h.hexdigest()


def verify_file(path: Path, spec: FileSpec, meter: Meter) -> None:
    """Read one written file back (page cache dropped) and compare with what was meant."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        drop_cache(fd)
        if os.fstat(fd).st_size != spec.size:
            raise VerifyFailed(f"{visible(spec.path)} has the wrong size on the medium")
        meter.file(spec.path)
        buf = bytearray(READ_BLOCK)
        view = memoryview(buf)
        while got := os.readv(fd, [view]):
            h.update(view[:got])
            meter.add(got)
    finally:
        os.close(fd)
    _check(h, spec)
