"""Shared fixtures: a real spool folder, a real data folder with keys and SQLite, real PINs."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings

from services.access.duties import Role
from services.core import config as config_mod
from services.core.config import Config
from services.workspace import Workspace
from tests.support.workspace import MANAGER_PIN, OPERATOR_PIN, CliRunner, copy_samples, run_callrec

# The same examples on every run, and no deadline: the suite runs in parallel on loaded machines.
settings.register_profile("callrec", deadline=None, derandomize=True)
settings.load_profile("callrec")


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


@pytest.fixture
def cfg(tmp_path: Path, spool: Path) -> Config:
    """A configuration written to tmp_path/config.toml, as `callrec init` would."""
    path = tmp_path / "config.toml"
    config_mod.write(Config(spool=spool, data=tmp_path / "data", settle_seconds=0.3), path)
    return config_mod.load(path)


@pytest.fixture
async def ws(cfg: Config) -> AsyncIterator[Workspace]:
    """An initialised workspace with both PINs set (manager 1111, operator 2222)."""
    workspace = await Workspace.open(cfg, create=True)
    await workspace.auth.set_pin(Role.MANAGER, MANAGER_PIN)
    await workspace.auth.set_pin(Role.OPERATOR, OPERATOR_PIN)
    try:
        yield workspace
    finally:
        await workspace.close()


@pytest.fixture
def samples(spool: Path) -> list[Path]:
    return copy_samples(spool)


@pytest.fixture
async def indexed(ws: Workspace, samples: list[Path]) -> Workspace:
    """The workspace with the sample spool indexed."""
    await ws.indexer.scan()
    return ws


@pytest.fixture
def cli(cfg: Config) -> CliRunner:
    """Run the real `callrec` command against this test's configuration."""
    assert cfg.source is not None
    source = cfg.source

    def run(*args: str, input: str | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        return run_callrec(source, *args, input=input, check=check)

    return run
