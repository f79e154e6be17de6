"""Export figures (issue 4): writing the image, hashing included, against `cp -r` + `sync` of the same
recordings; read-back verification against `sha256sum` of the image; the exporting process's peak
memory for 4 GB of 1,500 recordings.

    python -m tests.bench export                 # through the runner, with the other benches
    python -m tests.bench.bench_export [--count 1500] [--total-gb 4] [--rounds 5] [--dir DIR]

Every measurement starts cold and alone: the other side's output removed, `sync`, a pause, then
the page cache of the recordings (or of the image) dropped with posix_fadvise, so every side reads
from and writes to the disk under the same conditions. The export runs in a child process, the
real service as the CLI uses it, which reports its phases' times and its peak RSS (VmHWM); then
sha256sum reads the image it wrote. Every round runs ours and cp on the same filesystem, ours first
and cp first in turn; a round's ratios come from its own pair, so a busy machine disturbs both
sides alike. The figures are the medians over the rounds, with the spread and every round's ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from services.core import config as config_mod
from services.core.clock import JST
from tests.bench import Bench, Context, Figure
from tests.bench.common import ROOT, peak_rss_mb, require_space


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drop_cache(paths: list[Path]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


async def child(config_path: str, number: str, out: str) -> None:
    """The export itself, in its own process: phase times and peak RSS as one JSON line."""
    from services.access.duties import Duty, Role
    from services.export import Phase, Progress
    from services.workspace import Workspace

    ws = await Workspace.open(config_mod.load(Path(config_path)))
    try:
        op = await ws.auth.authorize(Role.OPERATOR, "2222", Duty.EXECUTE_INSTRUCTION)
        t0 = time.perf_counter()
        plan = await ws.exports.prepare(op, number, ws.exports.target(out=out))
        t_plan = time.perf_counter()
        marks: dict[str, float] = {}

        def progress(p: Progress) -> None:
            marks.setdefault(p.phase.value, time.perf_counter())

        record = await ws.exports.run(op, plan, progress=progress)
        t_end = time.perf_counter()
        verify_start = marks[Phase.VERIFY.value]
        usage = os.times()
        print(
            json.dumps(
                {
                    "plan_s": t_plan - t0,
                    "write_s": verify_start - marks[Phase.WRITE.value],
                    "verify_s": t_end - verify_start,
                    "image_bytes": record.media[0].size,
                    "recordings_bytes": plan.recordings_bytes,
                    "calls": len(plan.calls),
                    "rss_mb": peak_rss_mb(),
                    "cpu_s": usage.user + usage.system,
                }
            )
        )
    finally:
        await ws.close()


async def setup(root: Path, count: int, total: int, rounds: int) -> tuple[Path, list[str]]:
    from demo_data.synth import generate_spool
    from services.access.duties import Duty, Role
    from services.calls import CallFilter
    from services.core.config import Config
    from services.workspace import Workspace

    spool = root / "spool"
    size = (total // count) & ~1
    generate_spool(spool, count, start=datetime.now(JST) - timedelta(days=100), span_days=60, size=size)
    cfg_path = root / "config.toml"
    config_mod.write(Config(spool=spool, data=root / "data", settle_seconds=0.5), cfg_path)
    ws = await Workspace.open(config_mod.load(cfg_path), create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        await ws.indexer.scan()
        ids = [c.id for c in await ws.calls.page(CallFilter(), limit=count + 10)]
        medium = "dvd-r" if total < 4_600_000_000 else "bd-r"
        mgr = await ws.auth.authorize(Role.MANAGER, "1111", Duty.ISSUE_INSTRUCTION)
        numbers = []
        for _ in range(rounds):
            ins = await ws.instructions.issue_export(
                mgr, purpose="crime-prevention", medium=medium, call_ids=ids, note="benchmark"
            )
            numbers.append(ins.number)
        return cfg_path, numbers
    finally:
        await ws.close()


SETTLE_S = 5.0  # after `sync`, before a side starts: the disk's own write-back of what came before


def quiet(files: list[Path]) -> None:
    """The same start for every side: everything written so far on disk, a pause, the sources
    (or the image) out of the page cache."""
    subprocess.run(["sync"], check=True)
    time.sleep(SETTLE_S)
    drop_cache(files)


def run_ours(root: Path, cfg_path: Path, number: str, spool_files: list[Path]) -> dict[str, float]:
    """The export in its own process (the real service), from a cold cache; then sha256sum of
    the image it wrote, and the image removed."""
    image = root / "export.iso"
    quiet(spool_files)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_export", "--child", str(cfg_path), number, str(image)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the export failed: {proc.stderr.strip()[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    quiet([image])
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", str(image)], check=True, stdout=subprocess.DEVNULL)
    result["sha_s"] = time.perf_counter() - t0
    image.unlink()
    return result


def run_cp(root: Path, spool_files: list[Path]) -> dict[str, float]:
    """The baseline: `cp -r` of the same recordings on the same filesystem, then `sync`; the copy
    removed."""
    copy = root / "cp-copy"
    quiet(spool_files)
    t0, c0 = time.perf_counter(), children_cpu()
    subprocess.run(["cp", "-r", str(root / "spool"), str(copy)], check=True)
    subprocess.run(["sync"], check=True)
    result = {"cp_s": time.perf_counter() - t0, "cp_cpu_s": children_cpu() - c0}
    shutil.rmtree(copy)
    return result


def measure(root: Path, count: int, total: int, rounds: int) -> dict[str, object]:
    """Rounds of (ours, cp) in turn, the order swapped every round, each side alone on the disk
    (the other's output removed, everything synced, a pause): the one that ran second was up to
    twice as slow here when the first one's 4 GB were still there. Each round's ratios come from
    its own pair; the figures are the medians, with the spread."""
    require_space(root, int(total * 2.3))  # the spool, one image or one copy, some room
    cfg_path, numbers = asyncio.run(setup(root, count, total, rounds))
    spool_files = [p for p in (root / "spool").rglob("*") if p.is_file()]
    runs = []
    for i, number in enumerate(numbers):
        result: dict[str, float] = {}
        sides = [lambda n=number: run_ours(root, cfg_path, n, spool_files), lambda: run_cp(root, spool_files)]
        for side in sides if i % 2 == 0 else reversed(sides):
            result.update(side())
        result["load"] = os.getloadavg()[0]
        result["ours_first"] = i % 2 == 0
        runs.append(result)
    write = [r["cp_s"] / r["write_s"] for r in runs]
    read = [r["sha_s"] / r["verify_s"] for r in runs]
    return {"runs": runs, "write": write, "read": read, "rss_mb": max(r["rss_mb"] for r in runs)}


def spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f}x, min {min(values):.2f}, max {max(values):.2f}"
        f" over {len(values)} rounds ({' '.join(f'{v:.2f}' for v in values)})"
    )


def figures(result: dict[str, object], label: str) -> list[Figure]:
    runs = result["runs"]
    write, read = result["write"], result["read"]
    assert isinstance(runs, list) and isinstance(write, list) and isinstance(read, list)
    rec, img = runs[0]["recordings_bytes"], runs[0]["image_bytes"]
    w, r = statistics.median(write), statistics.median(read)
    rss = float(result["rss_mb"])  # type: ignore[arg-type]
    speeds = "; ".join(
        f"ours {rec / x['write_s'] / 1e6:.0f} MB/s vs cp {rec / x['cp_s'] / 1e6:.0f}"
        f"{' (cp first)' if not x['ours_first'] else ''}"
        f" (CPU s/GB: export {x['cpu_s'] / rec * 1e9:.2f} all phases, cp {x['cp_cpu_s'] / rec * 1e9:.2f}),"
        f" read-back {img / x['verify_s'] / 1e6:.0f} vs sha256sum {img / x['sha_s'] / 1e6:.0f},"
        f" load {x['load']:.1f}"
        for x in runs
    )
    return [
        Figure(
            "export.write_vs_cp", w, "x", ">= 0.8x cp + sync", w >= 0.8, f"{label}; {spread(write)}; {speeds}"
        ),
        Figure(
            "export.readback_vs_sha256sum", r, "x", ">= 0.8x sha256sum", r >= 0.8, f"{label}; {spread(read)}"
        ),
        Figure("export.peak_rss", rss, "MB", "<= 100 MB", rss <= 100, label),
    ]


def export_figures(ctx: Context) -> list[Figure]:
    count, total, rounds = (150, 300_000_000, 1) if ctx.quick else (1500, 4_000_000_000, 5)
    label = f"{count} recordings, {total / 1e9:.1f} GB"
    return figures(measure(ctx.workdir, count, total, rounds), label)


BENCHES = [
    Bench(
        "export.figures",
        export_figures,
        about="image write vs cp+sync, read-back vs sha256sum, peak RSS (4 GB, 1,500)",
    )
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--total-gb", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench-out" / "export")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "NUMBER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child(*args.child))
        return 0
    root: Path = args.dir.absolute()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        result = measure(root, args.count, int(args.total_gb * 1e9), args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for f in figures(result, f"{args.count} recordings, {args.total_gb} GB"):
        print(f"{f.name:<30} {f.value:8.2f} {f.unit:<3} {f.target:<20} {'pass' if f.ok else 'FAIL'}")
        print(f"    {f.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
