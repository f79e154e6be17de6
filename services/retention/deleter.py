"""Deleting a purge's files, in a helper process so the deletions run beside the database work.

A purge deletes one batch's files while its database transactions settle the batch before and mark
the batch after. In a thread of the same process the deleting loop would wait for the GIL after
every unlink whenever the other side runs Python (chaining audit entries, binding rows): a thread
making many short system calls loses to one computing. A helper process has its own interpreter:

    python -E -S services/retention/unlinker.py SPOOL PARENT_PID

It is stdlib-only; it says it is ready before the first batch, then reads one batch per line,
syncs the database's write-ahead log (the batch's mark was committed without waiting for the disk:
this makes it durable before any of the batch's files go, off the database's critical path),
deletes the files and answers which were absent and which could not be deleted (the purge
process then syncs their folders, `after_deletion`, before it records the deletions). The kernel
kills it if the purge process dies (PR_SET_PDEATHSIG on Linux), and it keeps the purge lease's
file open, so no other process can take the lease (and reconcile the journal from the disk) while
it could still be deleting. Where the helper cannot start, the purge deletes in a thread of its
own process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from services.retention.journal import Marked, Outcome
from services.retention.unlinker import READY, Deleted, delete_files

HELPER = Path(__file__).with_name("unlinker.py")
STARTUP_SECONDS = 10


class HelperFailed(Exception):
    """The helper process stopped answering (killed, crashed): what it did is read from the disk."""


class FileDeleter:
    """One helper process for one purge: `delete(batch)` one batch at a time, then `close()`."""

    def __init__(self, spool: Path, *, journal: Path | None = None, keep_open: Sequence[int] = ()) -> None:
        self.spool = spool
        self.journal = journal  # synced before each batch's files go (delete_files)
        self.keep_open = tuple(keep_open)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> bool:
        """Start the helper; False if it cannot be started (the caller deletes in a thread)."""
        try:
            # -E -S: no PYTHON* variables, no site packages (it needs neither, and starts faster)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-E",
                "-S",
                str(HELPER),
                str(self.spool),
                str(os.getpid()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                pass_fds=self.keep_open,
                limit=1 << 24,
            )
        except (OSError, ValueError, NotImplementedError):
            return False
        assert proc.stdout is not None
        try:
            ready = await asyncio.wait_for(proc.stdout.readline(), STARTUP_SECONDS)
        except (TimeoutError, OSError, ValueError):
            ready = b""
        if ready != READY:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return False
        self._proc = proc
        return True

    def send(self, marked: Sequence[Marked]) -> None:
        """Hand a marked batch to the helper now (it queues behind the batches sent before, so
        the helper never waits for this process between batches); `receive` its outcome later,
        in the same order."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise HelperFailed("the deleting process is not running")
        request = {
            "paths": [m.path for m in marked],
            "known": [m.known for m in marked],
            "journal": os.fspath(self.journal) if self.journal else None,
        }
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
        except (OSError, RuntimeError) as exc:
            raise HelperFailed(f"the deleting process failed: {exc}") from exc

    async def receive(self, marked: Sequence[Marked]) -> Outcome:
        """What became of the oldest batch sent and not yet received."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise HelperFailed("the deleting process is not running")
        try:
            await proc.stdin.drain()
            line = await proc.stdout.readline()
        except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
            raise HelperFailed(f"the deleting process failed: {exc}") from exc
        if not line:
            raise HelperFailed("the deleting process ended")
        answer = json.loads(line)
        done = Deleted()
        done.absent, done.kept, done.seconds = answer["absent"], answer["kept"], answer["seconds"]
        done.refused = answer["refused"]
        return outcome_of(marked, done)

    async def delete(self, marked: Sequence[Marked]) -> Outcome:
        """Delete the batch's files."""
        self.send(marked)
        return await self.receive(marked)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def delete_here(spool: Path, marked: Sequence[Marked], journal: Path | None = None) -> Outcome:
    """The same deletions in this process (run in a thread, when no helper could be started)."""
    return outcome_of(
        marked,
        delete_files(
            os.fspath(spool),
            [m.path for m in marked],
            os.fspath(journal) if journal else None,
            [m.known for m in marked],
        ),
    )


def outcome_of(marked: Sequence[Marked], done: Deleted) -> Outcome:
    absent = set(done.absent)
    kept = dict(done.kept)
    refused = dict(done.refused)
    out = Outcome(seconds=done.seconds)
    for i, m in enumerate(marked):
        if i in absent:
            out.absent.append(m)
        elif i in refused:
            out.refused.append((m, refused[i]))
        elif i in kept:
            out.kept.append(m)
            out.problem = out.problem or f"{m.path}: {kept[i]}"
        else:
            out.gone.append(m)
    return out
