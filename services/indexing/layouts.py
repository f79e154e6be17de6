"""Spool layouts: how a recording's file name says who called whom, and when.

The one place a path is parsed, and `PARTIES` the one place that says which side of a call is the
city's. `freepbx` follows what FreePBX 16 writes (callrecording's sub-record-check and
one_touch_record.php, core, queues, ringgroups, findmefollow, conferences, parking):
    <spool>/YYYY/MM/DD/<type>-<first>-<second>-YYYYMMDD-HHMMSS-<uniqueid>.<fmt>
    <spool>/YYYY/MM/DD/<room>-<room>-always-YYYYMMDD-HHMMSS-<uniqueid>[-<epoch>].<fmt>  (conference)
first is the destination the recording check was given, second the calling side. The second field
(a caller-ID number) and the uniqueid (`<system name>-<epoch>.<seq>`) may contain '-', so names are
matched by patterns anchored on the right-hand fields, never split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from services.core.phone import CallerId, NumberPlan


class CallType(StrEnum):
    IN = "in"
    OUT = "out"
    INTERNAL = "internal"
    EXTERNAL = "external"
    QUEUE = "q"
    RINGGROUP = "rg"
    GENERIC = "generic"
    PARKED = "parked"
    ONDEMAND = "ondemand"
    CONF = "conf"  # conference rooms (FreePBX 13+ writes no type; <= 12 wrote conf-)
    EXTEN = "exten"  # FreePBX <= 12
    FORCE = "force"  # FreePBX <= 12
    PAGE = "page"  # FreePBX <= 12
    UNKNOWN = "unknown"  # audio whose name no layout reads


class Side(StrEnum):
    """Which field of a name is the city's side of the call."""

    FIRST = "first"
    SECOND = "second"
    FIRST_UNLESS_EMPTY = "first_unless_empty"  # generic: first is empty on internal calls
    CENTRE = "centre"  # ondemand: whichever field is the centre's extension or number
    ROOM = "room"  # conferences: the room, and no other party


PARTIES: dict[CallType, Side] = {
    CallType.IN: Side.FIRST,  # DID (s on any-DID routes) | caller ID
    CallType.OUT: Side.SECOND,  # number dialled | calling extension
    CallType.INTERNAL: Side.SECOND,  # called extension | calling extension
    CallType.EXTERNAL: Side.FIRST,  # called extension or queue agent | the outside caller
    CallType.QUEUE: Side.FIRST,  # queue | caller
    CallType.RINGGROUP: Side.FIRST,  # ring group | caller
    CallType.GENERIC: Side.FIRST_UNLESS_EMPTY,  # DID, empty on internal calls | caller
    CallType.PARKED: Side.FIRST,  # extension picking up, or unknown | the picker
    CallType.ONDEMAND: Side.CENTRE,  # called party, or Unknown | calling party
    CallType.CONF: Side.ROOM,
    CallType.EXTEN: Side.FIRST,
    CallType.FORCE: Side.FIRST,
    CallType.PAGE: Side.FIRST,
}

# The formats Asterisk's MixMonitor writes (WAV is wav49); matched without regard to case.
RECORDING_FORMATS = ("wav", "wav49", "gsm", "ulaw", "alaw", "sln", "g729", "g722", "mp3")

YEARS = range(1970, 9000)  # a name dated outside these is impossible, never arithmetic's problem


class SkipReason(StrEnum):
    NOT_REGULAR = "not_regular"  # symlink, FIFO, device, folder with a recording's name
    HIDDEN = "hidden"
    TEMPORARY = "temporary"
    UNPARSED = "unparsed"
    BAD_ENCODING = "bad_encoding"


_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".swx", "~", ".lock", ".crdownload")


@dataclass(frozen=True, slots=True)
class ParsedName:
    named_at: datetime | None  # None: the date in the name is impossible
    named_stamp: str  # the date and time as written, YYYYMMDD-HHMMSS
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


def timestamp(date_digits: str, time_digits: str, tz: tzinfo) -> datetime | None:
    """The moment a name's YYYYMMDD and HHMMSS say, or None when no such moment can be."""
    d, t = date_digits, time_digits
    if not (d.isascii() and d.isdigit() and t.isascii() and t.isdigit()):
        d, t = _NON_DIGIT.sub("", d), _NON_DIGIT.sub("", t)
    if len(d) != 8 or len(t) != 6 or int(d[:4]) not in YEARS:
        return None
    try:
        return datetime(int(d[:4]), int(d[4:6]), int(d[6:]), int(t[:2]), int(t[2:4]), int(t[4:]), tzinfo=tz)
    except ValueError:
        return None


_FORMAT = r"(?P<fmt>(?i:" + "|".join(RECORDING_FORMATS) + r"))"
_TAIL = r"-(?P<date>\d{8})-(?P<time>\d{6})-(?P<uniqueid>[^/]+?)"
_NAMED_TYPES = [t for t in PARTIES if t is not CallType.UNKNOWN]
_TYPED = re.compile(
    r"(?P<type>" + "|".join(re.escape(t.value) for t in _NAMED_TYPES) + r")"
    r"-(?P<first>[^-/]*)-(?P<second>[^/]*)" + _TAIL + r"\." + _FORMAT,
    re.ASCII,
)
_CONFERENCE = re.compile(
    r"(?P<first>[^-/]+)-(?P=first)-(?P<second>always)" + _TAIL + r"(?:-(?P<epoch>\d+))?\." + _FORMAT,
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class FreePBXName:
    """A FreePBX name's fields exactly as written; `type` is "" for a conference's."""

    type: str
    first: str
    second: str
    date: str
    time: str
    uniqueid: str
    fmt: str
    epoch: str = ""  # ConfBridge on Asterisk < 14 appends one to conference names

    @classmethod
    def match(cls, name: str) -> FreePBXName | None:
        m = _TYPED.fullmatch(name)
        if m is not None:
            return cls(m["type"], m["first"], m["second"], m["date"], m["time"], m["uniqueid"], m["fmt"])
        m = _CONFERENCE.fullmatch(name)
        if m is not None:
            return cls(
                "", m["first"], m["second"], m["date"], m["time"], m["uniqueid"], m["fmt"], m["epoch"] or ""
            )
        return None

    def format(self) -> str:
        head = f"{self.type}-{self.first}" if self.type else f"{self.first}-{self.first}"
        epoch = f"-{self.epoch}" if self.epoch else ""
        return f"{head}-{self.second}-{self.date}-{self.time}-{self.uniqueid}{epoch}.{self.fmt}"

    @property
    def call_type(self) -> CallType:
        return CallType(self.type) if self.type else CallType.CONF


def city_and_other(
    kind: CallType, first: str, second: str, plan: NumberPlan
) -> tuple[str | None, str | None, CallerId]:
    """(city number, other number, caller-ID status of the other side) for a name's two fields."""
    side = PARTIES.get(kind, Side.FIRST)
    if side is Side.ROOM:
        room, _ = plan.number(first)
        return room, None, CallerId.UNAVAILABLE
    if side is Side.FIRST_UNLESS_EMPTY:
        side = Side.FIRST if first.strip() else Side.SECOND
    if side is Side.CENTRE:  # the calling party when it is the centre's, else the called one
        side = Side.SECOND if plan.is_centre(plan.number(second)[0]) else Side.FIRST
    city_raw, other_raw = (first, second) if side is Side.FIRST else (second, first)
    city, _ = plan.number(city_raw)
    other, caller_id = plan.number(other_raw)
    return city, other, caller_id


class FreePBXLayout:
    name = "freepbx"

    def __init__(self, tz: tzinfo, numbers: NumberPlan | None = None) -> None:
        self.tz = tz
        self.numbers = numbers or NumberPlan()

    def parse(self, name: str) -> ParsedName | None:
        fields = FreePBXName.match(name)
        if fields is None:
            return None
        kind = fields.call_type
        city, other, caller_id = city_and_other(kind, fields.first, fields.second, self.numbers)
        return ParsedName(
            timestamp(fields.date, fields.time, self.tz),
            f"{fields.date}-{fields.time}",
            kind.value,
            city,
            other,
            caller_id,
            fields.uniqueid,
            fields.fmt,
        )


class PatternLayout:
    """Another recorder's names, described by a regular expression with named groups.

    Required groups: date (YYYYMMDD, separators allowed), time (HHMMSS), city, other.
    Optional: type (default "in"), uniqueid (default: the name without its extension), fmt.
    """

    name = "pattern"

    def __init__(self, pattern: str, tz: tzinfo, numbers: NumberPlan | None = None) -> None:
        self._re = re.compile(pattern)
        self.tz = tz
        self.numbers = numbers or NumberPlan()

    def parse(self, name: str) -> ParsedName | None:
        m = self._re.fullmatch(name)
        if m is None:
            return None
        groups = m.groupdict()
        date, time = groups["date"] or "", groups["time"] or ""
        stem, _, suffix = name.rpartition(".")
        city, _ = self.numbers.number(groups["city"] or "")
        other, caller_id = self.numbers.number(groups["other"] or "")
        return ParsedName(
            timestamp(date, time, self.tz),
            f"{_NON_DIGIT.sub('', date)}-{_NON_DIGIT.sub('', time)}",
            groups.get("type") or CallType.IN.value,
            city,
            other,
            caller_id,
            groups.get("uniqueid") or stem or name,
            groups.get("fmt") or suffix,
        )


Layout = FreePBXLayout | PatternLayout


def make_layout(name: str, pattern: str | None, tz: tzinfo, numbers: NumberPlan | None = None) -> Layout:
    if name == "pattern":
        if not pattern:
            raise ValueError("pattern layout needs a pattern")
        return PatternLayout(pattern, tz, numbers)
    return FreePBXLayout(tz, numbers)
