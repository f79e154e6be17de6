"""Build the demo spool: the sample recordings re-dated over the three months up to today."""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from demo_data import SAMPLE_MANIFEST, SAMPLE_SPOOL
from demo_data.calls import Call, recording_path

JST = ZoneInfo("Asia/Tokyo")
OPEN, CLOSE = 8 * 3600 + 1800, 17 * 3600 + 1800  # office hours, seconds after midnight
_VARIED_KINDS = ("landline", "mobile")


@dataclass(frozen=True, slots=True)
class SampleFile:
    """A manifest entry of the sample spool."""

    path: Path
    call: Call
    fmt: str
    uniqueid: str
    city_side: str  # first, second or room
    other_party: str
    duration: float
    next_day_folder: bool
    epoch: bool  # a conference name with the epoch appended


def load_samples(spool: Path = SAMPLE_SPOOL, manifest: Path = SAMPLE_MANIFEST) -> list[SampleFile]:
    """The sample recordings listed in the manifest, in manifest order."""
    entries = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    return [
        SampleFile(
            path=spool / e["path"],
            call=Call(e["named_type"], e["first"], e["second"]),
            fmt=e["format"],
            uniqueid=e["uniqueid"],
            city_side=e["city_side"],
            other_party=e["other_party"],
            duration=float(e["duration_s"]),
            next_day_folder="folder:next-day" in e["cases"],
            epoch=e["epoch"],
        )
        for e in entries
    ]


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _vary(sample: SampleFile, rng: random.Random) -> Call:
    """Same call shape, with a different other-party number now and then (repeat callers stay)."""
    call = sample.call
    if sample.other_party not in _VARIED_KINDS or sample.city_side == "room" or rng.random() < 0.4:
        return call
    field = "source" if sample.city_side == "first" else "dest"
    number = getattr(call, field)
    return replace(call, **{field: number[:-4] + f"{rng.randrange(10000):04d}"})


def _schedule(rng: random.Random, first: date, today: date, count: int) -> list[date]:
    """A day for each call: a few today, the rest weekday-weighted over the earlier days."""
    days = [first + timedelta(days=i) for i in range((today - first).days)]
    n_today = max(1, count // 25) if days else count
    weights = [1.0 if d.weekday() < 5 else 0.25 for d in days]
    earlier = rng.choices(days, weights, k=count - n_today) if days else []
    earlier[: min(3, len(earlier))] = days[:3]  # always some of the oldest (past retention)
    return sorted(earlier + [today] * n_today)


def build_demo_spool(
    dest: Path,
    today: date,
    *,
    tz: ZoneInfo = JST,
    seed: int = 0,
    calls: int = 150,
    now: datetime | None = None,
) -> list[Path]:
    """Write `calls` recordings into `dest`, dated over the three months up to `today`.

    Contents are the sample files byte for byte, cycled so every case appears; mtimes are the call
    end times; nothing ends after `now` (default: the real clock). Deterministic for given
    (today, seed) as long as `now` is past the end of `today`'s office hours.
    """
    now = (now or datetime.now(tz)).astimezone(tz)
    if today > now.date():
        raise ValueError(f"{today} is in the future")
    samples = load_samples()
    rng = random.Random(f"{today.isoformat()}/{seed}")
    days = _schedule(rng, months_before(today, 3), today, calls)
    order = [i % len(samples) for i in range(calls)]
    rng.shuffle(order)
    planned: list[tuple[datetime, datetime, SampleFile, Call]] = []
    seen: set[int] = set()
    for day, index in zip(days, order, strict=True):
        sample = samples[index]
        start, folder = _start_time(rng, sample, day, today, now)
        call = sample.call if index not in seen else _vary(sample, rng)
        seen.add(index)
        planned.append((start, folder, sample, call))
    planned.sort(key=lambda item: item[0])
    written: list[Path] = []
    for seq, (start, folder, sample, call) in enumerate(planned, start=100):
        epoch = int(start.timestamp())
        prefix = sample.uniqueid.rpartition("-")[0]
        uid = f"{prefix}-{epoch}.{seq}" if prefix else f"{epoch}.{seq}"
        path = dest / recording_path(
            call, start, uid, sample.fmt, folder, epoch=str(epoch) if sample.epoch else ""
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sample.path, path)
        end = epoch + sample.duration
        os.utime(path, (end, end))
        written.append(path)
    return written


def _start_time(
    rng: random.Random, sample: SampleFile, day: date, today: date, now: datetime
) -> tuple[datetime, datetime]:
    """When a call on `day` starts (Japan time) and which day folder it goes in."""
    tz = now.tzinfo
    if sample.next_day_folder:  # unparked: named 23:59:xx, filed in the next day's folder
        day = min(day, today - timedelta(days=1))
        start = datetime.combine(day, time(23, 59, 40 + rng.randrange(15)), tz)
        if start + timedelta(seconds=sample.duration) > now:
            start -= timedelta(days=1)
        return start, start + timedelta(days=1)
    midnight = datetime.combine(day, time(), tz)
    close = CLOSE
    if day == now.date():  # only earlier today; before opening time, any time so far
        so_far = int((now - midnight).total_seconds() - sample.duration) - 60
        close = min(CLOSE, so_far) if so_far > OPEN + 600 else so_far
    opening = OPEN if close > OPEN + 600 else 0
    start = midnight + timedelta(seconds=rng.randrange(opening, max(close, 1)))
    start = min(start, now - timedelta(seconds=sample.duration + 1))  # just after midnight
    return start, start
