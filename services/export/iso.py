"""The disc image: ISO 9660 + Joliet + Rock Ridge + UDF, built with pycdlib.

Every file is added under all four trees (services.export.names). pycdlib lays the image out and
writes its structures; the recordings come through HashingReader as Spans that ImageFile has the
kernel copy, and each is hashed as it stands in the image and compared with its ingest hash.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, cast

import pycdlib

from services.export.media import SECTOR
from services.export.names import Namer, TreeNames
from services.export.progress import Meter
from services.export.streams import FileSpec, HashingReader, HashPipe, Span, chain_prefetch, write_all

# What pycdlib asks of a reader at a time: a Span, not a buffer, so it may be large; between two
# blocks the export can be cancelled.
WRITE_BLOCK = 32 << 20


def _dirs_of(files: Sequence[FileSpec]) -> list[str]:
    """Parents before children; sorted, so the names do not depend on the order of the files."""
    dirs: set[str] = set()
    for f in files:
        parts = f.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def name_files(files: Sequence[FileSpec]) -> tuple[Namer, list[str]]:
    """Every directory and file's names in the four trees (the same files give the same names)."""
    namer = Namer()
    dirs = _dirs_of(files)
    for d in dirs:
        namer.add(d, is_dir=True)
    for f in files:
        namer.add(f.path, is_dir=False, iso_hint=f.iso_hint)
    return namer, dirs


def build(
    files: Sequence[FileSpec], label: str, meter: Meter | None = None, pipe: HashPipe | None = None
) -> tuple[pycdlib.PyCdlib, list[HashingReader], Namer]:
    """A pycdlib image holding `files`; nothing is read until it is written."""
    namer, dirs = name_files(files)
    iso = pycdlib.PyCdlib()
    iso.new(
        interchange_level=3,
        joliet=3,
        rock_ridge="1.09",
        udf="2.60",
        vol_ident=label,
        sys_ident="LINUX",
        app_ident_str="CALLREC",
        pub_ident_str="CALLREC",
    )
    for d in dirs:
        n = namer.get(d)
        iso.add_directory(iso_path=n.iso, rr_name=n.rr_name, joliet_path=n.joliet, udf_path=n.udf)
    readers: list[HashingReader] = []
    for f in files:
        n = namer.get(f.path)
        reader = f.reader(meter, pipe)
        readers.append(reader)
        # pycdlib's stubs want a BinaryIO; it only reads this forward-only reader
        iso.add_fp(
            cast(BinaryIO, reader),
            f.size,
            iso_path=n.iso,
            rr_name=n.rr_name,
            joliet_path=n.joliet,
            udf_path=n.udf,
        )
    return iso, readers, namer


def image_size(files: Sequence[FileSpec], label: str) -> int:
    """The exact size in bytes of the image these files make."""
    iso, _, _ = build(files, label)
    try:
        iso.force_consistency()
        return int(iso.pvd.space_size) * SECTOR
    finally:
        iso.close()


class ImageFile:
    """The output file pycdlib writes to: unbuffered, every write complete (pycdlib does not look
    at how much was written), a recording's Span copied by the kernel. Opened for reading too: the
    hashing thread reads each recording back from it."""

    mode = "wb"

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)

    def write(self, data: bytes | memoryview | Span) -> int:
        write_all(self.fd, data)
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def __enter__(self) -> ImageFile:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def write_image(files: Sequence[FileSpec], label: str, out: Path, meter: Meter) -> dict[str, TreeNames]:
    """Write the image to `out` (which must not exist), fsync it, and return the tree names.

    Raises SourceChanged if a recording differs from its ingest hash, Cancelled if cancelled,
    OSError if the destination fails; the caller removes `out`."""
    pipe = HashPipe()
    iso, readers, namer = build(files, label, meter, pipe)
    try:
        iso.force_consistency()
        chain_prefetch(
            sorted(readers, key=lambda r: iso.get_record(rr_path=namer.get(r.spec.path).rr).extent_location())
        )
        with ImageFile(out) as fh:
            iso.write_fp(cast(BinaryIO, fh), blocksize=WRITE_BLOCK)  # only written to (see ImageFile)
            pipe.settle()
            for r in readers:  # every file hashed and compared, none skipped by pycdlib
                r.finish()
            os.fsync(fh.fd)
        return {f.path: namer.get(f.path) for f in files}
    finally:
        for r in readers:
            r.close()
        iso.close()
        pipe.close()
