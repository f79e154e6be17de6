"""Exports only go where they should: never into the spool or the data folder, and a recording
replaced by a FIFO fails at once instead of hanging (issue 11, item 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.core.config import Config
from services.instructions.store import State
from services.workspace import Workspace
from tests.support.export import indexed_series, leftovers, manager, needs_xorriso
from tests.support.workspace import OPERATOR_PIN, CliRunner

pytestmark = needs_xorriso


async def issue(ws: Workspace, medium: str) -> str:
    calls = await indexed_series(ws, 3, 40_000, "2026092")
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="proper-conduct", medium=medium, call_ids=[c.id for c in calls]
    )
    return ins.number


def export(cli: CliRunner, number: str, *target: str) -> subprocess.CompletedProcess[str]:
    """The operator's export, in its own process (run_callrec's timeout fails a hang)."""
    return cli("export", number, *target, "--pin-stdin", "--yes", input=f"{OPERATOR_PIN}\n")


@pytest.mark.parametrize(
    "where",
    ["spool_dir", "spool_image", "data_dir", "data_image", "link_into_spool", "link_parent_into_data"],
)
async def test_a_destination_inside_our_folders_is_refused(
    ws: Workspace, cfg: Config, cli: CliRunner, tmp_path: Path, where: str
) -> None:
    number = await issue(ws, "usb" if where.endswith(("dir", "spool")) else "dvd-r")
    before_spool = sorted(p.relative_to(cfg.spool) for p in cfg.spool.rglob("*"))
    (tmp_path / "into-spool").symlink_to(cfg.spool / "2026")
    (tmp_path / "into-data").symlink_to(cfg.data)
    target = {
        "spool_dir": ("--dir", str(cfg.spool / "out")),
        "spool_image": ("--out", str(cfg.spool / "2026" / "x.iso")),
        "data_dir": ("--dir", str(cfg.data)),
        "data_image": ("--out", str(cfg.data / "exports" / "x.iso")),
        "link_into_spool": ("--dir", str(tmp_path / "into-spool")),
        "link_parent_into_data": ("--out", str(tmp_path / "into-data" / "x.iso")),
    }[where]
    assert (target[0] == "--dir") == where.endswith(("dir", "spool"))
    proc = export(cli, number, *target)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "inside the" in lines[0], proc.stderr
    assert sorted(p.relative_to(cfg.spool) for p in cfg.spool.rglob("*")) == before_spool
    assert not list(cfg.data.rglob("*.iso"))
    assert (await ws.instructions.get(number, fresh=True)).state == State.ISSUED


async def test_a_recording_replaced_by_a_fifo_fails_at_once_and_can_be_retried(
    ws: Workspace, cfg: Config, cli: CliRunner, tmp_path: Path
) -> None:
    number = await issue(ws, "dvd-r")
    ins = await ws.instructions.get(number)
    victim = cfg.spool / (await ws.calls.get(ins.call_ids[1])).path
    kept = tmp_path / "kept.wav"
    shutil.move(victim, kept)
    os.mkfifo(victim)
    out = tmp_path / "out"
    out.mkdir()
    proc = export(cli, number, "--out", str(out / "x.iso"))
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "regular file" in proc.stderr, proc.stderr
    assert leftovers(out) == []
    assert (await ws.instructions.get(number, fresh=True)).state == State.ISSUED
    victim.unlink()
    shutil.move(kept, victim)
    done = export(cli, number, "--out", str(out / "x.iso"))
    assert done.returncode == 0, done.stderr
    assert (out / "x.iso").is_file()


async def test_a_recording_reached_through_a_symlinked_folder_is_not_read(
    ws: Workspace, cfg: Config, cli: CliRunner, tmp_path: Path
) -> None:
    """Even with the very same bytes there (a copy of the day folder), the export does not leave
    the spool: it fails in one line, and succeeds once the folder is back."""
    number = await issue(ws, "dvd-r")
    ins = await ws.instructions.get(number)
    day = (cfg.spool / (await ws.calls.get(ins.call_ids[0])).path).parent
    copy = tmp_path / "copy"
    shutil.copytree(day, copy)
    moved = tmp_path / "moved"
    day.rename(moved)
    day.symlink_to(copy, target_is_directory=True)
    out = tmp_path / "out"
    out.mkdir()
    proc = export(cli, number, "--out", str(out / "x.iso"))
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "symbolic link" in proc.stderr, proc.stderr
    assert leftovers(out) == []
    assert (await ws.instructions.get(number, fresh=True)).state == State.ISSUED
    day.unlink()
    moved.rename(day)
    done = export(cli, number, "--out", str(out / "x.iso"))
    assert done.returncode == 0, done.stderr
