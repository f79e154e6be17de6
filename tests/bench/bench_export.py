"""Export figures: writing the image (hashing included) against `cp -r` + `sync` of the same files,
read-back verification against `sha256sum` of the image, and the exporting process's peak memory.

    python -m tests.bench.bench_export [--count 1500] [--total-gb 4] [--dir bench-out/export]

Every run starts cold: the page cache of the recordings (and of the image, before a read) is dropped
with posix_fadvise, and `sync` runs first, so all sides read from and write to the disk. The export
runs in a child process (the real service, as the CLI uses it), which reports its phases' times and
its peak RSS. Figures to reach: write >= 0.8x cp+sync, read-back >= 0.8x sha256sum, RSS <= 100 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from services import config as config_mod
from services.clock import JST

ROOT = Path(__file__).resolve().parents[2]


def drop_cache(paths: list[Path]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def child(config_path: str, number: str, out: str) -> None:
    """The export itself, in its own process: phase times and peak RSS as one JSON line."""
    from services.duties import Duty, Role
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
        print(json.dumps({
            "plan_s": t_plan - t0,
            "write_s": verify_start - marks[Phase.WRITE.value],
            "verify_s": t_end - verify_start,
            "total_s": t_end - t0,
            "image_bytes": record.media[0].size,
            "recordings_bytes": plan.recordings_bytes,
            "calls": len(plan.calls),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
        }))
    finally:
        await ws.close()


async def setup(root: Path, count: int, total: int) -> tuple[Path, str]:
    from demo_data.synth import generate_spool
    from services.calls import CallFilter
    from services.config import Config
    from services.duties import Duty, Role
    from services.workspace import Workspace

    spool = root / "spool"
    size = (total // count) & ~1
    t0 = time.perf_counter()
    generate_spool(spool, count, start=datetime.now(JST) - timedelta(days=100), span_days=60,
                   size=size)
    print(f"spool: {count} recordings of {size / 1e6:.2f} MB in {time.perf_counter() - t0:.1f} s")
    cfg_path = root / "config.toml"
    config_mod.write(Config(spool=spool, data=root / "data", settle_seconds=0.5), cfg_path)
    ws = await Workspace.open(config_mod.load(cfg_path), create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        t0 = time.perf_counter()
        await ws.indexer.scan()
        print(f"indexed in {time.perf_counter() - t0:.1f} s")
        ids = [c.id for c in await ws.calls.page(CallFilter(), limit=count + 10)]
        medium = "dvd-r" if total < 4_600_000_000 else "bd-r"
        mgr = await ws.auth.authorize(Role.MANAGER, "1111", Duty.ISSUE_INSTRUCTION)
        ins = await ws.instructions.issue_export(mgr, purpose="crime-prevention", medium=medium,
                                                 call_ids=ids, note="benchmark")
        return cfg_path, ins.number
    finally:
        await ws.close()


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--total-gb", type=float, default=4.0)
    parser.add_argument("--dir", type=Path, default=ROOT / "bench-out" / "export")
    parser.add_argument("--keep", action="store_true", help="keep the spool and outputs")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "NUMBER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child(*args.child))
        return 0

    total = int(args.total_gb * 1e9)
    root: Path = args.dir.absolute()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    free = shutil.disk_usage(root).free
    need = int(total * 3.3)  # the spool, the image, the cp copy, and some room
    if free < need:
        print(f"not enough disk space at {root}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
        return 1
    try:
        cfg_path, number = asyncio.run(setup(root, args.count, total))
        spool_files = files_under(root / "spool")
        image = root / "export.iso"

        subprocess.run(["sync"], check=True)
        drop_cache(spool_files)
        proc = subprocess.run([sys.executable, "-m", "tests.bench.bench_export", "--child",
                               str(cfg_path), number, str(image)], cwd=ROOT, check=True,
                              capture_output=True, text=True)
        ours = json.loads(proc.stdout.strip().splitlines()[-1])

        subprocess.run(["sync"], check=True)
        drop_cache(spool_files)
        t0 = time.perf_counter()
        subprocess.run(["cp", "-r", str(root / "spool"), str(root / "cp-copy")], check=True)
        subprocess.run(["sync"], check=True)
        cp_s = time.perf_counter() - t0

        drop_cache([image])
        sha_s = timed(["sha256sum", str(image)])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    rec, img = ours["recordings_bytes"], ours["image_bytes"]
    write_ratio = (rec / ours["write_s"]) / (rec / cp_s)
    read_ratio = (img / ours["verify_s"]) / (img / sha_s)
    print(f"export of {ours['calls']} recordings, {rec / 1e9:.2f} GB, image {img / 1e9:.2f} GB")
    print(f"  plan (layout of the image)      {ours['plan_s']:6.2f} s")
    w, v = ours["write_s"], ours["verify_s"]
    print(f"  write image + hash + fsync      {w:6.2f} s  {rec / w / 1e6:7.1f} MB/s")
    print(f"  cp -r + sync                    {cp_s:6.2f} s  {rec / cp_s / 1e6:7.1f} MB/s"
          f"  -> ratio {write_ratio:.2f} (>= 0.8)")
    print(f"  read-back verification          {v:6.2f} s  {img / v / 1e6:7.1f} MB/s")
    print(f"  sha256sum of the image          {sha_s:6.2f} s  {img / sha_s / 1e6:7.1f} MB/s"
          f"  -> ratio {read_ratio:.2f} (>= 0.8)")
    print(f"  peak RSS of the exporting process {ours['maxrss_mb']:.1f} MB (<= 100);"
          f" its CPU time {ours['cpu_s']:.1f} s; load average {os.getloadavg()[0]:.1f}")
    ok = write_ratio >= 0.8 and read_ratio >= 0.8 and ours["maxrss_mb"] <= 100
    print("figures reached" if ok else "FIGURES NOT REACHED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
