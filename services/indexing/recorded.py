"""What counts as recording data, and the day each recording's retention counts from.

A regular file whose bytes are audio is recording data whatever its name says (第4条6(1) counts it),
so a name no layout reads is indexed as `unknown`, never forgotten. A name's date is believed where
the file agrees with it; where it cannot be (an impossible date) or disagrees by more than a day
with both its day folder and the file's own time, retention counts from the latest of the three and
the call is flagged, so an odd name can neither stop the index nor shorten retention.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from services.core.phone import CallerId
from services.indexing.layouts import YEARS, CallType, ParsedName

HEAD_BYTES = 64
_TOLERANCE = timedelta(days=1)
# Containers that say what they hold.
_MAGIC = (b"ID3", b"OggS", b"fLaC", b".snd", b"#!AMR", b"caff")
# Headerless formats the recorder writes: only the suffix can say what they are.
_HEADERLESS = {"ulaw", "alaw", "ul", "al", "sln", "sln16", "g729", "g722", "g726", "raw", "pcm"}
_GSM_FRAME = 33


def suffix(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""


def is_audio(head: bytes, name: str) -> bool:
    """Whether a file's first bytes (and, for headerless formats, its suffix) say it is audio."""
    if not head:
        return False
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return True
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return True
    if head.startswith(_MAGIC):
        return True
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return True  # an MPEG audio frame
    ext = suffix(name).lower()
    if ext == "gsm":
        return all(b >> 4 == 0xD for b in head[::_GSM_FRAME])
    return ext in _HEADERLESS


def read_head(path: str, dir_fd: int | None = None) -> bytes:
    """A regular file's first bytes, never blocking on a FIFO nor following a symlink."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, HEAD_BYTES)
    finally:
        os.close(fd)


def unknown_recording(name: str) -> ParsedName:
    """An audio file no layout reads: no numbers, no date of its own, its name as its id."""
    return ParsedName(None, "", CallType.UNKNOWN.value, None, None, CallerId.UNAVAILABLE, name, suffix(name))


def folder_day(rel_dir: str) -> date | None:
    """The day a YYYY/MM/DD folder names, if it names one."""
    parts = rel_dir.split("/")[-3:]
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    y, m, d = (int(p) for p in parts)
    if y not in YEARS:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Dated:
    started_at: datetime
    anomaly: str | None  # why the name's date was not believed


def date_recording(parsed: ParsedName, rel_dir: str, mtime_ns: int, tz: tzinfo, now: datetime) -> Dated:
    """When a recording started, as far as its name, its day folder and its own time agree."""
    day = folder_day(rel_dir)
    folder = datetime.combine(day, time(), tz) if day else None
    own: datetime | None = datetime.fromtimestamp(mtime_ns / 1e9, tz)
    if own is not None and own.year not in YEARS:
        own = None
    named = parsed.named_at
    if parsed.type == CallType.UNKNOWN.value:
        if folder is not None:
            return Dated(own if own and own.date() == day else folder, None)
        return Dated(own or now, None)
    if named is not None and (
        (own is not None and abs(named - own) <= _TOLERANCE)
        or (day is not None and abs(named.astimezone(tz).date() - day) <= _TOLERANCE)
    ):
        return Dated(named, None)
    latest = max((t for t in (named, folder, own) if t is not None), default=now)
    return Dated(latest, f"name_date:{parsed.named_stamp}")
