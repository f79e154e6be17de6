"""Backup and restore: the database with its keys; the restored copy verifies against the anchor."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from console.exits import Exit
from services.calls import CallFilter
from services.core import config as config_mod
from services.core.config import Config
from services.workspace import Workspace
from tests.support.workspace import CliRunner, run_callrec


async def test_backup_restores_to_a_verifying_workspace(
    ws: Workspace, cfg: Config, samples: list, cli: CliRunner, tmp_path: Path
) -> None:
    await ws.indexer.scan()
    out = cli("backup", str(tmp_path / "bk"), check=True)
    folder = Path(out.stdout.splitlines()[0].removeprefix("backup: "))
    head = (folder / "AUDIT_HEAD").read_text().strip()
    assert (folder / "keys").stat().st_mode & 0o777 == 0o700
    assert (folder / "keys" / "audit.key").stat().st_mode & 0o777 == 0o600
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout

    # Restore into a new data folder, as after losing the machine.
    data = tmp_path / "restored"
    (data / "keys").mkdir(parents=True)
    shutil.copy2(folder / "callrec.db", data / "callrec.db")
    for key in (folder / "keys").iterdir():
        shutil.copy2(key, data / "keys" / key.name)
    restored_cfg = tmp_path / "restored.toml"
    config_mod.write(Config(spool=cfg.spool, data=data), restored_cfg)
    verify = run_callrec(restored_cfg, "audit", "verify", "--anchor", head)
    assert verify.returncode == 0, verify.stderr
    restored = await Workspace.open(config_mod.load(restored_cfg))
    try:
        assert await restored.calls.count(CallFilter()) == len(samples)
        assert await restored.db.integrity_ok()
    finally:
        await restored.close()


def test_backup_into_a_missing_parent_says_so(ws: Workspace, cli: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = cli("backup", str(blocker / "sub"))
    assert out.returncode == Exit.STORAGE
    assert out.stderr.count("\n") == 1 and "backup failed" in out.stderr
