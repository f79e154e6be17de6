"""A big scan's heavy part, in a process of its own.

Listing a folder, parsing names and hashing small files hold Python's GIL most of the time. In the
console's process, threads doing that work hold up the event loop whenever the machine is busy
(a thread holding the GIL is preempted, and the loop waits until it is scheduled again): stalls of
200-300 ms were measured while scanning 100,000 files on a loaded 2-core machine. So a big scan
lists and plans each folder in a worker process, and only the plan (the rows to write) comes back.
Small scans (a new folder, a test) plan in a thread: starting a process costs more than they do.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import signal
import sys
from dataclasses import dataclass, field
from typing import BinaryIO

from services.calls import PRESENT_STATES
from services.indexing.listing import Entry, list_folder
from services.indexing.plan import Known, Ops, Planner


@dataclass(frozen=True)
class Job:
    """One folder to list and plan, with what the index knows about it. Pickled whole to the
    worker (the planner with its layout included: a few hundred bytes)."""

    planner: Planner
    rel_dir: str
    known: dict[str, Known]
    now: int  # written as indexed_at / completed_at
    wall: float  # time.time() when the scan began: files still since settle_seconds are hashed
    settle_seconds: float


@dataclass
class Folder:
    """One folder, listed and planned."""

    rel_dir: str
    subdirs: list[str] = field(default_factory=list)
    files: int = 0
    ops: Ops = field(default_factory=Ops)
    error: str | None = None  # the folder could not be read (why)
    peak_rss_mb: float = 0.0  # the worker process's, when planned in one


def plan_folder(job: Job) -> Folder:
    """List one folder and plan its files: calls gone from it are missing, the rest as the
    planner says (in a worker process, or in a thread of the indexer's)."""
    planner = job.planner
    out = Folder(job.rel_dir)
    try:
        listing = list_folder(planner.spool, job.rel_dir, lambda name: planner.layout.parse(name) is not None)
    except OSError as exc:
        out.error = exc.strerror or str(exc)
        return out
    out.subdirs = listing.subdirs
    out.files = len(listing.files)

    def settled(e: Entry) -> bool:
        return job.wall - e.mtime_ns / 1e9 >= job.settle_seconds

    out.ops = planner.plan(listing.files, job.known, job.now, settled)
    out.ops.skipped[:0] = [(rel, reason.value) for rel, reason in listing.skipped]
    listed = {e.rel for e in listing.files}
    out.ops.missing.extend(
        (k.id, rel) for rel, k in job.known.items() if rel not in listed and k.state in PRESENT_STATES
    )
    return out


# -- the worker processes, seen from the indexer ----------------------------------------------


class WorkerDied(Exception):
    """A worker process ended or answered nonsense: the scan carries on in threads."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def run(self, job: Job) -> Folder:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.proc.stdin.write(len(data).to_bytes(8, "little") + data)
            await self.proc.stdin.drain()
            size = int.from_bytes(await self.proc.stdout.readexactly(8), "little")
            folder = pickle.loads(await self.proc.stdout.readexactly(size))
        except (OSError, asyncio.IncompleteReadError, pickle.UnpicklingError) as exc:
            raise WorkerDied(str(exc)) from exc
        if not isinstance(folder, Folder):
            raise WorkerDied(f"unexpected answer: {type(folder).__name__}")
        return folder

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class WorkerPool:
    """Worker processes for one scan, started on first use. Each is `python -m
    services.indexing.worker` talking over its stdin and stdout (not multiprocessing, which would
    import the parent's main module again in each worker, or fork a process full of threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()  # None: one died
        self._all: list[_Worker] = []

    async def _start(self) -> None:
        for _ in range(self.size):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.indexing.worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,  # never onto the console's screen
            )
            worker = _Worker(proc)
            self._all.append(worker)
            self._idle.put_nowait(worker)

    async def run(self, job: Job) -> Folder:
        if not self._all:
            await self._start()
        worker = await self._idle.get()
        if worker is None:  # once one has died, the scan goes on without them
            self._idle.put_nowait(None)
            raise WorkerDied("an index worker ended")
        try:
            folder = await worker.run(job)
        except WorkerDied:
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(worker)
        return folder

    async def close(self) -> None:
        await asyncio.gather(*(w.stop() for w in self._all), return_exceptions=True)


# -- in the worker process ---------------------------------------------------------------------


def plan_in_worker(job: Job) -> Folder:
    folder = plan_folder(job)
    folder.ops.encode_inserts()
    folder.peak_rss_mb = peak_rss_mb() or 0.0
    return folder


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def main() -> None:
    """Plan folders sent on stdin until it closes; each answer on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the parent to handle
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(8):
        try:
            job = pickle.loads(_read_exactly(stdin, int.from_bytes(header, "little")))
        except EOFError:
            return
        data = pickle.dumps(plan_in_worker(job), protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(len(data).to_bytes(8, "little") + data)
        stdout.flush()


def peak_rss_mb() -> float | None:
    """This process's peak resident set size so far, None where /proc does not say. VmHWM, not
    ru_maxrss: Linux carries ru_maxrss over an exec, so a child would report its parent's peak at
    the time it forked."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    # Run from the module under its own name, so that what is pickled back names
    # services.indexing.worker, not __main__.
    from services.indexing import worker as index_worker

    index_worker.main()
