"""Benchmarks for retention and purge (not run by the test suite).

    .venv/bin/python -m tests.bench.bench_purge [--calls 50000] [--preview-calls 1000000]

1. Purge of N recordings (default 50,000), journaling and audit included, against a bare loop of
   os.unlink over the same files (same names, sizes and folders, made by the same generator).
   Target: purge <= 2x the bare loop.
2. Retention preview (counts, bytes, oldest, blocked, next date) at 1,000,000 calls, from a
   database filled with synthetic rows carrying the indexer's columns. Target: <= 1 s.
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
from datetime import datetime, timedelta
from pathlib import Path

from demo_data.synth import generate_spool
from services import config as config_mod
from services.clock import JST
from services.config import Config
from services.duties import Duty, Role
from services.retention import raw_kept_through
from services.workspace import Workspace

MANAGER, OPERATOR = "1111", "2222"


async def open_workspace(root: Path) -> Workspace:
    path = root / "config.toml"
    config_mod.write(Config(spool=root / "spool", data=root / "data", settle_seconds=0), path)
    ws = await Workspace.open(config_mod.load(path), create=True)
    await ws.auth.set_pin(Role.MANAGER, MANAGER)
    await ws.auth.set_pin(Role.OPERATOR, OPERATOR)
    return ws


def cpu() -> float:
    """CPU seconds of this process, all threads (less disturbed by other load than wall time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_unlink(folder: Path) -> tuple[float, float]:
    files = [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names]
    began, began_cpu = time.perf_counter(), cpu()
    for f in files:
        os.unlink(f)
    return time.perf_counter() - began, cpu() - began_cpu


async def bench_purge(count: int, rounds: int) -> None:
    start = datetime.now(JST) - timedelta(days=200)
    bare: list[float] = []
    purge: list[float] = []
    bare_cpu: list[float] = []
    purge_cpu: list[float] = []
    for n in range(rounds):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            root = Path(tmp)
            generate_spool(root / "bare", count, start=start, span_days=60, seed=n)
            (root / "spool").mkdir()
            generate_spool(root / "spool", count, start=start, span_days=60, seed=n)
            ws = await open_workspace(root)
            try:
                t = time.perf_counter()
                report = await ws.indexer.scan()
                index_s = time.perf_counter() - t
                assert report.completed == count, report
                boss = await ws.auth.authorize(Role.MANAGER, MANAGER, Duty.ISSUE_INSTRUCTION)
                ins = await ws.instructions.issue_purge(boss)
                op = await ws.auth.authorize(Role.OPERATOR, OPERATOR, Duty.EXECUTE_INSTRUCTION)
                t = time.perf_counter()
                plan = await ws.purge.plan(ins.id)
                plan_s = time.perf_counter() - t
                assert plan.count == count
                wall, used = bare_unlink(root / "bare")
                bare.append(wall)
                bare_cpu.append(used)
                t, c = time.perf_counter(), cpu()
                result = await ws.purge.execute(op, plan, typed_count=plan.count)
                purge.append(time.perf_counter() - t)
                purge_cpu.append(cpu() - c)
                assert result.deleted == count and not any((root / "spool").rglob("*.wav"))
                assert (await ws.audit.verify()).ok
                print(f"round {n + 1}: index {index_s:.1f} s, plan {plan_s:.2f} s,"
                      f" bare unlink {bare[-1]:.3f} s (cpu {bare_cpu[-1]:.3f}),"
                      f" purge {purge[-1]:.3f} s (cpu {purge_cpu[-1]:.3f})"
                      f" = {purge[-1] / bare[-1]:.2f}x; load {os.getloadavg()[0]:.1f}")
            finally:
                await ws.close()
    b, p = statistics.median(bare), statistics.median(purge)
    print(f"purge of {count} recordings: median {p:.3f} s vs bare os.unlink loop {b:.3f} s"
          f" = {p / b:.2f}x (target <= 2x); best {min(purge):.3f} vs {min(bare):.3f} s;"
          f" cpu {statistics.median(purge_cpu):.3f} vs {statistics.median(bare_cpu):.3f} s")


def synthetic_rows(count: int, now: datetime):  # type: ignore[no-untyped-def]
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
            f"{day}/in-0488291111-{other}-{at:%Y%m%d-%H%M%S}-{epoch}.{i}.wav", day, epoch, "in",
            "0488291111", other, "number", f"0488291111 {other}", f"{epoch}.{i}", "wav", 2048,
            epoch * 10**9, 1.0, None if recording else f"{i:064x}",
            "recording" if recording else "complete", raw_kept_through(at).isoformat(), epoch,
            None if recording else epoch,
        )


async def bench_preview(count: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        (root / "spool").mkdir()
        ws = await open_workspace(root)
        try:
            now = datetime.now(JST)
            t = time.perf_counter()
            rows = list(synthetic_rows(count, now))
            for i in range(0, len(rows), 50000):
                await ws.db.executemany(
                    "INSERT INTO calls (path, dir, started_at, type, city_number, other_number,"
                    " caller_id, numbers, uniqueid, fmt, size, mtime_ns, duration_s, sha256, state,"
                    " raw_retention_until, indexed_at, completed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows[i : i + 50000],
                )
            # some holds and an open export instruction naming calls, as in real use
            boss = await ws.auth.authorize(Role.MANAGER, MANAGER, Duty.HOLD)
            for call_id in range(1, count // 2, count // 40):
                await ws.holds.set(boss, call_id, "bench")
            issuer = await ws.auth.authorize(Role.MANAGER, MANAGER, Duty.ISSUE_INSTRUCTION)
            await ws.instructions.issue_export(issuer, purpose="proper-conduct", medium="dvd-r",
                                               call_ids=list(range(100, 600)))
            print(f"filled {count} rows in {time.perf_counter() - t:.1f} s")
            await ws.close()
            ws = await open_workspace(root)  # a cold workspace, as a console start would be
            times = []
            for _ in range(5):
                t = time.perf_counter()
                preview = await ws.retention.preview()
                times.append(time.perf_counter() - t)
            print(f"purgeable {preview.purgeable.count}, blocked {len(preview.blocked)},"
                  f" next {preview.next_deletable_from:%Y-%m-%d} ({preview.next_count})")
            print(f"retention preview at {count} calls: first {times[0] * 1000:.0f} ms,"
                  f" median {statistics.median(times) * 1000:.0f} ms (target <= 1000 ms)")
        finally:
            await ws.close()
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_purge")
    parser.add_argument("--calls", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preview-calls", type=int, default=1000000)
    parser.add_argument("--only", choices=("purge", "preview"))
    args = parser.parse_args()
    if args.only != "preview":
        asyncio.run(bench_purge(args.calls, args.rounds))
    if args.only != "purge":
        asyncio.run(bench_preview(args.preview_calls))


if __name__ == "__main__":
    main()
