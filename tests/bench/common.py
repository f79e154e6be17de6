"""Helpers any bench module may use: spools, configurations, disk space, memory, event-loop lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import statistics
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from demo_data.synth import generate_spool
from services.core import config as config_mod
from services.core.config import Config
from services.indexing import worker as index_worker

ROOT = Path(__file__).resolve().parent.parent.parent
SPOOL_START = datetime(2025, 1, 1)


def require_space(folder: Path, needed: int) -> None:
    """Refuse to start a bench that would fill the disk."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise RuntimeError(f"{folder}: {free / 1e9:.1f} GB free, this bench needs {needed / 1e9:.1f}")


def make_spool(folder: Path, count: int, *, size: int = 2048, span_days: int = 90, seed: int = 0) -> Path:
    """A synthetic FreePBX spool of `count` finished recordings of `size` bytes, in `folder`; or,
    when $CALLREC_BENCH_CACHE names a folder, kept there and reused by later runs (a million
    files take minutes to write and to delete). Benches must not change a spool they share."""
    cache = os.environ.get("CALLREC_BENCH_CACHE")
    spool = (
        Path(cache) / f"spool-{SPOOL_START:%Y%m%d}-{count}-{size}-{span_days}-{seed}"
        if cache
        else folder / "spool"
    )
    done = spool.with_name(spool.name + ".done")
    if done.exists():
        return spool
    shutil.rmtree(spool, ignore_errors=True)
    spool.parent.mkdir(parents=True, exist_ok=True)
    require_space(spool.parent, count * (max(size, 4096) + 512) + 500_000_000)
    # All in the past (a file modified in the future would count as still being written).
    generate_spool(spool, count, start=SPOOL_START, span_days=span_days, seed=seed, size=size)
    if cache:
        done.touch()
    return spool


def write_config(folder: Path, spool: Path, *, settle_seconds: float = 5.0) -> Config:
    path = folder / "config.toml"
    config_mod.write(
        Config(spool=spool, data=folder / "data", settle_seconds=settle_seconds, kiosk=False), path
    )
    return config_mod.load(path)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (ru_maxrss where /proc does not say)."""
    peak = index_worker.peak_rss_mb()
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class LoopLag:
    """Measures how late the event loop runs a task that wakes every `interval` seconds: the
    longest time the loop was blocked (what a console would feel as a frozen screen)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(time.perf_counter() - began - self.interval)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def worst_ms(self) -> float:
        return max(self.lags, default=0.0) * 1000


def env_without_config() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CALLREC_CONFIG"}
