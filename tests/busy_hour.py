"""Two consoles and the indexer service on one data folder, with a recorder at work.

Used by tests/test_busy_hour.py (a short run) and tests/bench/bench_busy_hour.py (the issue's ten
minutes). Each console is a real process with its own Workspace: it follows the index (the indexer
lease), searches once a second, and watches for the other console's instructions. The parent is
the recorder: one new call per second, a file that grows for a moment, then closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from demo_data.synth import wav_header
from services import config as config_mod
from services.calls import CallFilter
from services.clock import JST
from services.duties import Duty, Role
from services.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


async def console(config: Path, duration: float, out: Path, issue_every: float, pin: str) -> None:
    """One console's workload; writes what it measured to `out` as JSON."""
    ws = await Workspace.open(config_mod.load(config))
    stop = asyncio.Event()
    indexer = asyncio.create_task(ws.run_indexer(stop))
    searches: list[tuple[float, float]] = []  # (time, ms)
    seen: dict[str, float] = {}
    issued: dict[str, float] = {}
    errors: list[str] = []
    start = time.time()
    next_issue = start + issue_every if issue_every else float("inf")
    try:
        while time.time() - start < duration:
            tick = time.time()
            try:
                t0 = time.perf_counter()
                await ws.calls.page(CallFilter(number="0901"), limit=100)
                await ws.calls.page(CallFilter(), limit=100)
                searches.append((tick, (time.perf_counter() - t0) * 1000))
                for ins in await ws.instructions.list(open_only=True):
                    seen.setdefault(ins.number, time.time())
                if tick >= next_issue:
                    actor = await ws.auth.authorize(Role.MANAGER, pin, Duty.ISSUE_INSTRUCTION)
                    ins = await ws.instructions.issue_purge(actor, note=f"from pid {os.getpid()}")
                    issued[ins.number] = time.time()
                    next_issue += issue_every
            except Exception as exc:  # every error is a finding: record it, keep going
                errors.append(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(max(0.0, 0.25 - (time.time() - tick)))
    finally:
        stop.set()
        await indexer
        role = ws.indexer.health.role
        await ws.close()
    out.write_text(json.dumps({"searches": searches, "seen": seen, "issued": issued,
                               "errors": errors, "indexer_errors": ws.indexer.health.errors,
                               "role": role}))


@dataclass
class BusyHour:
    recordings: int
    indexed_complete: int
    errors: list[str]
    idle_ms: float
    busy_ms: float
    visibility_s: float  # worst delay before the other console saw an instruction
    instructions: int


def _record(spool: Path, i: int) -> Path:
    now = datetime.now(JST)
    folder = spool / f"{now:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"in-0488291111-0901{i:07d}-{now:%Y%m%d-%H%M%S}-{int(now.timestamp())}.{i}.wav"
    with open(path, "wb") as fh:
        fh.write(wav_header(8000))
        for _ in range(4):
            fh.write(os.urandom(2000))
            fh.flush()
            time.sleep(0.05)
    return path


def run(config: Path, workdir: Path, *, seconds: int, idle: int = 3, pin: str) -> BusyHour:
    cfg = config_mod.load(config)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    service = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config), "indexer"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    outs = [workdir / "console-a.json", workdir / "console-b.json"]
    total = idle + seconds + 8
    consoles = [
        subprocess.Popen([sys.executable, "-m", "tests.busy_hour", str(config), str(total), str(out),
                          str(every), pin], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for out, every in zip(outs, (7.0, 11.0), strict=True)
    ]
    time.sleep(idle + 1)
    busy_from = time.time()
    written = []
    for i in range(seconds):
        t0 = time.time()
        written.append(_record(cfg.spool, i))
        time.sleep(max(0.0, 1.0 - (time.time() - t0)))
    busy_to = time.time()
    for proc in consoles:
        proc.wait(timeout=total + 60)
    service.terminate()
    service.wait(timeout=30)
    results = [json.loads(o.read_text()) for o in outs]
    errors = [e for r in results for e in r["errors"]]
    errors += [p.stderr.read() for p in consoles if p.returncode != 0 and p.stderr]
    idle_ms = [ms for r in results for t, ms in r["searches"] if t < busy_from]
    busy_ms = [ms for r in results for t, ms in r["searches"] if busy_from <= t <= busy_to]
    delays = []
    for me, other in ((results[0], results[1]), (results[1], results[0])):
        for number, at in me["issued"].items():
            delays.append(other["seen"].get(number, float("inf")) - at)

    with sqlite3.connect(cfg.database) as raw:
        complete = raw.execute("SELECT count(*) FROM calls WHERE state = 'complete'").fetchone()[0]
    return BusyHour(len(written), complete, errors, statistics.median(idle_ms),
                    statistics.median(busy_ms), max(delays, default=0.0), len(delays))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("config", type=Path)
    p.add_argument("duration", type=float)
    p.add_argument("out", type=Path)
    p.add_argument("issue_every", type=float)
    p.add_argument("pin")
    a = p.parse_args()
    asyncio.run(console(a.config, a.duration, a.out, a.issue_every, a.pin))
