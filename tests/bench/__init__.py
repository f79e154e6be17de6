"""Benchmarks: the figures the issues set, measured on real files, real SQLite, real processes.

Not part of `make test`. Run them with

    make bench                          # all of them
    python -m tests.bench index search  # those whose name starts with index. or search. (or whose
                                        # module is bench_index / bench_search)
    python -m tests.bench --list        # what there is
    python -m tests.bench --quick       # smaller sizes: a smoke run, the figures mean nothing

Adding benchmarks for an area (one module per area, nothing to register by hand):

    # tests/bench/bench_<area>.py
    from tests.bench import Bench
    from tests.bench import Context
    from tests.bench import Figure

    async def page_down(ctx: Context) -> Figure:          # or a plain function
        ...
        return Figure("console.page_down", ms, "ms", "<= 50 ms", ms <= 50)

    BENCHES = [Bench("console.page_down", page_down, about="page down at 1M calls")]

A bench's `run(ctx)` returns one Figure or a list of them (one bench may measure several cases).
Rows as dicts {"bench", "value", "unit", "target", "ok"} are accepted too, and so are plain
functions in BENCHES (named <area>.<function name without bench_>; given the context if they take
a parameter named ctx, else called with no arguments). `ctx.workdir` is a fresh
folder for the bench, removed afterwards (under $CALLREC_BENCH_DIR, default /tmp); `ctx.shared(key,
build)` builds something expensive once per run (a 1M-call index, say) and hands it to every bench
that asks. `tests/bench/common.py` has helpers (spools, workspaces, RSS, event-loop lag); with
$CALLREC_BENCH_CACHE set, the big synthetic spools are kept there between runs.
The runner prints one table (bench, figure, target, ok) and exits 1 if any figure missed its target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str  # "ms", "s", "MB", "x", ...
    target: str  # as the issue states it, e.g. "<= 250 ms"; "" when only informative
    ok: bool = True
    note: str = ""

    @classmethod
    def of(cls, row: Figure | dict[str, Any]) -> Figure:
        if isinstance(row, Figure):
            return row
        return cls(
            str(row["bench"]),
            float(row["value"]),
            str(row.get("unit", "")),
            str(row.get("target", "")),
            bool(row.get("ok", True)),
            str(row.get("note", "")),
        )


Result = Union[Figure, dict[str, Any], Sequence[Union[Figure, dict[str, Any]]]]  # noqa: UP007


@dataclass
class Context:
    workdir: Path
    quick: bool = False
    _shared: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None

    def shared(self, key: str, build: Callable[[Path], Any]) -> Any:
        """`build(folder)` once per run for `key`; the folder lives until the run ends."""
        if key not in self._shared:
            assert self.root is not None
            folder = self.root / f"shared-{key}"
            folder.mkdir(parents=True, exist_ok=True)
            self._shared[key] = build(folder)
        return self._shared[key]


@dataclass(frozen=True)
class Bench:
    name: str
    run: Callable[[Context], Result | Awaitable[Result]]
    about: str = ""


__all__ = ["Bench", "Context", "Figure", "Result"]
