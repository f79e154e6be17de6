"""The `usb` target: the volume's files in a folder (a mounted USB stick), fsynced and read back.

Files are written under a hidden `.NAME.partial` folder beside the final one and renamed into place
only when every file is written, hashed and synced; a failure leaves nothing but that partial folder,
which the caller removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from services.core.errors import DestinationConflict
from services.core.text import visible
from services.export.progress import Meter
from services.export.streams import FileSpec, HashingReader, HashPipe, chain_prefetch, write_all
from services.export.verify import VerifyFailed, verify_file

BLOCK = 32 << 20  # a Span of a recording, not a buffer (see streams)


def partial_path(final: Path) -> Path:
    return final.parent / f".{final.name}.partial"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (vfat on old kernels) cannot sync a folder; the files are synced
    finally:
        os.close(fd)


def write_folder(files: Sequence[FileSpec], final: Path, meter: Meter) -> None:
    """Write the files into `final` (which must not exist yet) by way of a partial folder."""
    if final.exists():
        raise DestinationConflict(
            f"{visible(final)} exists already; choose another folder",
            code="destination_exists",
            path=str(final),
        )
    partial = partial_path(final)
    partial.mkdir()
    dirs = {partial}
    with HashPipe() as pipe:
        readers = [spec.reader(meter, pipe) for spec in files]
        chain_prefetch(readers)
        _write_files(readers, partial, dirs)
        pipe.settle()
        for r in readers:
            r.finish()
    for d in sorted(
        (d for d in dirs if d == partial or partial in d.parents), key=lambda p: len(p.parts), reverse=True
    ):
        _fsync_dir(d)
    if final.exists():
        raise DestinationConflict(
            f"{visible(final)} appeared while writing; nothing was replaced",
            code="destination_exists",
            path=str(final),
        )
    os.rename(partial, final)
    _fsync_dir(final.parent)


def _write_files(readers: Sequence[HashingReader], partial: Path, dirs: set[Path]) -> None:
    for reader in readers:
        spec = reader.spec
        target = partial / spec.path
        if target.parent not in dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            dirs.update([target.parent, *target.parent.parents])
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
        try:
            left = spec.size
            while left > 0:
                data = reader.read(min(BLOCK, left))
                write_all(fd, data)
                left -= len(data)
            os.fsync(fd)
        finally:
            os.close(fd)
            reader.close()


def verify_folder(files: Sequence[FileSpec], root: Path, meter: Meter) -> None:
    found = sum(len(names) for _, _, names in os.walk(root))
    if found != len(files):
        raise VerifyFailed(f"{visible(root)} holds {found} files, expected {len(files)}")
    for spec in files:
        verify_file(root / spec.path, spec, meter)


def remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
