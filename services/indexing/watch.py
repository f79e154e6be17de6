"""Live events from the spool folder: watchfiles in a thread of its own, handed to the event loop.

The watcher's setup walks the whole tree (one inotify watch per folder) and would block the event
loop on a large spool, so it runs in a thread; `start()` returns once it is watching, so a scan
started after it misses nothing. watchfiles does not report files created inside a folder that was
itself just created: the indexer rescans every new folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from pathlib import Path
from typing import NoReturn

import watchfiles

from services.core.errors import SpoolError

Changes = set[tuple[watchfiles.Change, str]]

_READY = "ready"
_ENDED = "ended"
_IDLE_MS = 100  # how often the watcher thread wakes without events (it reports readiness so)
POLL_MS = 1000  # how often a polling watcher walks the spool (a network spool: inotify sees nothing)


class SpoolWatcher:
    def __init__(self, spool: Path, *, debounce_ms: int = 50, step_ms: int = 10, poll: bool = False) -> None:
        self.spool = spool
        self.poll = poll
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self._stop = threading.Event()
        self._queue: asyncio.Queue[Changes | BaseException | str] = asyncio.Queue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, timeout: float = 60.0) -> None:
        """Start watching; return when the watcher is set up (or raise SpoolError)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="callrec-watch", daemon=True)
        self._thread.start()
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            await self.stop()
            raise SpoolError(f"watching {self.spool} did not start", code="watch_failed") from None
        if first != _READY:
            await self.stop()
            self._raise(first)

    def _post(self, item: Changes | BaseException | str) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _run(self) -> None:
        ready = False
        rescan: Changes = set()
        try:
            while True:
                try:
                    for changes in watchfiles.watch(
                        self.spool,
                        stop_event=self._stop,
                        debounce=self.debounce_ms,
                        step=self.step_ms,
                        rust_timeout=_IDLE_MS,
                        yield_on_timeout=True,
                        raise_interrupt=False,
                        ignore_permission_denied=True,
                        watch_filter=None,
                        force_polling=self.poll,
                        poll_delay_ms=POLL_MS,
                    ):
                        if not ready:
                            ready = True
                            self._post(_READY)
                        if rescan:  # watching again: now look at what the lost batch named
                            changes, rescan = changes | rescan, set()
                        if changes:
                            self._post(changes)
                    break
                except RuntimeError as exc:
                    # A file name that is not UTF-8 (hostile, or another system's encoding) ends
                    # watchfiles' watcher, and the batch of events it was in is lost. Watch again
                    # at once and rescan the folder it named (the scan counts the name as
                    # skipped), instead of failing the whole indexer over one name.
                    folders = _undecodable_folder(self.spool, str(exc))
                    if folders is None or self._stop.is_set():
                        raise
                    rescan |= folders
            self._post(_ENDED)
        except BaseException as exc:  # handed to the loop, which decides
            self._post(exc)

    async def next(self, timeout: float) -> Changes:
        """The changes seen since the last call (all queued batches merged), or an empty set
        after `timeout` seconds without any."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return set()
        merged: Changes = set()
        while True:
            if not isinstance(item, set):
                self._raise(item)
            merged |= item
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return merged

    def _raise(self, item: Changes | BaseException | str) -> NoReturn:
        if self._stop.is_set():
            raise SpoolError(f"watching {self.spool} stopped", code="watch_stopped")
        if isinstance(item, BaseException):
            raise SpoolError(f"watching {self.spool} failed: {item}", code="watch_failed") from item
        raise SpoolError(f"watching {self.spool} ended", code="watch_failed")

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 2)


_UNDECODABLE = re.compile(r'Unable to decode path "(.*)" to string', re.S)


def _undecodable_folder(spool: Path, message: str) -> Changes | None:
    """For watchfiles' "Unable to decode path" error: events that make the indexer rescan the
    folder holding that name, or every top folder of the spool when the folder cannot be read from
    the message (Rust prints the path escaped). None for any other error."""
    found = _UNDECODABLE.search(message)
    if found is None:
        return None
    folder = found.group(1).rpartition("/")[0]
    if folder and "\\" not in folder and os.path.isdir(folder):
        return {(watchfiles.Change.modified, folder)}
    with contextlib.suppress(OSError), os.scandir(spool) as entries:
        return {(watchfiles.Change.modified, e.path) for e in entries if e.is_dir(follow_symlinks=False)}
    return set()
