"""What a long job (an export, a purge) shares with the faces that start it.

The work runs off the event loop; `CancelToken.cancel()` may be called from any thread, and the job
looks at the token between its steps: an export raises `Cancelled` at once (`check()`), a purge ends
the batch at hand first (`cancelled`). Each job reports its own progress type through a
`ProgressCallback` of that type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from services.core.errors import CallrecError

P = TypeVar("P")

ProgressCallback = Callable[[P], None]


class Cancelled(CallrecError):
    """A job stopped because its token was cancelled; each job says what that left behind."""

    code = "cancelled"


class CancelToken:
    """Set from any thread; `when` is also asked (e.g. a progress modal's `job.cancelled.is_set`)."""

    def __init__(self, when: Callable[[], bool] | None = None) -> None:
        self._event = threading.Event()
        self._when = when

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self._when is not None and self._when():
            self._event.set()
        return self._event.is_set()

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("the job was cancelled")
