"""The benchmark runner: python -m tests.bench [NAME ...] [--list] [--quick] [--keep]."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import pkgutil
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import tests.bench as package
from tests.bench import Bench, Context, Figure


def discover() -> list[tuple[str, Bench]]:
    """(area, bench) for every BENCHES list in tests/bench/bench_<area>.py."""
    found: list[tuple[str, Bench]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"tests.bench.{info.name}")
        area = info.name.removeprefix("bench_")
        found.extend((area, as_bench(area, b)) for b in getattr(module, "BENCHES", []))
    return found


def as_bench(area: str, item: object) -> Bench:
    """A Bench, or a plain function made into one: named <area>.<name without bench_>, called
    with the context if it takes a parameter named ctx, else with no arguments."""
    if isinstance(item, Bench):
        return item
    if not callable(item):
        raise TypeError(f"tests/bench/bench_{area}.py: BENCHES holds {item!r}")
    func = item
    name = f"{area}.{func.__name__.removeprefix('bench_')}"
    about = (inspect.getdoc(func) or "").partition("\n")[0]
    if "ctx" in inspect.signature(func).parameters:
        return Bench(name, func, about)
    return Bench(name, lambda _ctx: func(), about)


def selected(area: str, bench: Bench, names: list[str]) -> bool:
    return not names or any(n in (area, bench.name) or bench.name.startswith(n + ".") for n in names)


def run_one(bench: Bench, ctx: Context) -> list[Figure]:
    result = bench.run(ctx)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    rows = result if isinstance(result, list | tuple) else [result]
    return [Figure.of(r) for r in rows]


async def _await(result: object) -> object:
    return await result  # type: ignore[misc]


def table(figures: list[Figure]) -> str:
    def fmt(v: float) -> str:
        return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"

    rows = [("bench", "figure", "target", "ok", "")] + [
        (f.name, f"{fmt(f.value)} {f.unit}".strip(), f.target or "-", "pass" if f.ok else "FAIL", f.note)
        for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)), r[4]]).rstrip() for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="bench names, name prefixes or areas")
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)
    benches = [(a, b) for a, b in discover() if selected(a, b, args.names)]
    if args.list or not benches:
        for area, b in benches or discover():
            print(f"{b.name:<28} {area:<12} {b.about}")
        return 0 if benches or args.list else 2
    base = Path(os.environ.get("CALLREC_BENCH_DIR", tempfile.gettempdir()))
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="callrec-bench-", dir=base))
    figures: list[Figure] = []
    shared: dict[str, object] = {}
    try:
        for _area, bench in benches:
            workdir = root / bench.name
            workdir.mkdir()
            ctx = Context(workdir, args.quick, shared, root)
            began = time.perf_counter()
            print(f"-- {bench.name}: {bench.about}", file=sys.stderr, flush=True)
            try:
                got = run_one(bench, ctx)
            except Exception as exc:
                traceback.print_exc()
                got = [Figure(bench.name, float("nan"), "", "runs", False, f"error: {exc}")]
            for f in got:
                print(
                    f"   {f.name}: {f.value:.4g} {f.unit} ({'pass' if f.ok else 'FAIL'})",
                    file=sys.stderr,
                    flush=True,
                )
            print(f"   ({time.perf_counter() - began:.0f} s)", file=sys.stderr, flush=True)
            figures.extend(got)
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} at the end (other work skews timings)")
    print(table(figures))
    return 0 if all(f.ok for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
