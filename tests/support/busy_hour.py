"""Two consoles and the indexer service on one data folder, with a recorder at work.

Used by tests/test_busy_hour.py (a short run) and tests/bench/bench_busy_hour.py (the issue's ten
minutes). Each console is a real process running the real console (CallrecApp, headless) with its
own Workspace and indexer (one leads, the other follows: the lease, and the indexer service as a
third contender): it types a search once a second and watches for the other console's instructions.
The parent is the recorder: one new call per second, a file that grows for a moment, then closes.
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
from typing import Any

from demo_data.synth import wav_header
from services.access.duties import Duty, Role
from services.core import config as config_mod
from services.core.clock import JST
from services.workspace import Workspace
from tests.support.workspace import ROOT


def _key(app: Any, key: str) -> None:
    """One key as the terminal driver delivers it (Pilot.press would wait for every thread)."""
    from textual import events

    char = {"slash": "/"}.get(key, key if len(key) == 1 else None)
    event = events.Key(key, char)
    app.post_message(event)


async def _until(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError("the console did not show it in time")
        await asyncio.sleep(0.002)


async def console(
    config: Path, duration: float, out: Path, issue_every: float, pin: str, unlock_pin: str
) -> None:
    """One real console (CallrecApp, headless, its own Workspace and indexer that leads or
    follows), unlocked on the calls view: once a second it types a number into the search and
    times each keystroke to the updated list; every `issue_every` seconds the manager's PIN issues
    an instruction there; it notes when the other console's instructions reach it (through its
    own change signal, as its views learn of them). Writes what it measured to `out` as JSON."""
    from console.app import CallrecApp
    from tests.support.console import call_list

    ws = await Workspace.open(config_mod.load(config))
    app = CallrecApp(ws, kiosk=False, start_indexer=True, poll_seconds=0.5)
    searches: list[tuple[float, float]] = []  # (time, ms) per keystroke
    seen: dict[str, float] = {}
    issued: dict[str, float] = {}
    errors: list[str] = []
    shown = app.notify

    def notify(message: str, *args: Any, severity: str = "information", **kw: Any) -> Any:
        if severity == "error":  # what the user would read as a failure
            errors.append(f"said: {message}")
        return shown(message, *args, severity=severity, **kw)

    app.notify = notify  # type: ignore[method-assign]

    async def learn(_version: int) -> None:
        for ins in await ws.instructions.list(open_only=True):
            seen.setdefault(ins.number, time.time())

    role = "stopped"
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            if unlock_pin == pin:
                await pilot.press("tab")  # the manager (the lock screen offers the operator first)
            await pilot.press(*unlock_pin, "enter")
            await _until(lambda: app.session is not None and app.screen.id == "main", 30)
            lst = call_list(app)
            app.data_changed.subscribe(app, learn)
            out.with_suffix(".ready").touch()
            start = time.time()
            next_issue = start + issue_every if issue_every else float("inf")
            while time.time() - start < duration:
                tick = time.time()
                try:
                    _key(app, "slash")
                    for i, key in enumerate("0901"):
                        before = lst._generation
                        began = time.perf_counter()
                        _key(app, key)
                        await _until(
                            lambda b=before, n="0901"[: i + 1]: (
                                lst._generation > b and lst.filter.number == n and not lst._loading
                            )
                        )
                        searches.append((tick, (time.perf_counter() - began) * 1000))
                    for _ in range(4):
                        _key(app, "backspace")
                    _key(app, "escape")
                    await _until(lambda: lst.filter.number == "" and not lst._loading)
                    if tick >= next_issue:
                        actor = await ws.auth.authorize(Role.MANAGER, pin, Duty.ISSUE_INSTRUCTION)
                        ins = await ws.instructions.issue_purge(actor, note=f"from pid {os.getpid()}")
                        issued[ins.number] = time.time()
                        next_issue += issue_every
                except Exception as exc:  # every error is a finding: record it, keep going
                    errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(max(0.0, 1.0 - (time.time() - tick)))
                if not app.is_running:
                    errors.append("the console stopped")
                    break
            role = ws.indexer.health.role
            await app.shutdown(0, "quit", "operator")
    finally:
        indexer_errors = ws.indexer.health.errors
        await ws.close()
    out.write_text(
        json.dumps(
            {
                "searches": searches,
                "seen": seen,
                "issued": issued,
                "errors": errors,
                "indexer_errors": indexer_errors,
                "role": role,
            }
        )
    )


@dataclass
class BusyHour:
    recordings: int
    indexed_complete: int
    errors: list[str]
    idle_ms: float
    busy_ms: float
    visibility_s: float  # worst delay before the other console saw an instruction
    instructions: int
    idle_p95_ms: float = 0.0
    busy_p95_ms: float = 0.0
    keystrokes: int = 0


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


def run(
    config: Path, workdir: Path, *, seconds: int, idle: int = 3, pin: str, operator_pin: str = "2222"
) -> BusyHour:
    cfg = config_mod.load(config)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    service = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--config", str(config), "indexer"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    outs = [workdir / "console-a.json", workdir / "console-b.json"]
    total = idle + seconds + 8
    logs = [o.with_suffix(".err") for o in outs]  # a file, not a pipe nobody reads for 10 min
    consoles = [  # the manager over SSH and the operator on the floor
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.busy_hour",
                str(config),
                str(total),
                str(out),
                str(every),
                pin,
                unlock,
            ],
            cwd=ROOT,
            env=env,
            stderr=log.open("w"),
            stdout=subprocess.DEVNULL,
        )
        for out, every, unlock, log in zip(outs, (7.0, 11.0), (pin, operator_pin), logs, strict=True)
    ]
    deadline = time.monotonic() + 120
    while not all(o.with_suffix(".ready").exists() for o in outs):  # started and unlocked
        if time.monotonic() > deadline or any(p.poll() is not None for p in consoles):
            raise RuntimeError("a console did not start: " + " ".join(log.read_text() for log in logs))
        time.sleep(0.1)
    time.sleep(idle)
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
    errors += [log.read_text() for p, log in zip(consoles, logs, strict=True) if p.returncode != 0]
    idle_ms = [ms for r in results for t, ms in r["searches"] if t < busy_from]
    busy_ms = [ms for r in results for t, ms in r["searches"] if busy_from <= t <= busy_to]
    delays = []
    for me, other in ((results[0], results[1]), (results[1], results[0])):
        for number, at in me["issued"].items():
            delays.append(other["seen"].get(number, float("inf")) - at)

    with sqlite3.connect(cfg.database) as raw:
        complete = raw.execute("SELECT count(*) FROM calls WHERE state = 'complete'").fetchone()[0]
    return BusyHour(
        len(written),
        complete,
        errors,
        statistics.median(idle_ms),
        statistics.median(busy_ms),
        max(delays, default=0.0),
        len(delays),
        _p95(idle_ms),
        _p95(busy_ms),
        len(idle_ms) + len(busy_ms),
    )


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else 0.0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("config", type=Path)
    p.add_argument("duration", type=float)
    p.add_argument("out", type=Path)
    p.add_argument("issue_every", type=float)
    p.add_argument("pin")
    p.add_argument("unlock_pin")
    a = p.parse_args()
    asyncio.run(console(a.config, a.duration, a.out, a.issue_every, a.pin, a.unlock_pin))
