"""The offline install README gives: every wheel from `make wheelhouse`, then pip with --no-index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.serial
def test_offline_install_from_the_wheelhouse_only(tmp_path: Path) -> None:
    house = tmp_path / "wheelhouse"
    make = subprocess.run(
        ["make", "-s", "wheelhouse", f"VENV={Path(sys.prefix)}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert make.returncode == 0, make.stderr[-2000:]
    (ROOT / "wheelhouse").rename(house)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [venv / "bin/pip", "install", "-q", "--no-index", "--find-links", house, "callrec"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    version = subprocess.run([venv / "bin/callrec", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("callrec ")
    installed = subprocess.run([venv / "bin/pip", "list"], capture_output=True, text=True).stdout
    assert not {"pytest", "ruff", "mypy"} & {line.split()[0] for line in installed.splitlines()[2:]}
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "services" / "workspace.py").is_file()  # a real copy, not an editable link
