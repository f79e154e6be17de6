"""Console benchmarks (issue 3): start, unlock, search, paging and event-loop stalls at 1M calls.

    .venv/bin/python -m tests.bench.bench_console [--calls N]

Each bench returns rows {"bench", "value", "unit", "target", "ok"}; BENCHES lists them for the
shared bench runner (tests/bench/__init__.py) when it exists.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

from services import config as config_mod
from services.clock import JST
from services.config import Config
from services.duties import Role
from services.workspace import Workspace
from tests.test_console_kit import INSERT_CALL, call_list, synthetic_rows

BENCH_ROOT = Path(os.environ.get("CALLREC_BENCH_DIR", "/tmp/callrec-bench"))
MANAGER_PIN, OPERATOR_PIN = "1111", "2222"


def build_workspace(root: Path, calls: int) -> Config:
    """A workspace whose index holds `calls` synthetic calls (built once, then reused)."""
    cfg_path = root / "config.toml"
    done = root / f".built-{calls}"
    if done.exists():
        return config_mod.load(cfg_path)
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    (root / "spool").mkdir(parents=True)
    cfg = Config(spool=root / "spool", data=root / "data", kiosk=False)
    config_mod.write(cfg, cfg_path)
    cfg = config_mod.load(cfg_path)

    async def init() -> None:
        ws = await Workspace.open(cfg, create=True)
        await ws.auth.set_pin(Role.MANAGER, MANAGER_PIN)
        await ws.auth.set_pin(Role.OPERATOR, OPERATOR_PIN)
        await ws.close()

    asyncio.run(init())
    conn = sqlite3.connect(cfg.database)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    began = time.perf_counter()
    with conn:
        conn.executemany(INSERT_CALL, synthetic_rows(calls))
    conn.execute("ANALYZE")
    conn.close()
    print(f"built {calls} calls in {time.perf_counter() - began:.1f} s")
    done.touch()
    return cfg


# -- measurements --------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _row(bench: str, value: float, unit: str, target: float, **extra: object) -> dict[str, object]:
    return {"bench": bench, "value": round(value, 1), "unit": unit, "target": target,
            "ok": value <= target, **extra}


def _copy_db(cfg: Config, dest: Path) -> Config:
    """A throw-away copy of a workspace (its indexer would reconcile the synthetic rows)."""
    import shutil

    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(cfg.data, dest / "data")
    (dest / "spool").mkdir(parents=True)
    new = Config(spool=dest / "spool", data=dest / "data", kiosk=False)
    config_mod.write(new, dest / "config.toml")
    return config_mod.load(dest / "config.toml")


def bench_start_to_lock(calls: int = 1_000_000, runs: int = 3) -> list[dict[str, object]]:
    """Process start (`callrec --config ...` in a pseudo-terminal) to the lock screen on screen."""
    import pty
    import select
    import signal
    import subprocess
    import sys

    cfg = build_workspace(BENCH_ROOT / f"ws-{calls}", calls)
    marker = "役割の切替".encode()
    times: list[float] = []
    for _ in range(runs):
        tmp = _copy_db(cfg, BENCH_ROOT / "start-copy")
        master, slave = pty.openpty()
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "--config", str(tmp.source)],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, close_fds=True,
            env={**os.environ, "TERM": "xterm-256color", "LANG": "ja_JP.UTF-8"},
        )
        os.close(slave)
        seen = b""
        elapsed = None
        while time.perf_counter() - began < 20:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if marker in seen:
                    elapsed = time.perf_counter() - began
                    break
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)
        if elapsed is None:
            raise RuntimeError("the lock screen never appeared")
        times.append(elapsed)
    return [_row("start to lock screen", min(times) * 1000, "ms", 1000, calls=calls,
                 runs=[round(t * 1000) for t in times])]


def send_key(app, key: str) -> None:
    """Deliver one key as the terminal driver would; unlike Pilot.press this does not wait for
    the whole process (other threads included) to go idle, so the time measured is the app's."""
    from textual import events

    char = key if len(key) == 1 else None
    names = {"slash": "/", "backspace": None, "pagedown": None, "end": None, "enter": None,
             "escape": None}
    if key in names:
        char = names[key]
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def _ui_figures(calls: int) -> list[dict[str, object]]:

    from console.app import CallrecApp
    from screens.calls_view import CallList

    cfg = build_workspace(BENCH_ROOT / f"ws-{calls}", calls)
    ws = await Workspace.open(cfg)
    rows: list[dict[str, object]] = []
    try:
        app = CallrecApp(ws, kiosk=False, start_indexer=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)

            async def wait(cond, timeout: float = 10.0) -> None:
                deadline = time.perf_counter() + timeout
                while not cond():
                    if time.perf_counter() > deadline:
                        raise RuntimeError("timed out")
                    await asyncio.sleep(0.001)

            def page_shown(lst: CallList) -> bool:
                top = lst.first_visible
                return lst.row_count > 0 and all(
                    lst.call_at(i) is not None
                    for i in range(top, min(lst.row_count, top + lst.rows_visible)))

            await pilot.press(*OPERATOR_PIN)
            began = time.perf_counter()
            send_key(app, "enter")
            lst = call_list(app)
            await wait(lambda: app.session is not None and app.screen.id == "main" and page_shown(lst))
            await pilot.pause(0)
            rows.append(_row("unlock to a full first page (PIN check included)",
                             (time.perf_counter() - began) * 1000, "ms", 200, calls=calls))
            await wait(lambda: lst.exact)

            # search: each keystroke until the list shows the first page for the new filter
            await pilot.press("slash")
            worst = 0.0
            samples = []
            for key in "0901234":
                before = lst._generation
                began = time.perf_counter()
                send_key(app, key)
                await wait(lambda b=before: (lst._generation > b and page_shown(lst)) or (
                    lst.exact and lst.row_count == 0 and lst._generation > b))
                took = (time.perf_counter() - began) * 1000
                samples.append(round(took, 1))
                worst = max(worst, took)
            rows.append(_row("search keystroke to updated list (worst of 7 keys)", worst, "ms", 100,
                             calls=calls, samples=samples))
            await pilot.press(*["backspace"] * 7)
            await wait(lambda: lst.filter.number == "" and page_shown(lst))
            await pilot.press("escape")
            await wait(lambda: lst.exact)

            worst = 0.0
            samples = []
            for _ in range(20):
                target = lst.cursor + lst.rows_visible - 1
                began = time.perf_counter()
                send_key(app, "pagedown")
                await wait(lambda tgt=target: lst.cursor >= min(tgt, lst.row_count - 1) and page_shown(lst))
                took = (time.perf_counter() - began) * 1000
                samples.append(round(took, 1))
                worst = max(worst, took)
            rows.append(_row("page down (worst of 20)", worst, "ms", 50, calls=calls,
                             median=sorted(samples)[len(samples) // 2]))
            began = time.perf_counter()
            send_key(app, "end")
            await wait(lambda: lst.cursor == lst.row_count - 1 and page_shown(lst))
            rows.append(_row("end (last page, deepest offset)", (time.perf_counter() - began) * 1000,
                             "ms", 1000, calls=calls))
    finally:
        await ws.close()
    return rows


def bench_ui(calls: int = 1_000_000) -> list[dict[str, object]]:
    return asyncio.run(_ui_figures(calls))


async def _stall_figures(files: int) -> list[dict[str, object]]:
    """The largest event-loop stall while this console's indexer scans and hashes a new spool."""
    import shutil

    from console.app import CallrecApp
    from demo_data.synth import generate_spool

    root = BENCH_ROOT / f"stall-{files}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "spool").mkdir(parents=True)
    generate_spool(root / "spool", files, start=datetime.now(JST) - timedelta(days=30), span_days=30,
                   size=16 * 1024)
    cfg = Config(spool=root / "spool", data=root / "data", kiosk=False, settle_seconds=0.5)
    config_mod.write(cfg, root / "config.toml")
    cfg = config_mod.load(root / "config.toml")
    ws = await Workspace.open(cfg, create=True)
    await ws.auth.set_pin(Role.OPERATOR, OPERATOR_PIN)
    await ws.auth.set_pin(Role.MANAGER, MANAGER_PIN)
    lags: list[float] = []
    loop = asyncio.get_running_loop()
    began = time.perf_counter()

    async def monitor() -> None:  # a 10 ms heartbeat: how late does it wake up?
        while True:
            t0 = loop.time()
            await asyncio.sleep(0.01)
            lags.append((loop.time() - t0 - 0.01) * 1000)

    watch = asyncio.create_task(monitor())
    try:
        app = CallrecApp(ws, kiosk=False, start_indexer=True)
        async with app.run_test(size=(120, 40)) as pilot:
            for key in OPERATOR_PIN:
                send_key(app, key)
            send_key(app, "enter")  # unlocked while the scan runs: the list is live meanwhile
            while time.perf_counter() - began < 300:
                await asyncio.sleep(0.05)
                health = ws.indexer.health
                if health.last_scan_at is not None and health.pending == 0:
                    break
            scan_seconds = time.perf_counter() - began
            indexed = await ws.db.scalar("SELECT count(*) FROM calls WHERE state = 'complete'")
            assert pilot is not None
    finally:
        watch.cancel()
        await ws.close()
    return [_row("largest event-loop stall while indexing and hashing", max(lags), "ms", 100,
                 files=files, indexed=indexed, scan_s=round(scan_seconds, 1),
                 p99=round(sorted(lags)[int(len(lags) * 0.99)], 1))]


def bench_stall(files: int = 20_000) -> list[dict[str, object]]:
    return asyncio.run(_stall_figures(files))


async def _arrival_figures(calls: int, arrivals: int) -> list[dict[str, object]]:
    """A real file written into the spool of a console whose index holds `calls` calls: the time
    until it is the top row of the list, cursor untouched (the indexer leads in this process)."""
    import shutil

    from console.app import CallrecApp
    from demo_data.synth import wav_header

    cfg = build_workspace(BENCH_ROOT / f"ws-{calls}", calls)
    live = BENCH_ROOT / "arrival"
    shutil.rmtree(live, ignore_errors=True)
    (live / "spool").mkdir(parents=True)
    conn = sqlite3.connect(cfg.database)  # same index, an empty spool whose calls are not missing
    target = sqlite3.connect(live / "callrec.db")
    conn.backup(target)
    conn.close()
    target.close()
    (live / "data").mkdir()
    (live / "callrec.db").rename(live / "data" / "callrec.db")
    shutil.copytree(cfg.keys_dir, live / "data" / "keys")
    new = Config(spool=live / "spool", data=live / "data", kiosk=False, settle_seconds=1.0)
    config_mod.write(new, live / "config.toml")
    new = config_mod.load(live / "config.toml")
    db = sqlite3.connect(new.database)
    with db:  # the synthetic rows have no files: say so once, as if purged long ago
        db.execute("UPDATE calls SET state = 'purged'")
    db.close()
    ws = await Workspace.open(new)
    times: list[float] = []
    try:
        app = CallrecApp(ws, kiosk=False, start_indexer=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(*OPERATOR_PIN, "enter")
            lst = call_list(app)
            deadline = time.perf_counter() + 60
            while not (ws.indexer.health.role == "leader" and ws.indexer.health.last_scan_at
                       and lst.exact and app.screen.id == "main"):
                if time.perf_counter() > deadline:
                    raise RuntimeError("the console never got ready")
                await asyncio.sleep(0.01)
            await pilot.press("down", "down")
            await asyncio.sleep(0.5)
            for n in range(arrivals):
                selected = lst.selected
                now = datetime.now(JST)
                folder = new.spool / f"{now:%Y/%m/%d}"
                folder.mkdir(parents=True, exist_ok=True)
                name = f"in-0488291111-0901234{n:04d}-{now:%Y%m%d-%H%M%S}-{int(now.timestamp())}.{n}.wav"
                began = time.perf_counter()
                (folder / name).write_bytes(wav_header(0))
                while not (lst.call_at(0) is not None and lst.call_at(0).path.endswith(name)):
                    if time.perf_counter() - began > 10:
                        raise RuntimeError("the new recording never appeared")
                    await asyncio.sleep(0.002)
                times.append((time.perf_counter() - began) * 1000)
                assert lst.selected is not None and selected is not None
                assert lst.selected.id == selected.id, "the cursor moved"
                await asyncio.sleep(0.7)
    finally:
        await ws.close()
    return [_row("new recording to the top of the list (worst)", max(times), "ms", 1000, calls=calls,
                 samples=[round(t) for t in times])]


def bench_arrival(calls: int = 1_000_000, arrivals: int = 5) -> list[dict[str, object]]:
    return asyncio.run(_arrival_figures(calls, arrivals))


BENCHES = [bench_start_to_lock, bench_ui, bench_stall, bench_arrival]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_console")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--only", choices=["start", "ui", "stall", "arrival"])
    args = parser.parse_args(argv)
    plan = {"start": lambda: bench_start_to_lock(args.calls), "ui": lambda: bench_ui(args.calls),
            "stall": lambda: bench_stall(args.files), "arrival": lambda: bench_arrival(args.calls)}
    failed = False
    for name, bench in plan.items():
        if args.only and name != args.only:
            continue
        for row in bench():
            failed |= not row["ok"]
            print(json.dumps(row, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
