"""Two consoles and the indexer service on one data folder while the recorder works (issue 6)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.core.config import Config
from services.workspace import Workspace
from tests.support import busy_hour
from tests.support.workspace import MANAGER_PIN

# Consoles in pseudo-terminals and wall-clock waits: run alone, after the parallel tests.
pytestmark = pytest.mark.serial


async def test_two_consoles_and_the_indexer_under_load(ws: Workspace, cfg: Config, tmp_path: Path) -> None:
    await ws.close()  # the fixture only initialised the folder and the PINs
    assert cfg.source is not None

    result = await asyncio.to_thread(busy_hour.run, cfg.source, tmp_path, seconds=20, pin=MANAGER_PIN)
    print(result)
    assert result.errors == []
    assert result.indexed_complete == result.recordings == 20  # every recording, once, complete
    assert result.instructions >= 2 and result.visibility_s <= 2.0  # each sees the other's within 2 s
    assert result.busy_ms <= max(3 * result.idle_ms, 20)
