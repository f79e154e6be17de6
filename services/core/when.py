"""A date or a time of day as a person types it (2026-12-04, 令和8年12月4日, 12/4, 昨日 14時頃, ...),
read in two steps: `read` checks the text and everything that does not depend on the day it is
read on; `Phrase.resolve` places it against that day (from the workspace clock) and time zone."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from services.core.errors import CallrecError
from services.core.text import visible

FIRST_DAY = date(1970, 1, 1)  # times are stored as Unix seconds
LAST_DAY = date(2999, 12, 31)

FORMS = (
    "2026-12-04",
    "2026/12/4",
    "20261204",
    "2026年12月4日",
    "令和8年12月4日",
    "R8.12.4",
    "12/4",
    "12月4日",
    "今日",
    "昨日",
    "一昨日",
    "14:05",
    "14時頃",
    "午後2時",
    "12/4 14:00",
)

# Where a whole day with its year is wanted (a command line's --from/--to, read before any clock).
DAY_FORMS = ("2026-12-04", "2026/12/4", "20261204", "2026年12月4日", "令和8年12月4日", "R8.12.4")

# (first day, last day) of each era, keyed by its names as typed (after NFKC and lower()).
_ERAS: dict[str, tuple[date, date]] = {
    **dict.fromkeys(("令和", "r"), (date(2019, 5, 1), LAST_DAY)),
    **dict.fromkeys(("平成", "h"), (date(1989, 1, 8), date(2019, 4, 30))),
}
_WORDS = {
    **dict.fromkeys(("today", "今日", "きょう", "本日"), 0),
    **dict.fromkeys(("yesterday", "昨日", "きのう", "さくじつ"), 1),
    **dict.fromkeys(("一昨日", "おととい", "おとつい"), 2),
}
_APPROX = re.compile(r"^(?:around|about|approx\.?)\s*|\s*(?:頃|ごろ|くらい|ぐらい|位)$")

_DATE = (
    r"(?P<y>\d{4})(?:(?P<s1>[-/.])(?P<m>\d{1,2})(?P=s1)(?P<d>\d{1,2})|年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日?)"
    r"|(?P<y8>\d{4})(?P<m8>\d{2})(?P<d8>\d{2})"
    r"|(?P<era>令和|平成|r|h)\s*(?P<ey>\d{1,2}|元)"
    r"(?:年(?P<em>\d{1,2})月(?P<ed>\d{1,2})日?|(?P<s2>[-/.])(?P<em2>\d{1,2})(?P=s2)(?P<ed2>\d{1,2}))"
    r"|(?P<sm>\d{1,2})[-/.月](?P<sd>\d{1,2})日?"
    rf"|(?P<word>{'|'.join(sorted(_WORDS, key=len, reverse=True))})"
)
_TIME = (
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<se>\d{2}))?\s*(?P<ampm>am|pm)?"
    r"|(?P<jampm>午前|午後)?\s*(?P<jh>\d{1,2})時(?:(?P<jmi>\d{1,2})分|(?P<half>半))?"
    r"|(?P<eh>\d{1,2})\s*(?P<eampm>am|pm)"
)
_PHRASE = re.compile(rf"(?:{_DATE})?(?:\s*t?\s*)(?:{_TIME})?", re.ASCII)
_SECOND = timedelta(seconds=1)


class Precision(StrEnum):
    DAY = "day"
    HOUR = "hour"
    MINUTE = "minute"
    SECOND = "second"


class BadWhen(CallrecError):
    """Text that is not a date or a time of day in any of the forms taken (or an impossible one)."""

    code = "bad_when"


def refused(text: str, why: str = "", forms_taken: tuple[str, ...] = FORMS) -> BadWhen:
    """The error for `text`: the value escaped and cut short, and the forms taken there."""
    shown = visible(text)
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    forms = ", ".join(forms_taken)
    return BadWhen(
        f"not a date or time: {shown!r}{f' ({why})' if why else ''}; use one of: {forms}",
        value=shown,
        forms=forms,
    )


@dataclass(frozen=True)
class When:
    """What a phrase means: a whole day, or a moment (a time of day given) in the time zone."""

    day: date
    at: datetime | None
    precision: Precision
    approximate: bool

    @property
    def moment(self) -> bool:
        return self.at is not None

    def span(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """The first and the last second it covers: its day, or its moment to the precision given
        (14時 is 14:00:00 to 14:59:59)."""
        if self.at is None:
            start = datetime.combine(self.day, time(0), tz)
            return start, datetime.combine(self.day + timedelta(days=1), time(0), tz) - _SECOND
        size = {Precision.HOUR: timedelta(hours=1), Precision.MINUTE: timedelta(minutes=1)}
        return self.at, self.at + size.get(self.precision, _SECOND) - _SECOND


@dataclass(frozen=True)
class Phrase:
    """A checked phrase: an absolute day, or one relative to today (`back` days, or the latest
    month/day not after today), with an optional time of day."""

    text: str
    day: date | None  # an absolute day
    back: int | None  # days before today
    month_day: tuple[int, int] | None  # the latest such day not after today
    clock: time | None
    offset: tzinfo | None  # an ISO time's own offset
    precision: Precision
    approximate: bool

    @property
    def relative(self) -> bool:
        return self.day is None

    def resolve(self, today: date, tz: tzinfo) -> When:
        if self.day is not None:
            day = self.day
        elif self.back is not None:
            day = today - timedelta(days=self.back)
        elif self.month_day is not None:
            day = _latest(*self.month_day, today, self.text)
        else:
            day = today  # a time alone: today at that time
        _in_range(day, self.text)
        if self.clock is None:
            return When(day, None, self.precision, self.approximate)
        at = datetime.combine(day, self.clock, self.offset or tz)
        at = at.astimezone(tz)
        return When(at.date(), at, self.precision, self.approximate)


def signed_minutes(d: timedelta) -> str:
    """+3, -12, ±0: a difference in whole minutes, rounded to the nearest."""
    n = round(d.total_seconds() / 60)
    return f"{n:+d}" if n else "±0"


def parse_when(text: str, today: date, tz: tzinfo) -> When:
    """`text` as a day or a moment, relative to `today` in `tz`; BadWhen if it is neither."""
    return read(text).resolve(today, tz)


def read(text: str) -> Phrase:
    """The phrase `text` is, checked; BadWhen if it is not one of the forms (or is impossible)."""
    value = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    value, approximate = _APPROX.sub("", value), bool(_APPROX.search(value))
    iso = _iso(value, text, approximate)
    if iso is not None:
        return iso
    m = _PHRASE.fullmatch(value.strip()) if value.strip() else None
    if m is None or not (m["y"] or m["y8"] or m["era"] or m["sm"] or m["word"] or _has_time(m)):
        raise refused(text)
    try:
        day, back, month_day = _day(m, text)
        clock, precision = _clock(m, text)
    except ValueError:
        raise refused(text, "no such day or time") from None
    return Phrase(text, day, back, month_day, clock, None, precision, approximate)


def _iso(value: str, text: str, approximate: bool) -> Phrase | None:
    """2026-12-04T14:05[:SS][+09:00]: the machine form the CLI has always taken."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})?", value):
        return None
    try:
        at = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise refused(text, "no such day or time") from None
    _in_range(at.date(), text)
    precision = Precision.SECOND if re.match(r".{10}t\d\d:\d\d:", value) else Precision.MINUTE
    return Phrase(
        text, at.date(), None, None, at.time().replace(tzinfo=None), at.tzinfo, precision, approximate
    )


def _has_time(m: re.Match[str]) -> bool:
    return bool(m["h"] or m["jh"] or m["eh"])


def _day(m: re.Match[str], text: str) -> tuple[date | None, int | None, tuple[int, int] | None]:
    if m["y"]:
        day = date(int(m["y"]), int(m["m"] or m["m2"]), int(m["d"] or m["d2"]))
    elif m["y8"]:
        day = date(int(m["y8"]), int(m["m8"]), int(m["d8"]))
    elif m["era"]:
        first, last = _ERAS[m["era"]]
        year = 1 if m["ey"] == "元" else int(m["ey"])
        if year < 1:
            raise ValueError("no year 0 in an era")
        day = date(first.year + year - 1, int(m["em"] or m["em2"]), int(m["ed"] or m["ed2"]))
        if not first <= day <= last:
            raise ValueError("not within the era")
    elif m["sm"]:
        month, dom = int(m["sm"]), int(m["sd"])
        date(2000, month, dom)  # a day some year has (2000: a leap year)
        return None, None, (month, dom)
    elif m["word"]:
        return None, _WORDS[m["word"]], None
    else:
        return None, None, None
    _in_range(day, text)
    return day, None, None


def _clock(m: re.Match[str], text: str) -> tuple[time | None, Precision]:
    if m["h"]:
        hour, minute, second = int(m["h"]), int(m["mi"]), int(m["se"] or 0)
        hour = _half_day(hour, m["ampm"])
        return time(hour, minute, second), Precision.SECOND if m["se"] else Precision.MINUTE
    if m["jh"]:
        hour = _half_day(int(m["jh"]), {"午前": "am", "午後": "pm"}.get(m["jampm"] or ""))
        if m["half"]:
            return time(hour, 30), Precision.MINUTE
        if m["jmi"]:
            return time(hour, int(m["jmi"])), Precision.MINUTE
        return time(hour), Precision.HOUR
    if m["eh"]:
        return time(_half_day(int(m["eh"]), m["eampm"])), Precision.HOUR
    return None, Precision.DAY


def _half_day(hour: int, half: str | None) -> int:
    """12am is 0:00, 12pm (and 午後0時) noon; with a half, only 0..12."""
    if half is None:
        return hour
    if hour > 12:
        raise ValueError("hour past 12 with am/pm")
    return hour % 12 + (12 if half == "pm" else 0)


def _latest(month: int, dom: int, today: date, text: str) -> date:
    for year in range(today.year, today.year - 9, -1):
        try:
            day = date(year, month, dom)
        except ValueError:
            continue  # 2/29 in a common year
        if day <= today:
            return day
    raise refused(text, "no such day")


def _in_range(day: date, text: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise refused(text, f"from {FIRST_DAY.year} to {LAST_DAY.year}")
