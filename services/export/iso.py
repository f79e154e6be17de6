"""The disc image: ISO 9660 + Joliet + Rock Ridge + UDF, built with pycdlib.

Every file is added under all four trees (services.export.names). The data come through
HashingReader, so each recording is hashed as pycdlib writes it and compared with its ingest hash.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pycdlib

from services.errors import CallrecError
from services.export.media import SECTOR
from services.export.names import Namer, TreeNames
from services.export.progress import Meter
from services.export.streams import FileSpec, HashingReader
from services.text import visible

WRITE_BLOCK = 1 << 20


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


def build(files: Sequence[FileSpec], label: str,
          meter: Meter | None = None) -> tuple[pycdlib.PyCdlib, list[HashingReader], Namer]:
    """A pycdlib image holding `files`; nothing is read until it is written."""
    namer, dirs = name_files(files)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", udf="2.60", vol_ident=label,
            sys_ident="LINUX", app_ident_str="CALLREC", pub_ident_str="CALLREC")
    for d in dirs:
        n = namer.get(d)
        iso.add_directory(iso_path=n.iso, rr_name=n.rr_name, joliet_path=n.joliet, udf_path=n.udf)
    readers: list[HashingReader] = []
    for f in files:
        n = namer.get(f.path)
        reader = f.reader(meter)
        readers.append(reader)
        iso.add_fp(reader, f.size, iso_path=n.iso, rr_name=n.rr_name, joliet_path=n.joliet,
                   udf_path=n.udf)
    return iso, readers, namer


def image_size(files: Sequence[FileSpec], label: str) -> int:
    """The exact size in bytes of the image these files make."""
    iso, _, _ = build(files, label)
    try:
        iso.force_consistency()
        return int(iso.pvd.space_size) * SECTOR
    finally:
        iso.close()


def write_image(files: Sequence[FileSpec], label: str, out: Path, meter: Meter) -> dict[str, TreeNames]:
    """Write the image to `out` (which must not exist), fsync it, and return the tree names.

    Raises SourceChanged if a recording differs from its ingest hash, Cancelled if cancelled,
    OSError if the destination fails; the caller removes `out`."""
    iso, readers, namer = build(files, label, meter)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with open(fd, "wb", buffering=WRITE_BLOCK, closefd=True) as fh:
            iso.write_fp(fh, blocksize=WRITE_BLOCK)
            unverified = [r.spec.path for r in readers if not r.verified]
            if unverified:  # pycdlib skipped a file: never hand over such an image
                raise CallrecError(f"the image writer did not copy {visible(unverified[0])}",
                                   code="export_incomplete")
            fh.flush()
            os.fsync(fh.fileno())
        return {f.path: namer.get(f.path) for f in files}
    finally:
        for r in readers:
            r.close()
        iso.close()
