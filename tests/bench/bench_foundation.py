"""Foundation figures (issue 2): cold indexing against a minimal script, new file to index latency,
number search at 1,000,000 calls, memory while indexing 1,000,000 calls, event-loop lag while the
indexer scans and hashes."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from demo_data.synth import wav_header
from services.calls import CallFilter
from services.workspace import Workspace
from tests.bench import Bench, Context, Figure
from tests.bench.common import (
    ROOT,
    LoopLag,
    env_without_config,
    make_spool,
    median,
    percentile,
    write_config,
)

COLD_COUNT = 100_000
BIG_COUNT = 1_000_000
_COMPARED = (
    "path, dir, started_at, type, city_number, other_number, caller_id, numbers, uniqueid,"
    " fmt, size, mtime_ns, duration_s, sha256, state, raw_retention_until"
)


def _python(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env_without_config(),
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def _rows_digest(db: Path) -> str:
    """A digest of the rows that both the indexer and the baseline store, in path order."""
    digest = hashlib.sha256()
    conn = sqlite3.connect(db)
    try:
        for row in conn.execute(f"SELECT {_COMPARED} FROM calls ORDER BY path"):
            digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def _spool(ctx: Context, count: int) -> Path:
    return ctx.shared(f"spool-{count}", lambda folder: make_spool(folder, count))


def cold_start(ctx: Context) -> list[Figure]:
    """Walk + parse + hash + store, cold (empty index), against tests/bench/baseline_index.py
    doing the same work with the same schema. Each side runs three times, alternately, in fresh
    processes; medians compared. The two databases must hold the same rows."""
    count = 5_000 if ctx.quick else COLD_COUNT
    spool = _spool(ctx, count)
    ours: list[float] = []
    baseline: list[float] = []
    for i in range(3):
        db = ctx.workdir / f"baseline-{i}.db"
        baseline.append(float(_python("-m", "tests.bench.baseline_index", str(spool), str(db))))
        cfg = write_config(ctx.workdir / f"ours-{i}", spool)
        assert cfg.source is not None
        result = json.loads(_python("-m", "tests.bench.run_indexer", str(cfg.source)))
        assert result["report"]["completed"] == count, result
        ours.append(result["seconds"])
        if i == 0 and _rows_digest(db) != _rows_digest(cfg.database):
            raise AssertionError("the indexer and the baseline stored different rows")
        shutil.rmtree(cfg.data)
        for f in ctx.workdir.glob(f"baseline-{i}.db*"):
            f.unlink()
    ratio = median(ours) / median(baseline)
    return [
        Figure(
            "index.cold_100k",
            ratio,
            "x",
            "<= 1.5x baseline",
            ratio <= 1.5,
            f"{median(ours):.2f} s vs {median(baseline):.2f} s, {count} files",
        ),
        Figure("index.cold_100k.rate", count / median(ours), "files/s", ""),
    ]


async def loop_lag(ctx: Context) -> Figure:
    """The longest the event loop is blocked while the indexer scans and hashes a cold spool."""
    count = 5_000 if ctx.quick else COLD_COUNT
    cfg = write_config(ctx.workdir, _spool(ctx, count))
    ws = await Workspace.open(cfg, create=True)
    try:
        async with LoopLag() as lag:
            report = await ws.indexer.scan()
    finally:
        await ws.close()
    assert report.added == count
    worst = lag.worst_ms
    return Figure(
        "index.loop_lag",
        worst,
        "ms",
        "<= 100 ms",
        worst <= 100,
        f"p99 {percentile(lag.lags, 99) * 1000:.1f} ms over {len(lag.lags)} wake-ups",
    )


def latency(ctx: Context) -> list[Figure]:
    """A new recording closed in the spool -> its row in the index, seen from another process,
    with `callrec indexer` (the service) following a spool of 100,000 calls."""
    count = 5_000 if ctx.quick else COLD_COUNT
    spool = _spool(ctx, count)
    cfg = write_config(ctx.workdir, spool)
    assert cfg.source is not None
    folder = spool / "2026" / "12" / "31"
    _python(
        "-m",
        "console.cli",
        "--config",
        str(cfg.source),
        "init",
        "--force",
        "--spool",
        str(spool),
        "--data",
        str(cfg.data),
    )
    indexer = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(cfg.source), "indexer"],
        cwd=ROOT,
        env=env_without_config(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    samples: list[float] = []
    try:
        deadline = time.monotonic() + 600
        conn: sqlite3.Connection | None = None
        while conn is None or conn.execute("SELECT count(*) FROM calls").fetchone()[0] < count:
            if indexer.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"indexer stopped: {indexer.stderr.read() if indexer.stderr else ''}")
            time.sleep(0.2)
            if conn is None and cfg.database.exists():
                conn = sqlite3.connect(f"file:{cfg.database}?mode=ro", uri=True)
        folder.mkdir(parents=True)
        time.sleep(1.0)  # the new folder is watched and scanned
        data = b"\x10\x00" * 8000
        rng = random.Random(5)
        for i in range(10 if ctx.quick else 50):
            rel = (
                f"2026/12/31/in-0488291111-090{rng.randrange(10**8):08d}-20261231-1000{i:02d}"
                f"-1798678800.{i}.wav"
            )
            with open(spool / rel, "wb") as fh:
                fh.write(wav_header(len(data)) + data)
            closed = time.perf_counter()
            while conn.execute("SELECT 1 FROM calls WHERE path = ?", (rel,)).fetchone() is None:
                if time.perf_counter() - closed > 10:
                    raise RuntimeError(f"{rel} not indexed after 10 s")
                time.sleep(0.001)
            samples.append((time.perf_counter() - closed) * 1000)
            time.sleep(0.1)
        conn.close()
    finally:
        indexer.send_signal(signal.SIGTERM)
        indexer.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    mid = median(samples)
    return [
        Figure(
            "index.new_file_latency",
            mid,
            "ms",
            "median <= 250 ms",
            mid <= 250,
            f"p95 {percentile(samples, 95):.0f} ms, max {max(samples):.0f} ms, "
            f"{len(samples)} files, {count} calls indexed",
        ),
    ]


def _big_index(ctx: Context) -> dict[str, Any]:
    """1,000,000 tiny recordings on disk, indexed cold in a process of its own (its peak RSS
    measured); the data folder is kept for the search benches."""
    count = 20_000 if ctx.quick else BIG_COUNT

    def build(folder: Path) -> dict[str, Any]:
        began = time.perf_counter()
        spool = make_spool(folder, count, size=128, span_days=365, seed=11)
        made = time.perf_counter() - began
        cfg = write_config(folder, spool)
        assert cfg.source is not None
        result = json.loads(_python("-m", "tests.bench.run_indexer", str(cfg.source)))
        assert result["report"]["completed"] == count, result
        return {"config": cfg, "count": count, "made_s": made, **result}

    return ctx.shared(f"index-{count}", build)


def memory(ctx: Context) -> list[Figure]:
    big = _big_index(ctx)
    rss = big["peak_rss_mb"]
    return [
        Figure(
            "index.memory_1m",
            rss,
            "MB",
            "<= 150 MB",
            rss <= 150,
            f"peak RSS indexing {big['count']} files cold in {big['seconds']:.0f} s: main"
            f" {big['main_rss_mb']:.0f} MB + worker {big['worker_rss_mb']:.0f} MB",
        ),
        Figure("index.cold_1m.rate", big["count"] / big["seconds"], "files/s", ""),
    ]


async def search(ctx: Context) -> list[Figure]:
    """A page of 100 calls by a number substring at 1,000,000 calls: rare, middling, common and
    short needles; the first page and page 11 (offset 1000). Median of 15 runs after a warm-up."""
    big = _big_index(ctx)
    ws = await Workspace.open(big["config"])
    figures: list[Figure] = []
    try:
        rare = await ws.db.scalar(
            "SELECT other_number FROM calls WHERE other_number LIKE '090%' LIMIT 1 OFFSET ?",
            (big["count"] // 1000,),
        )
        needles = [
            ("rare", rare),
            ("rare-5", rare[-5:]),
            ("middling", "2025550"),
            ("common", "0488291111"),
            ("common-3", "090"),
            ("short-2", "12"),
            ("short-1", "7"),
        ]
        for label, needle in needles:
            f = CallFilter(number=needle)
            hits = await ws.calls.count(f)
            for offset in (0, 1000):
                times = []
                for _ in range(16):
                    began = time.perf_counter()
                    page = await ws.calls.page(f, limit=100, offset=offset)
                    times.append((time.perf_counter() - began) * 1000)
                ms = median(times[1:])
                figures.append(
                    Figure(
                        f"search.page_1m.{label}.{'first' if offset == 0 else 'page11'}",
                        ms,
                        "ms",
                        "<= 20 ms",
                        ms <= 20,
                        f"{needle!r}: {hits} hits, {len(page)} shown",
                    )
                )
        for label, needle in needles:
            began = time.perf_counter()
            await ws.calls.count(CallFilter(number=needle))
            figures.append(Figure(f"search.count_1m.{label}", (time.perf_counter() - began) * 1000, "ms", ""))
    finally:
        await ws.close()
    return figures


BENCHES = [
    Bench("index.cold_100k", cold_start, about="cold index of 100k files vs a minimal script"),
    Bench("index.loop_lag", loop_lag, about="event-loop stalls while scanning 100k files"),
    Bench("index.new_file_latency", latency, about="file closed -> row in the index, 50 files"),
    Bench("index.memory_1m", memory, about="peak RSS indexing 1M files (needs ~6 GB of disk)"),
    Bench("search.page_1m", search, about="number search pages at 1M calls"),
]
