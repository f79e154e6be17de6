"""Burning an image with xorriso, and reading the medium back.

The device is an optical drive (/dev/sr0) or an xorriso `stdio:FILE` pseudo-drive, which behaves like
a blank writable disc kept in a file (tests use it). Only a blank medium is written: a used disc is
refused rather than blanked. After the burn exactly the image's sectors are read back and their
SHA-256 compared with the image's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.core.errors import CallrecError, DestinationError, DestinationStorageError
from services.core.text import visible
from services.export.media import SECTOR
from services.export.progress import Meter
from services.export.verify import VerifyFailed, hash_prefix

XORRISO = "xorriso"
PROBE_TIMEOUT_S = 120
_SPACE = re.compile(r"^Media space\s*:\s*(\d+)s", re.M)
_STATUS = re.compile(r"^Media status\s*:\s*(.+)$", re.M)
_WRITTEN = re.compile(r"(\d+)\s+of\s+(\d+)\s+MB written")
_PROBLEM = re.compile(r"^(?:libburn|libisofs|xorriso) : (?:SORRY|FAILURE|FATAL) : (.+)$", re.M)


class BurnError(CallrecError):
    code = "burn_failed"


class BurnDestinationError(BurnError, DestinationError):
    """The drive cannot be used (no xorriso, no answer): the destination is asked again."""

    code = "burn_failed"


@dataclass(frozen=True)
class MediumState:
    blank: bool
    status: str
    free_bytes: int


def device_file(device: str) -> str:
    """The file to read the medium back from."""
    return device.removeprefix("stdio:")


def _xorriso() -> str:
    found = shutil.which(XORRISO)
    if found is None:
        raise BurnDestinationError(
            "xorriso is not installed (apt-get install xorriso)", code="xorriso_missing"
        )
    return found


def _problem(output: str, device: str) -> str:
    found = _PROBLEM.findall(output)
    why = found[0].strip() if found else (output.strip().splitlines() or ["no answer"])[-1]
    return f"{visible(device)}: {visible(why)}"


def probe(device: str) -> MediumState:
    """What is in the drive: blank or not, and how many bytes it can take."""
    if device.startswith("/") and not Path(device).exists():
        raise DestinationStorageError(
            f"{visible(device)}: no such drive (is it connected? is media.device in"
            " the configuration right?)",
            code="drive_missing",
            device=device,
        )
    try:
        proc = subprocess.run(
            [_xorriso(), "-outdev", device, "-tell_media_space"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise BurnDestinationError(
            f"{visible(device)}: the drive did not answer", code="drive_timeout"
        ) from None
    out = proc.stdout + proc.stderr
    space = _SPACE.search(out)
    status = _STATUS.search(out)
    if proc.returncode != 0 or space is None or status is None:
        raise DestinationStorageError(_problem(out, device), code="drive_unusable", device=device)
    text = status.group(1).strip()
    return MediumState(text.startswith("is blank"), text, int(space.group(1)) * SECTOR)


def burn(image: Path, device: str, meter: Meter) -> None:
    """Write the image to the blank medium in `device`; stops xorriso if the export is cancelled."""
    size = image.stat().st_size
    cmd = [_xorriso(), "-as", "cdrecord", "-v", f"dev={device}", str(image)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert proc.stdout is not None
    lines: list[str] = []
    counted = 0
    try:
        for line in proc.stdout:
            lines.append(line)
            m = _WRITTEN.search(line)
            if m:
                now = min(int(m.group(1)) * (1 << 20), size)
                if now > counted:
                    meter.add(now - counted)
                    counted = now
            meter.cancel.check()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    rc = proc.wait()
    if rc != 0:
        raise BurnError(f"burning failed: {_problem(''.join(lines), device)}", device=device)
    meter.add(size - counted)


def read_back(device: str, image_size: int, image_sha256: str, meter: Meter) -> None:
    """Read exactly the image's sectors from the medium and compare their SHA-256."""
    try:
        digest = hash_prefix(device_file(device), image_size, meter)
    except OSError as exc:
        raise VerifyFailed(f"{visible(device)}: cannot read the medium back ({exc.strerror})") from exc
    if digest != image_sha256:
        raise VerifyFailed(
            f"{visible(device)}: the medium reads back differently from the image"
            f" (sha256 {digest[:12]}…, image {image_sha256[:12]}…)",
            device=device,
            expected=image_sha256,
            actual=digest,
        )
