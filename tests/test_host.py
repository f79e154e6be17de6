"""Screens reach the application only through screens/host.py: the App is a ConsoleHost."""

from screens.host import ConsoleHost, host
from services.workspace import Workspace
from tests.support.console import make_app, unlock


async def test_the_app_is_a_console_host(ws: Workspace) -> None:
    app = make_app(ws)
    async with app.run_test() as pilot:
        assert isinstance(app, ConsoleHost)
        await unlock(pilot)
        assert host(app.screen) is app
        assert host(app.screen).session is not None
