"""Progress and cancellation of a long export, shared by the worker thread and the faces.

The work runs in a thread; `Meter` counts bytes there and hands a `Progress` to a callback at most
every `interval` seconds (the service marshals it onto the event loop). The worker checks the
`CancelToken` (services/jobs.py) between blocks and stops with `Cancelled`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from services import jobs
from services.jobs import Cancelled as JobCancelled
from services.jobs import CancelToken


class Cancelled(JobCancelled):
    """How an export's cancellation reaches the faces (the token's own is translated to it)."""

    code = "export_cancelled"


CANCELLED = "the export was cancelled; nothing was left behind"


class Phase(StrEnum):
    WRITE = "write"  # building the image / writing the folder, hashing each recording
    VERIFY = "verify"  # reading the image or folder back
    BURN = "burn"  # xorriso writing the image to the medium
    READBACK = "readback"  # reading the medium's sectors back


@dataclass(frozen=True)
class Progress:
    phase: Phase
    volume: int
    volumes: int
    done: int  # bytes done, all phases and volumes
    total: int  # bytes to do, all phases and volumes
    current: str  # the file being written or read ("" between files)
    elapsed_s: float
    rate: float  # bytes per second over the last few seconds
    eta_s: float | None  # seconds left at that rate; None until it is known

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0


ProgressCallback = jobs.ProgressCallback[Progress]
_WINDOW_S = 3.0


class Meter:
    """Counts bytes in the worker thread; reports at most every `interval` seconds."""

    def __init__(
        self,
        total: int,
        report: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        interval: float = 0.1,
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.report = report
        self.cancel = cancel or CancelToken()
        self.interval = interval
        self.phase = Phase.WRITE
        self.volume = 1
        self.volumes = 1
        self.current = ""
        self._start = time.monotonic()
        self._last = 0.0
        self._samples: deque[tuple[float, int]] = deque()

    def begin(self, phase: Phase, volume: int, volumes: int) -> None:
        self.phase, self.volume, self.volumes, self.current = phase, volume, volumes, ""
        self._emit(force=True)

    def file(self, name: str) -> None:
        self.current = name
        self._emit()

    def add(self, n: int) -> None:
        self.done += n
        self.cancel.check()
        self._emit()

    def finish(self) -> None:
        self.done = self.total
        self.current = ""
        self._emit(force=True)

    def snapshot(self) -> Progress:
        now = time.monotonic()
        samples = self._samples
        samples.append((now, self.done))
        while len(samples) > 2 and now - samples[0][0] > _WINDOW_S:
            samples.popleft()
        t0, d0 = samples[0]
        rate = (self.done - d0) / (now - t0) if now - t0 > 0.05 else 0.0
        left = max(self.total - self.done, 0)
        eta = left / rate if rate > 0 else None
        return Progress(
            self.phase,
            self.volume,
            self.volumes,
            min(self.done, self.total),
            self.total,
            self.current,
            now - self._start,
            rate,
            eta,
        )

    def _emit(self, force: bool = False) -> None:
        if self.report is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.report(self.snapshot())
