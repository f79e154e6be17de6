"""Plausible calls for a Saitama city call centre, named in the FreePBX layout.

Used by the synthetic spool generator and the simulated recorder.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from services.indexing import FreePBXName

JST = ZoneInfo("Asia/Tokyo")
SYSTEM_NAME = "pbx-saitama-01"
CITY_DIDS = ("0488291111", "0488291112", "0488291113")
EXTENSIONS = tuple(str(n) for n in range(2001, 2021))
QUEUES = ("600", "601")
RING_GROUPS = ("700", "701")
PARKING_SLOTS = ("71", "72")

TYPES = ("in", "q", "out", "internal", "rg", "external", "parked", "ondemand", "exten")
TYPE_WEIGHTS = (48, 14, 14, 6, 5, 4, 3, 3, 3)

_LANDLINE_PREFIXES = ("048", "048", "048", "049", "03", "03", "06", "0480")
_MOBILE_PREFIXES = ("090", "080", "070")
_CALLER_KINDS = ("landline", "mobile", "toll-free", "plus81", "foreign", "anonymous", "unknown", "")
_CALLER_WEIGHTS = (30, 38, 3, 3, 2, 16, 5, 3)
_DIALLED_KINDS = ("landline", "mobile", "toll-free", "international")
_DIALLED_WEIGHTS = (50, 40, 6, 4)


@dataclass(frozen=True, slots=True)
class Call:
    """The naming fields of one recording: type, dest and source as FreePBX writes them."""

    type: str
    dest: str
    source: str


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


def phone_number(rng: random.Random, kind: str) -> str:
    """A number of `kind` as it appears in a file name (`anonymous`, `+81...`, digits...)."""
    if kind == "landline":
        prefix = rng.choice(_LANDLINE_PREFIXES)
        return prefix + _digits(rng, 10 - len(prefix))
    if kind == "mobile":
        return rng.choice(_MOBILE_PREFIXES) + _digits(rng, 8)
    if kind == "toll-free":
        return "0120" + _digits(rng, 6)
    if kind == "plus81":
        return "+81" + rng.choice(("90", "80", "48")) + _digits(rng, 8)
    if kind == "foreign":
        return "+1202555" + "01" + _digits(rng, 2)
    if kind == "international":  # dialled from Japan: 010 + country code + number
        return "0101202555" + "01" + _digits(rng, 2)
    return kind  # "anonymous", "unknown" or "" (nothing at all)


def random_call(rng: random.Random) -> Call:
    """A call with a realistic mix of types and numbers."""
    kind = rng.choices(TYPES, TYPE_WEIGHTS)[0]
    caller = phone_number(rng, rng.choices(_CALLER_KINDS, _CALLER_WEIGHTS)[0])
    if kind == "out":
        dialled = phone_number(rng, rng.choices(_DIALLED_KINDS, _DIALLED_WEIGHTS)[0])
        return Call(kind, dialled, rng.choice(EXTENSIONS))
    if kind == "external":  # the extension (or queue agent) called, then the outside caller
        return Call(kind, rng.choice(EXTENSIONS), caller)
    if kind == "internal":
        a, b = rng.sample(EXTENSIONS, 2)
        return Call(kind, a, b)
    city = {
        "in": CITY_DIDS,
        "q": QUEUES,
        "rg": RING_GROUPS,
        "parked": PARKING_SLOTS,
    }.get(kind, EXTENSIONS)
    return Call(kind, rng.choice(city), caller)


def uniqueid(epoch: int, seq: int, system: str | None = None) -> str:
    """An Asterisk uniqueid: `<epoch>.<seq>`, or `<systemname>-<epoch>.<seq>`."""
    return f"{system}-{epoch}.{seq}" if system else f"{epoch}.{seq}"


def recording_path(
    call: Call,
    start: datetime,
    uid: str,
    fmt: str = "wav",
    folder: datetime | None = None,
    *,
    epoch: str = "",
) -> PurePosixPath:
    """Relative path `YYYY/MM/DD/<type>-<dest>-<source>-YYYYMMDD-HHMMSS-<uid>.<fmt>`, named as
    FreePBX names it (services/indexing/layouts.py; a conference, type "", names its room twice).

    `start` is the local (Japan) time in the name; `folder` (default `start`) picks the day folder.
    """
    day = folder or start
    name = FreePBXName(
        call.type, call.dest, call.source, f"{start:%Y%m%d}", f"{start:%H%M%S}", uid, fmt, epoch
    ).format()
    return PurePosixPath(f"{day:%Y/%m/%d}", name)
