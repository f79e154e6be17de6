"""`callrec --version` and the exit codes a script or the indexer's service reads (README, 終了コード):
each kind of failure its own code, run for real in subprocesses."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

from console.exits import Exit, for_error
from services.core import (
    CallrecError,
    ConfigError,
    Conflict,
    DestinationConflict,
    DestinationStorageError,
    KeyFileError,
    LockedOut,
    NotPermitted,
    WrongPin,
)
from services.core.config import Config
from services.core.when import refused
from services.export.verify import VerifyFailed
from services.workspace import Workspace
from tests.support.retention import make_calls
from tests.support.workspace import ROOT, CliRunner, run_callrec


def test_version_is_the_packages() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert proc.returncode == Exit.OK and proc.stdout == f"callrec {version}\n"


def test_each_kind_of_failure_has_its_own_code(
    cli: CliRunner, ws: Workspace, cfg: Config, spool: Path, tmp_path: Path
) -> None:
    assert cli("--no-such-option").returncode == Exit.USAGE
    assert cli("calls", "--from", "next blue moon").returncode == Exit.USAGE
    assert cli("hold", "1", "--reason", "x", "--pin-stdin", input="").returncode == Exit.USAGE  # no PIN

    broken = tmp_path / "broken.toml"
    broken.write_text("spool = [\n", encoding="utf-8")
    assert run_callrec(broken, "calls").returncode == Exit.CONFIG
    assert run_callrec(tmp_path / "absent.toml", "calls").returncode == Exit.CONFIG

    make_calls(spool, expired=2)
    cli("index", check=True)
    wrong = cli("hold", "1", "--reason", "x", "--pin-stdin", input="9999\n")
    assert wrong.returncode == Exit.PIN and "9999" not in wrong.stderr

    ins = cli("instruct", "purge", "--json", "--pin-stdin", input="1111\n", check=True)
    assert ins.returncode == Exit.OK
    done = cli("purge", "1", "--yes", "--pin-stdin", input="2222\n")
    assert done.returncode == Exit.OK, done.stderr
    again = cli("purge", "1", "--yes", "--pin-stdin", input="2222\n")
    assert again.returncode == Exit.REFUSED  # the instruction is done: the rules refuse it twice

    backed = cli("backup", str(tmp_path / "backups"), check=True)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert [p.read_text() for p in (tmp_path / "backups").glob("*/VERSION")] == [f"callrec {version}\n"]
    assert backed.returncode == Exit.OK
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    assert cli("backup", str(tmp_path / "file" / "sub")).returncode == Exit.STORAGE

    conn = sqlite3.connect(cfg.data / "callrec.db")
    conn.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'x' WHERE seq = 2;")
    conn.close()
    assert cli("audit", "verify").returncode == Exit.INTEGRITY


def test_the_table_reads_the_kind_of_error() -> None:
    assert for_error(ConfigError("x")) == Exit.CONFIG
    assert for_error(KeyFileError("x", code="keyfile_mode")) == Exit.CONFIG
    assert for_error(KeyFileError("x", code="keys_swapped")) == Exit.INTEGRITY
    assert for_error(WrongPin("x")) == for_error(LockedOut("x")) == Exit.PIN
    assert for_error(NotPermitted("x")) == for_error(Conflict("x")) == Exit.REFUSED
    assert for_error(DestinationConflict("x")) == Exit.REFUSED  # nothing is overwritten
    assert for_error(DestinationStorageError("x")) == Exit.STORAGE
    assert for_error(VerifyFailed("x")) == Exit.INTEGRITY
    assert for_error(refused("soon")) == Exit.USAGE
    assert for_error(CallrecError("x", code="confirm_no_tty")) == Exit.USAGE
    assert for_error(CallrecError("x")) == Exit.FAILED
    assert len({int(code) for code in Exit}) == len(Exit)  # no two kinds share a code
