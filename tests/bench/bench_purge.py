"""Retention and purge benchmarks (issue 5).

    python -m tests.bench purge retention      # through the runner (figures in its table)
    python -m tests.bench.bench_purge [--calls 50000] [--rounds 5] [--preview-calls 1000000]

1. purge.50k: a purge of 50,000 recordings, journaling and audit included, against a bare loop of
   os.unlink over the same files (same names, sizes and folders, made by the same generator), run
   back to back in each round (which first alternates). Target: <= 2x the bare loop (the median
   of the rounds' ratios). The CPU time of both is given too (the purge's with its helper process:
   wall time on a shared machine also measures the other work), and where the purge's time went.
2. retention.preview_1m: the retention preview (count, bytes, oldest, blocked with reasons, the next
   date) at 1,000,000 calls, from a database filled with synthetic rows carrying the indexer's
   columns, some held and some named by an open instruction. Target: <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from demo_data.synth import generate_spool
from services.access.duties import Duty, Role
from services.core import config as config_mod
from services.core.clock import JST
from services.core.config import Config
from services.retention.rules import raw_kept_through
from services.workspace import Workspace
from tests.bench import Bench, Context, Figure

MANAGER, OPERATOR = "1111", "2222"


async def open_workspace(root: Path, *, create: bool = True) -> Workspace:
    path = root / "config.toml"
    if create:
        (root / "spool").mkdir(parents=True, exist_ok=True)
        config_mod.write(
            Config(spool=root / "spool", data=root / "data", settle_seconds=0, kiosk=False), path
        )
    ws = await Workspace.open(config_mod.load(path), create=create)
    if create:
        await ws.auth.set_pin(Role.MANAGER, MANAGER)
        await ws.auth.set_pin(Role.OPERATOR, OPERATOR)
    return ws


def cpu() -> float:
    """CPU seconds of this process (all threads) and of its children that have ended (the purge's
    helper process that deletes the files): less disturbed by other load than wall time."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare_unlink(folder: Path) -> tuple[float, float]:
    files = [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names]
    began, began_cpu = time.perf_counter(), cpu()
    for f in files:
        os.unlink(f)
    return time.perf_counter() - began, cpu() - began_cpu


async def purge_round(root: Path, count: int, seed: int) -> dict[str, float]:
    """One round: the same recordings twice; a bare unlink loop over one copy, a purge of the
    other (indexed first, the plan made outside the timing: it is the operator's confirmation).
    Which goes first alternates from round to round."""
    start = datetime.now(JST) - timedelta(days=200)
    generate_spool(root / "bare", count, start=start, span_days=60, seed=seed)
    generate_spool(root / "spool", count, start=start, span_days=60, seed=seed)
    ws = await open_workspace(root)
    try:
        report = await ws.indexer.scan()
        assert report.completed == count, report
        boss = await ws.auth.authorize(Role.MANAGER, MANAGER, Duty.ISSUE_INSTRUCTION)
        ins = await ws.instructions.issue_purge(boss)
        op = await ws.auth.authorize(Role.OPERATOR, OPERATOR, Duty.EXECUTE_INSTRUCTION)
        plan = await ws.purge.plan(ins.id)
        assert plan.count == count
        if seed % 2 == 0:
            bare, bare_cpu = bare_unlink(root / "bare")
        t, c = time.perf_counter(), cpu()
        result = await ws.purge.execute(op, plan, typed_count=plan.count)
        purge, purge_cpu = time.perf_counter() - t, cpu() - c
        if seed % 2 == 1:
            bare, bare_cpu = bare_unlink(root / "bare")
        assert result.deleted == count and not any((root / "spool").rglob("*.wav"))
        assert await ws.db.scalar("SELECT count(*) FROM audit WHERE action = 'purge.deleted'") == count
        assert (await ws.audit.verify()).ok
    finally:
        await ws.close()
    t = result.timings
    return {
        "bare": bare,
        "bare_cpu": bare_cpu,
        "purge": purge,
        "purge_cpu": purge_cpu,
        "ratio": purge / bare,
        "cpu_ratio": purge_cpu / bare_cpu,
        "load": os.getloadavg()[0],
        "database": t.database,
        "marking": t.steps.marking,
        "chaining": t.steps.sealing,
        "chain_wait": t.steps.waiting,
        "recording": t.steps.recording,
        "deleting": t.deleting,
        "syncing": t.syncing,
        "waiting": t.waiting,
    }


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


async def purge_figures(workdir: Path, count: int, rounds: int) -> list[Figure]:
    runs = []
    for n in range(rounds):
        root = workdir / f"round-{n}"
        root.mkdir(parents=True)
        runs.append(await purge_round(root, count, seed=n))
        r = runs[-1]
        print(
            f"   round {n + 1}: bare {r['bare']:.3f} s (cpu {r['bare_cpu']:.3f}), purge"
            f" {r['purge']:.3f} s (cpu {r['purge_cpu']:.3f}, helper included) ="
            f" {r['ratio']:.2f}x; database {r['database']:.3f} s (marking {r['marking']:.3f},"
            f" audit chained meanwhile {r['chaining']:.3f}, waited for it {r['chain_wait']:.3f},"
            f" recording {r['recording']:.3f}), deleting in the helper {r['deleting']:.3f},"
            f" folders synced/removed {r['syncing']:.3f}, waited for them {r['waiting']:.3f};"
            f" load {r['load']:.1f}",
            flush=True,
        )
        shutil.rmtree(root, ignore_errors=True)
    ratio = _median(runs, "ratio")
    k = f"purge.{count // 1000}k"
    split = ", ".join(
        f"{name} {_median(runs, key):.2f} s"
        for name, key in (
            ("marking", "marking"),
            ("audit chaining (overlaps marking)", "chaining"),
            ("recording", "recording"),
            ("database in all", "database"),
            ("deleting (helper, overlaps the database)", "deleting"),
            ("folders synced and removed (overlaps too)", "syncing"),
            ("waiting for them", "waiting"),
        )
    )
    return [
        Figure(
            f"{k}.vs_unlink",
            ratio,
            "x",
            "<= 2x",
            ratio <= 2,
            f"median of {rounds} rounds' ratios; purge {_median(runs, 'purge'):.2f} s vs bare"
            f" os.unlink {_median(runs, 'bare'):.2f} s (medians)",
        ),
        Figure(
            f"{k}.cpu_vs_unlink",
            _median(runs, "cpu_ratio"),
            "x",
            "",
            note=f"cpu {_median(runs, 'purge_cpu'):.2f} s (helper included) vs"
            f" {_median(runs, 'bare_cpu'):.2f} s",
        ),
        Figure(f"{k}.rate", count / _median(runs, "purge"), "calls/s", "", note=split),
    ]


def synthetic_rows(count: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """A year of calls up to now, in the indexer's columns; the newest three still recording."""
    rng = random.Random(1)
    first = now - timedelta(days=365)
    span = int((now - first).total_seconds())
    for i in range(count):
        at = first + timedelta(seconds=span * i // count)
        epoch = int(at.timestamp())
        day = at.strftime("%Y/%m/%d")
        other = f"090{rng.randrange(10**8):08d}"
        recording = i >= count - 3
        yield (
            f"{day}/in-0488291111-{other}-{at:%Y%m%d-%H%M%S}-{epoch}.{i}.wav",
            day,
            epoch,
            "in",
            "0488291111",
            other,
            "number",
            f"0488291111 {other}",
            f"{epoch}.{i}",
            "wav",
            2048,
            epoch * 10**9,
            1.0,
            None if recording else f"{i:064x}",
            "recording" if recording else "complete",
            raw_kept_through(at).isoformat(),
            epoch,
            None if recording else epoch,
        )


async def fill_index(root: Path, count: int) -> float:
    ws = await open_workspace(root)
    try:
        began = time.perf_counter()
        rows = synthetic_rows(count, datetime.now(JST))
        while chunk := [row for _, row in zip(range(50_000), rows, strict=False)]:
            await ws.db.executemany(
                "INSERT INTO calls (path, dir, started_at, type, city_number, other_number,"
                " caller_id, numbers, uniqueid, fmt, size, mtime_ns, duration_s, sha256, state,"
                " raw_retention_until, indexed_at, completed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
        # some holds and an open export instruction naming calls, as in real use
        boss = await ws.auth.authorize(Role.MANAGER, MANAGER, Duty.HOLD)
        for call_id in range(1, count // 2, max(1, count // 40)):
            await ws.holds.set(boss, call_id, "bench")
        issuer = await ws.auth.authorize(Role.MANAGER, MANAGER, Duty.ISSUE_INSTRUCTION)
        await ws.instructions.issue_export(
            issuer, purpose="proper-conduct", medium="dvd-r", call_ids=list(range(100, 600))
        )
        return time.perf_counter() - began
    finally:
        await ws.close()


async def preview_figures(root: Path, count: int) -> list[Figure]:
    filled = await fill_index(root, count)
    ws = await open_workspace(root, create=False)  # a cold workspace, as a console start has
    try:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            preview = await ws.retention.preview()
            times.append(time.perf_counter() - t)
    finally:
        await ws.close()
    mid = statistics.median(times) * 1000
    return [
        Figure(
            f"retention.preview_{count // 1000}k",
            mid,
            "ms",
            "<= 1000 ms",
            mid <= 1000,
            f"first {times[0] * 1000:.0f} ms; purgeable {preview.purgeable.count},"
            f" blocked {len(preview.blocked)}, next {preview.next_count};"
            f" rows filled in {filled:.0f} s",
        )
    ]


async def purge_bench(ctx: Context) -> list[Figure]:
    return await purge_figures(ctx.workdir, 5_000 if ctx.quick else 50_000, 1 if ctx.quick else 5)


async def preview_bench(ctx: Context) -> list[Figure]:
    return await preview_figures(ctx.workdir, 50_000 if ctx.quick else 1_000_000)


BENCHES = [
    Bench("purge.50k", purge_bench, about="purge 50,000 recordings vs a bare os.unlink loop"),
    Bench("retention.preview_1m", preview_bench, about="retention preview at 1,000,000 calls"),
]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_purge")
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--preview-calls", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("purge", "preview"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("CALLREC_BENCH_DIR")) as tmp:
        figures: list[Figure] = []
        if args.only != "preview":
            figures += asyncio.run(purge_figures(Path(tmp) / "purge", args.calls, args.rounds))
        if args.only != "purge":
            figures += asyncio.run(preview_figures(Path(tmp) / "preview", args.preview_calls))
    for f in figures:
        print(f"{f.name}: {f.value:.3g} {f.unit} (target {f.target or '-'}) {f.note}")


if __name__ == "__main__":
    main()
