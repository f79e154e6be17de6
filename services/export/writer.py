"""The blocking part of an export, run in the export's worker thread: every volume written to its
target and read back; for a drive, burnt and read back from the medium. Also: what an export may
leave behind, so that a failure or a dead process removes it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from services.core import units
from services.core.clock import Clock
from services.core.errors import DestinationConflict, DestinationError
from services.core.text import visible
from services.export import burn, destination, directory, iso
from services.export.media import BURN_PAD_SECTORS, SECTOR
from services.export.plan import Target, TargetKind, Volume
from services.export.progress import Cancelled, Meter, Phase
from services.export.records import MediumRecord
from services.export.verify import verify_image

ChangeMedium = Callable[[int, int, str], Coroutine[Any, Any, bool]]
"""(volume, count, device) -> True once the next blank disc is in the drive, False to cancel."""

TRUNCATE = "truncate:"  # an output that existed (a blank pseudo-disc): emptied, not removed


def outputs(target: Target, volumes: Sequence[Volume]) -> list[str]:
    """Every path an export may create: removed if it fails or its process dies."""
    out: list[str] = []
    for v in volumes:
        if target.kind is TargetKind.IMAGE:
            final = Path(v.location)
            out += [str(partial_image(final)), str(final)]
        elif target.kind is TargetKind.FOLDER:
            final = Path(v.location)
            out += [str(directory.partial_path(final)), str(final)]
        elif v.location.startswith("stdio:"):
            # A pseudo-drive is a file: a burn that stops leaves it as it was (absent, or blank).
            disc = Path(burn.device_file(v.location))
            out.append(f"{TRUNCATE}{disc}" if disc.exists() else str(disc))
    return out


def remove_all(paths: Sequence[str]) -> None:
    for p in paths:
        if p.startswith(TRUNCATE):
            with contextlib.suppress(OSError):
                os.truncate(p.removeprefix(TRUNCATE), 0)
        else:
            directory.remove_tree(Path(p))


def partial_image(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial")


def scratch_image(folder: Path, export_id: int, seq: int) -> Path:
    """Where a volume's image is made before it is burnt (in the data folder's exports/)."""
    return folder / f".export-{export_id}-{seq}.iso.partial"


def work_bytes(target: Target, volumes: Sequence[Volume]) -> int:
    """The bytes the progress bar counts: written, read back, burnt, read from the medium."""
    files = sum(f.size for v in volumes for f in v.files)
    if target.kind is TargetKind.FOLDER:
        return 2 * files
    images = sum(v.size for v in volumes)
    return files + images * (3 if target.kind is TargetKind.DEVICE else 1)


def check_medium(device: str, size: int) -> None:
    """The drive holds a blank medium with room for an image of `size` bytes (and the pad)."""
    state = burn.probe(device)
    if not state.blank:
        raise DestinationError(
            f"{visible(device)}: the medium is not blank ({state.status});"
            " insert the blank medium the manager handed over",
            code="medium_not_blank",
            device=device,
        )
    need = size + BURN_PAD_SECTORS * SECTOR
    if state.free_bytes < need:
        raise DestinationError(
            f"{visible(device)}: the medium has room for {units.size(state.free_bytes)},"
            f" the image needs {units.size(need)}",
            code="medium_too_small",
            device=device,
            needed=need,
            free=state.free_bytes,
        )


def write_volumes(
    *,
    export_id: int,
    target: Target,
    volumes: Sequence[Volume],
    meter: Meter,
    scratch: Path,
    clock: Clock,
    loop: asyncio.AbstractEventLoop,
    change_medium: ChangeMedium | None,
) -> list[MediumRecord]:
    """Write and verify every volume, in order."""
    media = []
    for v in volumes:
        meter.cancel.check()
        image_sha: str | None = None
        if target.kind is TargetKind.FOLDER:
            final = Path(v.location)
            meter.begin(Phase.WRITE, v.seq, v.count)
            directory.write_folder(v.files, final, meter)
            meter.begin(Phase.VERIFY, v.seq, v.count)
            directory.verify_folder(v.files, final, meter)
        elif target.kind is TargetKind.IMAGE:
            final = Path(v.location)
            _image(v, partial_image(final), meter, whole_image=False)
            _publish(partial_image(final), final)
        else:
            partial = scratch_image(scratch, export_id, v.seq)
            image_sha = _image(v, partial, meter, whole_image=True)
            assert image_sha is not None
            if v.seq > 1 and "{n}" not in target.location:
                assert change_medium is not None
                ready = asyncio.run_coroutine_threadsafe(
                    change_medium(v.seq, v.count, v.location), loop
                ).result()
                if not ready:
                    raise Cancelled("the export was cancelled at the change of disc")
            check_medium(v.location, v.size)
            meter.begin(Phase.BURN, v.seq, v.count)
            burn.burn(partial, v.location, meter)
            meter.begin(Phase.READBACK, v.seq, v.count)
            burn.read_back(v.location, v.size, image_sha, meter)
            partial.unlink()
        media.append(
            MediumRecord(
                v.seq,
                v.count,
                v.label,
                v.location,
                v.size,
                len(v.files),
                len(v.calls),
                image_sha,
                clock.now(),
            )
        )
    meter.finish()
    return media


def _image(v: Volume, partial: Path, meter: Meter, *, whole_image: bool) -> str | None:
    meter.begin(Phase.WRITE, v.seq, v.count)
    names = iso.write_image(v.files, v.label, partial, meter)
    meter.begin(Phase.VERIFY, v.seq, v.count)
    return verify_image(partial, v.files, names, meter, whole_image=whole_image)


def _publish(partial: Path, final: Path) -> None:
    """Give the verified image its name without ever replacing a file of that name."""
    try:
        os.link(partial, final)
    except FileExistsError:
        raise DestinationConflict(
            f"{visible(final)} appeared while writing; nothing was replaced",
            code="destination_exists",
            path=str(final),
        ) from None
    except OSError:  # a filesystem without hard links
        destination.absent(final)
        os.rename(partial, final)
    else:
        partial.unlink()
    fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
