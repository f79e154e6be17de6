"""The headless CLI of the foundation, run for real in subprocesses: init, pin set, index, calls,
audit verify, and what a user sees when something is wrong."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from console.exits import Exit
from demo_data import SAMPLE_SPOOL
from demo_data.synth import generate_spool
from tests.support.workspace import ROOT

CALL_FIELDS = {
    "id",
    "path",
    "started_at",
    "type",
    "city_number",
    "other_number",
    "caller_id",
    "size",
    "duration_s",
    "sha256",
    "state",
    "raw_retention_until",
}


def callrec(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, lang: str | None = "en"
) -> subprocess.CompletedProcess[str]:
    """The real command; in English unless `lang` is None (then as a user's would choose)."""
    full_env = {k: v for k, v in os.environ.items() if k != "CALLREC_CONFIG"}
    full_env.update(env or {})
    chosen = ["--lang", lang] if lang else []
    return subprocess.run(
        [sys.executable, "-m", "console.cli", *chosen, *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("callrec")
    return lines[0]


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """`callrec init` and both PINs, through the CLI; returns the configuration's path."""
    spool = tmp_path / "spool"
    shutil.copytree(SAMPLE_SPOOL, spool, copy_function=shutil.copy2)
    config = tmp_path / "etc" / "callrec.toml"
    proc = callrec("--config", str(config), "init", "--spool", str(spool), "--data", str(tmp_path / "data"))
    assert proc.returncode == 0, proc.stderr
    assert f"configuration: {config}" in proc.stdout
    for role, pin in (("manager", "1111"), ("operator", "2222")):
        proc = callrec("--config", str(config), "pin", "set", role, "--pin-stdin", input=pin + "\n")
        assert proc.returncode == 0, proc.stderr
    return config


def test_init_writes_config_and_database(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    proc = callrec(
        "init",
        "--spool",
        str(tmp_path / "spool"),
        "--data",
        str(tmp_path / "data"),
        env={"CALLREC_CONFIG": str(config)},
    )
    assert proc.returncode == 0, proc.stderr
    assert config.exists()
    db = tmp_path / "data" / "callrec.db"
    assert db.exists()
    assert oct((tmp_path / "data" / "keys" / "pepper.key").stat().st_mode)[-3:] == "600"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT action FROM audit").fetchall() == [("config.written",)]
    conn.close()
    again = callrec("init", "--spool", "/x", "--data", "/y", env={"CALLREC_CONFIG": str(config)})
    assert "exists already" in one_line_error(again)


def test_pins(setup: Path) -> None:
    same = callrec("--config", str(setup), "pin", "set", "operator", "--pin-stdin", input="2222\n1111\n")
    assert "must differ" in one_line_error(same)
    assert "1111" not in same.stderr
    short = callrec("--config", str(setup), "pin", "set", "operator", "--pin-stdin", input="2222\n123\n")
    assert "4 to 12 digits" in one_line_error(short)
    wrong = callrec("--config", str(setup), "pin", "set", "manager", "--pin-stdin", input="9999\n5555\n")
    assert "Wrong Manager PIN" in one_line_error(wrong)
    assert "9999" not in wrong.stderr
    changed = callrec(
        "--config", str(setup), "pin", "set", "manager", "--pin-stdin", input="1111\n５５５５\n"
    )  # the current PIN, then the new one (full width)
    assert changed.returncode == 0, changed.stderr
    no_tty = callrec("--config", str(setup), "pin", "set", "manager", input="")
    assert "--pin-stdin" in one_line_error(no_tty)


def test_index_and_calls_json(setup: Path, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    os.mkfifo(spool / "2026" / "11" / "11" / "in-1-2-20261111-000000-1.1.wav")
    (spool / "2026" / "11" / "11" / ".hidden.wav").write_bytes(b"")
    proc = callrec("--config", str(setup), "index", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["indexed"], report["completed"], report["recording"]) == (45, 45, 0)
    assert report["skipped"] == {"hidden": 1, "not_regular": 1}
    assert report["missing"] == 0
    text = callrec("--config", str(setup), "index")
    assert text.returncode == 0 and "hidden 1" in text.stdout and "not_regular 1" in text.stdout

    proc = callrec(
        "--config", str(setup), "calls", "--json", "--limit", "100", "--reveal", "--pin-stdin", input="2222\n"
    )
    calls = json.loads(proc.stdout)
    assert len(calls) == 45
    for c in calls:
        assert set(c) >= CALL_FIELDS
        assert c["started_at"].endswith("+09:00")
        assert not c["path"].startswith("/") and (spool / c["path"]).is_file()
        assert c["state"] == "complete" and len(c["sha256"]) == 64
    assert [c["started_at"] for c in calls] == sorted((c["started_at"] for c in calls), reverse=True)
    parked = next(c for c in calls if c["path"].startswith("2026/11/01/parked"))
    assert parked["started_at"] == "2026-10-31T23:59:50+09:00"
    assert parked["raw_retention_until"] == "2026-11-30"
    plus81 = next(c for c in calls if "+819012345678" in c["path"])
    assert plus81["other_number"] == "09012345678"
    withheld = next(c for c in calls if "anonymous" in c["path"])
    assert (withheld["other_number"], withheld["caller_id"]) == (None, "withheld")

    proc = callrec(
        "--config",
        str(setup),
        "calls",
        "--json",
        "--number",
        "090-1234",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-31",
        "--limit",
        "2",
        "--reveal",
        "--pin-stdin",
        input="2222\n",
    )
    picked = json.loads(proc.stdout)
    assert len(picked) == 2
    assert all("0901234" in (c["other_number"] or "") for c in picked)
    assert all("2026-10-01" <= c["started_at"][:10] <= "2026-10-31" for c in picked)
    bad = callrec("--config", str(setup), "calls", "--from", "yesterday")
    assert "--from" in one_line_error(bad)


def test_vanished_file_then_index(setup: Path, tmp_path: Path) -> None:
    assert callrec("--config", str(setup), "index").returncode == 0
    victim = next((tmp_path / "spool").rglob("*.gsm"))
    victim.unlink()
    report = json.loads(callrec("--config", str(setup), "index", "--json").stdout)
    assert (report["missing"], report["missing_total"]) == (1, 1)
    states = {
        c["path"]: c["state"]
        for c in json.loads(
            callrec(
                "--config",
                str(setup),
                "calls",
                "--json",
                "--state",
                "missing",
                "--reveal",
                "--pin-stdin",
                input="2222\n",
            ).stdout
        )
    }
    assert states == {str(victim.relative_to(tmp_path / "spool")): "missing"}


def test_audit_verify_through_the_cli(setup: Path, tmp_path: Path) -> None:
    ok = callrec("--config", str(setup), "audit", "verify", "--json")
    assert ok.returncode == 0
    result = json.loads(ok.stdout)
    assert result["ok"] and result["entries"] == 3
    anchor = result["head"]
    db = tmp_path / "data" / "callrec.db"
    conn = sqlite3.connect(db)
    conn.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'x' WHERE seq = 2;")
    conn.close()
    broken = callrec("--config", str(setup), "audit", "verify")
    assert broken.returncode == Exit.INTEGRITY
    assert "BROKEN at entry 2" in broken.stdout
    conn = sqlite3.connect(db)
    conn.executescript("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= 2;")
    conn.close()
    assert callrec("--config", str(setup), "audit", "verify").returncode == 0
    cut = callrec("--config", str(setup), "audit", "verify", "--anchor", anchor)
    assert cut.returncode == Exit.INTEGRITY and "removed" in cut.stdout
    bad = callrec("--config", str(setup), "audit", "verify", "--anchor", "nonsense")
    assert "--anchor" in one_line_error(bad)


CONFIG_ERRORS = [
    ("[paths\nspool = 1\n", "not valid TOML"),
    ('[paths]\nspool = "/s"\ndata = "/d"\nspoool = "x"\n', "paths.spoool: unknown key"),
    (
        '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nsettle_seconds = "soon"\n',
        "spool.settle_seconds: must be a number",
    ),
    ('[paths]\nspool = "/s"\ndata = "/d"\n[console]\nlanguage = "de"\n', "console.language: must be one of"),
]


@pytest.mark.parametrize(("text", "says"), CONFIG_ERRORS)
def test_configuration_errors_are_one_line(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    for args in (("calls",), ("index", "--json"), ("audit", "verify")):
        line = one_line_error(callrec("--config", str(config), *args))
        assert line.startswith(f"callrec: {config}: ")
        assert says in line


def test_missing_configuration(tmp_path: Path) -> None:
    config = tmp_path / "nowhere.toml"
    line = one_line_error(callrec("calls", env={"CALLREC_CONFIG": str(config)}))
    assert str(config) in line and "callrec init" in line


def test_missing_database_and_spool(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\nspool = "{tmp_path}/spool"\ndata = "{tmp_path}/data"\n')
    assert "callrec init" in one_line_error(callrec("--config", str(config), "calls"))
    assert (
        callrec(
            "init",
            "--force",
            "--spool",
            str(tmp_path / "spool"),
            "--data",
            str(tmp_path / "data"),
            "--config",
            str(config),
        ).returncode
        != 0
    )  # after COMMAND
    assert (
        callrec(
            "--config",
            str(config),
            "init",
            "--force",
            "--spool",
            str(tmp_path / "spool"),
            "--data",
            str(tmp_path / "data"),
        ).returncode
        == 0
    )
    assert "spool folder missing" in one_line_error(callrec("--config", str(config), "index"))


def test_two_index_processes_at_once(setup: Path, tmp_path: Path) -> None:
    generate_spool(tmp_path / "spool", 3000, start=datetime(2026, 8, 1), span_days=20)
    cmd = [sys.executable, "-m", "console.cli", "--config", str(setup), "index", "--json"]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    added = sum(json.loads(o[0])["indexed"] for o in outs)
    assert added == 3045
    conn = sqlite3.connect(tmp_path / "data" / "callrec.db")
    assert conn.execute("SELECT count(*), count(DISTINCT path) FROM calls").fetchone() == (3045, 3045)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert callrec("--config", str(setup), "audit", "verify").returncode == 0


def test_configuration_edited_by_hand_is_audited(setup: Path) -> None:
    text = setup.read_text(encoding="utf-8")
    setup.write_text(text.replace("idle_lock_minutes = 5.0", "idle_lock_minutes = 10.0"), encoding="utf-8")
    assert callrec("--config", str(setup), "calls").returncode == 0
    assert callrec("--config", str(setup), "calls").returncode == 0  # recorded once
    entries = json.loads(
        callrec("--config", str(setup), "audit", "list", "--json", "--pin-stdin", input="1111\n").stdout
    )
    changed = [e for e in entries if e["action"] == "config.changed"]
    assert len(changed) == 1
    assert changed[0]["detail"]["changed"] == {"idle_lock_minutes": {"was": 5.0, "now": 10.0}}
    assert changed[0]["subject"] == str(setup)
