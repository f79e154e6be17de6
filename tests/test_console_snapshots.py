"""Snapshots of the console at 80x24 and 120x40, in Japanese and English, with a fixed clock.

Update after an intended change of the look: pytest tests/test_console_snapshots.py --snapshot-update
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import CallrecApp
from services.access.duties import Duty, Role
from services.calls import CallFilter
from services.core import config as config_mod
from services.core.clock import JST, FixedClock
from services.core.config import Config
from services.workspace import Workspace
from tests.support.console import settle, unlock, until

NOW = datetime(2026, 11, 24, 14, 30, tzinfo=JST)
SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


def sample_workspace(root: Path, prepare: Callable[[Workspace], Awaitable[None]]) -> Config:
    """The sample spool in `root`, indexed at NOW with both PINs set, then `prepare(ws)`."""
    from tests.support.workspace import copy_samples

    copy_samples(root / "spool")
    config_mod.write(Config(spool=root / "spool", data=root / "data", kiosk=False), root / "config.toml")
    cfg = config_mod.load(root / "config.toml")

    async def setup() -> None:
        ws = await Workspace.open(cfg, clock=FixedClock(NOW), create=True)
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        await ws.indexer.scan()
        await prepare(ws)
        await ws.close()

    asyncio.run(setup())
    return cfg


@pytest.fixture(scope="module")
def snapshot_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The sample spool indexed at a fixed time, with both PINs and a few instructions."""

    async def instruct(ws: Workspace) -> None:
        manager = await ws.auth.authorize(Role.MANAGER, "1111", Duty.ISSUE_INSTRUCTION)
        newest_first = await ws.calls.page(CallFilter(), limit=100)
        picked = [newest_first[-1].id, newest_first[-2].id, newest_first[0].id]  # two past their date
        await ws.instructions.issue_export(
            manager,
            purpose="undue-pressure",
            medium="dvd-r",
            call_ids=picked,
            note="同一人物からの繰り返しの要求",
        )
        await ws.instructions.issue_purge(manager, note="翌月末を過ぎた録音データの削除")

    return sample_workspace(tmp_path_factory.mktemp("snap"), instruct)


def console(cfg: Config, lang: str) -> CallrecApp:
    return CallrecApp(cfg, clock=FixedClock(NOW), lang=lang, kiosk=False, start_indexer=False)


async def opened(pilot: Pilot[Any]) -> None:
    await unlock(pilot)
    await settle(pilot)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("size", SIZES)
def test_lock_screen(snap_compare: Any, snapshot_config: Config, lang: str, size: str) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.2)

    assert snap_compare(console(snapshot_config, lang), terminal_size=SIZES[size], run_before=ready)


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("size", SIZES)
def test_calls_view(snap_compare: Any, snapshot_config: Config, lang: str, size: str) -> None:
    assert snap_compare(console(snapshot_config, lang), terminal_size=SIZES[size], run_before=opened)


def test_calls_view_filtered_and_scrolled(snap_compare: Any, snapshot_config: Config) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("slash", *"0312", "escape", "down", "down")
        await settle(pilot)

    assert snap_compare(console(snapshot_config, "ja"), terminal_size=(80, 24), run_before=run)


def test_pin_prompt_for_a_reveal(snap_compare: Any, snapshot_config: Config) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("r", *"12")
        await pilot.pause(0.2)

    assert snap_compare(console(snapshot_config, "ja"), terminal_size=(80, 24), run_before=run)


def test_instructions_view(snap_compare: Any, snapshot_config: Config) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("2")
        await until(pilot, lambda: pilot.app.screen.query("InstructionList"))
        await pilot.pause(0.3)

    assert snap_compare(console(snapshot_config, "ja"), terminal_size=(80, 24), run_before=run)


def test_help(snap_compare: Any, snapshot_config: Config) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await opened(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(console(snapshot_config, "en"), terminal_size=(120, 40), run_before=run)
