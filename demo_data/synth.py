"""Fast generator of large synthetic spools (FreePBX layout) for benchmarks.

python -m demo_data.synth ROOT --count 100000 [--seed 0] [--size 2048]
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from demo_data.calls import JST, SYSTEM_NAME, random_call

HEADER_BYTES = 44


def wav_header(data_bytes: int, rate: int = 8000, bits: int = 16, channels: int = 1) -> bytes:
    """A canonical 44-byte PCM WAVE header for `data_bytes` bytes of sample data."""
    block_align = channels * bits // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # WAVE_FORMAT_PCM
        channels,
        rate,
        rate * block_align,
        block_align,
        bits,
        b"data",
        data_bytes,
    )


def _second_of_day(rng: random.Random) -> int:
    """Mostly office hours (08:30-17:30), some at any time of day."""
    if rng.random() < 0.85:
        return rng.randrange(8 * 3600 + 1800, 17 * 3600 + 1800)
    return rng.randrange(86400)


def generate_spool(
    root: Path,
    count: int,
    *,
    start: datetime,
    span_days: int = 90,
    seed: int = 0,
    size: int = 2048,
    layout: str = "freepbx",
) -> int:
    """Write `count` recordings of `size` bytes under `root`; return how many were written.

    Names use Japan time (a naive `start` is taken as Japan time). Deterministic for a given seed;
    every file has a distinct uniqueid and (when `size` >= 52) distinct content.
    """
    if layout != "freepbx":
        raise ValueError(f"unsupported layout: {layout!r}")
    if size < HEADER_BYTES or size % 2:
        raise ValueError("size must be an even number of bytes, at least 44")
    if span_days < 1:
        raise ValueError("span_days must be at least 1")
    rng = random.Random(seed)
    base = start.replace(tzinfo=JST) if start.tzinfo is None else start.astimezone(JST)
    day0 = base.replace(hour=0, minute=0, second=0, microsecond=0)
    data_len = size - HEADER_BYTES
    header = wav_header(data_len)
    noise = rng.randbytes(data_len + 4096)
    duration = data_len / 16000
    made: set[Path] = set()
    for seq in range(count):
        call = random_call(rng)
        when = day0 + timedelta(days=rng.randrange(span_days), seconds=_second_of_day(rng))
        epoch = int(when.timestamp())
        system = SYSTEM_NAME + "-" if rng.random() < 0.1 else ""
        folder = root / f"{when:%Y/%m/%d}"
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        name = f"{call.type}-{call.dest}-{call.source}-{when:%Y%m%d-%H%M%S}-{system}{epoch}.{seq}.wav"
        offset = rng.randrange(4096) & ~1
        data = noise[offset : offset + data_len]
        if data_len >= 8:
            data = struct.pack("<Q", seq) + data[8:]
        path = folder / name
        with open(path, "wb") as f:
            f.write(header + data)
        end = epoch + duration
        os.utime(path, (end, end))
    return count


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m demo_data.synth", description=__doc__)
    parser.add_argument("root", type=Path, help="spool directory to fill (created if missing)")
    parser.add_argument("--count", type=int, required=True, help="number of recordings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=2048, help="bytes per file (even, >= 44)")
    parser.add_argument("--span-days", type=int, default=90)
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        help="first day, Japan time (default: span-days before today)",
    )
    args = parser.parse_args(argv)
    start = args.start or datetime.now(JST) - timedelta(days=args.span_days)
    began = time.perf_counter()
    try:
        n = generate_spool(
            args.root,
            args.count,
            start=start,
            span_days=args.span_days,
            seed=args.seed,
            size=args.size,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} recordings to {args.root} in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
