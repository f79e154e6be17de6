"""Long work with a progress modal: bar, amount, throughput, time left, cancel.

    result = await host(self).run_job(t("export.writing"), work, unit="bytes")

where `work(job)` is an async callable that calls `job.update(done, total)` as it goes and checks
`job.cancelled` (an asyncio.Event; pass `job.cancelled.is_set` to a service as its cancel check).
The job runs in the caller's worker; the modal only watches it, so locking the console (which
hides the modal) never stops the work, and the modal comes back after unlocking.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import ProgressBar, Static

from console.i18n import t
from screens.widgets.modals import ConfirmModal
from screens.widgets.text import count, duration, plain, size


class Job:
    """Progress of one piece of long work, as the modal reads it."""

    def __init__(self, title: str, *, unit: str = "bytes", cancellable: bool = True) -> None:
        self.title = title
        self.unit = unit  # "bytes" or "items"
        self.cancellable = cancellable
        self.done = 0.0
        self.total: float | None = None
        self.note = ""
        self.started = time.monotonic()
        self.finished = False
        self.cancelled = asyncio.Event()
        self._samples: deque[tuple[float, float]] = deque(maxlen=20)

    def update(self, done: float, total: float | None = None, note: str | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if note is not None:
            self.note = note
        self._samples.append((time.monotonic(), done))

    def advance(self, amount: float = 1) -> None:
        self.update(self.done + amount)

    def cancel(self) -> None:
        self.cancelled.set()

    @property
    def rate(self) -> float | None:
        """Per second, over the last few updates."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 else None

    @property
    def seconds_left(self) -> float | None:
        rate = self.rate
        if not rate or self.total is None:
            return None
        return max(0.0, (self.total - self.done) / rate)


class ProgressModal(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "key.cancel_job")]

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.job.title, "bold"), classes="dialog-title")
            yield ProgressBar(show_eta=False, id="job-bar")
            yield Static("", id="job-figures", markup=False)
            yield Static("", id="job-note", markup=False)
            hint = "progress.hint" if self.job.cancellable else "progress.hint_wait"
            yield Static(plain(t(hint), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(0.25, self.tick)

    def on_screen_resume(self) -> None:
        self.tick()

    def _amount(self, value: float) -> str:
        return size(int(value)) if self.job.unit == "bytes" else count(int(value))

    def tick(self) -> None:
        job = self.job
        if job.finished:
            if self.is_current:
                self.dismiss(None)
            return
        bar = self.query_one("#job-bar", ProgressBar)
        bar.update(total=job.total, progress=job.done)
        parts = [self._amount(job.done) + (f" / {self._amount(job.total)}" if job.total else "")]
        rate = job.rate
        if rate:
            parts.append(t("progress.rate", rate=self._amount(rate)))
        left = job.seconds_left
        if left is not None:
            parts.append(t("progress.left", time=duration(left)))
        if job.cancelled.is_set():
            parts.append(t("progress.cancelling"))
        self.query_one("#job-figures", Static).update(plain("   ".join(parts)))
        self.query_one("#job-note", Static).update(plain(job.note))

    def action_cancel(self) -> None:
        if self.job.cancellable and not self.job.cancelled.is_set():
            self.ask_cancel()

    @work(exclusive=True)
    async def ask_cancel(self) -> None:
        ok = await self.app.push_screen_wait(
            ConfirmModal(
                t("progress.cancel_title"),
                [t("progress.cancel_body", title=self.job.title)],
                action=t("progress.cancel_go"),
            )
        )
        if ok:
            self.job.cancel()
            self.tick()
