"""Spool layouts: how a recording's file name says who called whom, and when.

The one place a path is parsed. `freepbx` follows FreePBX's callrecording module:
    <spool>/YYYY/MM/DD/<type>-<dest>-<source>-YYYYMMDD-HHMMSS-<uniqueid>.<fmt>
The uniqueid may itself contain '-', so the name is matched by an anchored pattern, never split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from services import phone
from services.phone import CallerId


class CallType(StrEnum):
    IN = "in"
    OUT = "out"
    INTERNAL = "internal"
    EXTERNAL = "external"
    QUEUE = "q"
    RINGGROUP = "rg"
    PARKED = "parked"
    ONDEMAND = "ondemand"
    EXTEN = "exten"


# Which field of the name is the city's side. Inbound kinds name the city's DID/extension/queue/
# group as dest and the caller as source; outbound kinds name the city's extension as source.
CITY_SIDE: dict[CallType, str] = {
    CallType.IN: "dest",
    CallType.QUEUE: "dest",
    CallType.RINGGROUP: "dest",
    CallType.PARKED: "dest",
    CallType.ONDEMAND: "dest",
    CallType.EXTEN: "dest",
    CallType.OUT: "source",
    CallType.EXTERNAL: "source",
    CallType.INTERNAL: "source",
}

PATTERN_REQUIRED = ("date", "time", "city", "other")


class SkipReason(StrEnum):
    NOT_REGULAR = "not_regular"  # symlink, FIFO, device, folder with a recording's name
    HIDDEN = "hidden"
    TEMPORARY = "temporary"
    UNPARSED = "unparsed"
    BAD_ENCODING = "bad_encoding"


_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".swx", "~", ".lock", ".crdownload")


@dataclass(frozen=True, slots=True)
class ParsedName:
    started_at: datetime
    type: str
    city_number: str | None
    other_number: str | None
    caller_id: CallerId
    uniqueid: str
    fmt: str


def skip_reason_for_name(name: str) -> SkipReason | None:
    """Names never indexed whatever the layout: hidden, temporary, not valid UTF-8."""
    if name.startswith("."):
        return SkipReason.HIDDEN
    lowered = name.lower()
    if lowered.endswith(_TEMP_SUFFIXES) or lowered.startswith("~"):
        return SkipReason.TEMPORARY
    if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in name):
        return SkipReason.BAD_ENCODING
    return None


_NON_DIGIT = re.compile(r"\D")


def _timestamp(date_digits: str, time_digits: str, tz: tzinfo) -> datetime | None:
    d, t = date_digits, time_digits
    if not (d.isascii() and d.isdigit() and t.isascii() and t.isdigit()):
        d, t = _NON_DIGIT.sub("", d), _NON_DIGIT.sub("", t)
    if len(d) != 8 or len(t) != 6:
        return None
    try:
        return datetime(
            int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]), tzinfo=tz
        )
    except ValueError:
        return None


class FreePBXLayout:
    name = "freepbx"
    _RE = re.compile(
        r"(?P<type>" + "|".join(re.escape(t.value) for t in CallType) + r")"
        r"-(?P<dest>[^-/]*)-(?P<source>[^-/]*)"
        r"-(?P<date>\d{8})-(?P<time>\d{6})"
        r"-(?P<uniqueid>[^/]+?)\.(?P<fmt>[A-Za-z][A-Za-z0-9]{0,7})",
        re.ASCII,
    )

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def parse(self, name: str) -> ParsedName | None:
        m = self._RE.fullmatch(name)
        if m is None:
            return None
        started = _timestamp(m["date"], m["time"], self.tz)
        if started is None:
            return None
        kind = CallType(m["type"])
        if CITY_SIDE[kind] == "dest":
            city_raw, other_raw = m["dest"], m["source"]
        else:
            city_raw, other_raw = m["source"], m["dest"]
        city, _ = phone.normalize(city_raw)
        other, caller_id = phone.normalize(other_raw)
        return ParsedName(started, kind.value, city, other, caller_id, m["uniqueid"], m["fmt"])


class PatternLayout:
    """Another recorder's names, described by a regular expression with named groups.

    Required groups: date (YYYYMMDD, separators allowed), time (HHMMSS), city, other.
    Optional: type (default "in"), uniqueid (default: the name without its extension), fmt.
    """

    name = "pattern"

    def __init__(self, pattern: str, tz: tzinfo) -> None:
        self._re = re.compile(pattern)
        self.tz = tz

    def parse(self, name: str) -> ParsedName | None:
        m = self._re.fullmatch(name)
        if m is None:
            return None
        groups = m.groupdict()
        started = _timestamp(groups["date"] or "", groups["time"] or "", self.tz)
        if started is None:
            return None
        stem, _, suffix = name.rpartition(".")
        city, _ = phone.normalize(groups["city"] or "")
        other, caller_id = phone.normalize(groups["other"] or "")
        return ParsedName(
            started,
            groups.get("type") or CallType.IN.value,
            city,
            other,
            caller_id,
            groups.get("uniqueid") or stem or name,
            groups.get("fmt") or suffix,
        )


Layout = FreePBXLayout | PatternLayout


def make_layout(name: str, pattern: str | None, tz: tzinfo) -> Layout:
    if name == "pattern":
        if not pattern:
            raise ValueError("pattern layout needs a pattern")
        return PatternLayout(pattern, tz)
    return FreePBXLayout(tz)
