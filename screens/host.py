"""What screens may ask of the application: `host(self)` from any widget or screen.

The console's App (console/app.py) satisfies `ConsoleHost`; screens never import it, so that
the faces stay layered (cli > app > screens > services). Use the modals' shortcuts from a worker:
`await host(self).ask_pin(...)`, `await host(self).confirm(...)`, `await host(self).run_job(...)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

from rich.text import Text
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.signal import Signal

from console.session import Session
from services.access import Actor, Duty, Role
from services.calls import Call, CallStore
from services.core import CallrecError, Database
from services.workspace import Workspace

if TYPE_CHECKING:  # progress imports the modals, which reach the app through here
    from screens.widgets.progress import Job

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class ConsoleHost(Protocol):
    """The open workspace, the second (read-only) connection for slow counts, the session (None
    while locked), the live-data signals, the modals' shortcuts and the one-line messages."""

    ws: Workspace
    side: Database
    side_calls: CallStore
    session: Session | None
    demo: bool
    data_changed: Signal[int]
    session_changed: Signal[Session | None]

    @property
    def centre_name(self) -> str: ...

    async def ask_pin(
        self, duty: Duty, purpose: str, *, role: Role | None = None, roles: Sequence[Role] | None = None
    ) -> Actor | None: ...

    async def confirm(
        self,
        title: str,
        lines: Sequence[str | Text],
        *,
        action: str | None = None,
        typed: str | None = None,
        danger: bool = False,
    ) -> bool: ...

    async def run_job(
        self,
        title: str,
        work_fn: Callable[[Job], Awaitable[T]],
        *,
        unit: str = "bytes",
        cancellable: bool = True,
    ) -> T: ...

    async def push_screen_wait(self, screen: Screen[R], *, mode: str | None = None) -> R: ...

    def call_later(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool: ...

    async def unlock(self, actor: Actor) -> None: ...

    async def recover_exports(self) -> None: ...

    async def record_reveal(self, actor: Actor, call: Call) -> None: ...

    def error_text(self, exc: CallrecError) -> str: ...

    def say(self, text: str, *, severity: SeverityLevel = "information") -> None: ...

    def say_error(self, exc: CallrecError) -> None: ...


def host(node: DOMNode) -> ConsoleHost:
    """The application `node` runs in, as screens see it."""
    # The one cast of the app: Textual types node.app as App[object]; console/app.py checks
    # that CallrecApp satisfies ConsoleHost.
    return cast(ConsoleHost, node.app)
