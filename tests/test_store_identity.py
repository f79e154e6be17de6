"""The store is the store (issue 11 item 4): only `callrec init` creates a database, only where
none is; an emptied, foreign or other installation's database, swapped or replaced key files and
an unsafe keys folder are refused in one line before any PIN is checked or entry written."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.workspace import ROOT, run_callrec

PINS = {"manager": "1111", "operator": "2222"}


def init(root: Path) -> Path:
    """A real installation through the CLI: `callrec init` and both PINs; its configuration."""
    (root / "spool").mkdir(parents=True)
    config = root / "callrec.toml"
    run_callrec(config, "init", "--spool", str(root / "spool"), "--data", str(root / "data"), check=True)
    for role, pin in PINS.items():
        run_callrec(config, "pin", "set", role, "--pin-stdin", input=pin + "\n", check=True)
    return config


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def audit_rows(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT seq, action FROM audit ORDER BY seq").fetchall()
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return init(tmp_path / "here")


def data(config: Path) -> Path:
    return config.parent / "data"


def test_an_emptied_database_is_refused_and_nothing_recreated(config: Path) -> None:
    db = data(config) / "callrec.db"
    db.write_bytes(b"")
    for leftover in (db.with_name("callrec.db-wal"), db.with_name("callrec.db-shm")):
        leftover.unlink(missing_ok=True)
    attempts = [
        ("calls",),
        ("audit", "verify"),
        ("index",),
        ("indexer",),
        ("retention",),
        ("pin", "set", "manager", "--pin-stdin"),
        ("pin", "set", "manager", "--reset", "--pin-stdin"),
        (),
    ]
    for args in attempts:
        line = one_line(run_callrec(config, *args, input="9999\n"))
        assert "the database file is empty" in line, (args, line)
    refused = run_callrec(
        config, "init", "--force", "--spool", str(config.parent / "spool"), "--data", str(data(config))
    )
    assert "the database file is empty" in one_line(refused)
    assert db.stat().st_size == 0
    assert sorted(p.name for p in data(config).iterdir() if p.name.startswith("callrec.db")) == ["callrec.db"]


def test_the_refusal_is_in_japanese_by_default(config: Path) -> None:
    (data(config) / "callrec.db").write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(config), "calls"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL")},
    )
    assert "データベースのファイルが空です" in one_line(proc)


def test_a_database_of_another_installation_is_refused(config: Path, tmp_path: Path) -> None:
    other = init(tmp_path / "there")
    db = data(config) / "callrec.db"
    shutil.copyfile(data(other) / "callrec.db", db)
    before = digest(db)
    line = one_line(run_callrec(config, "pin", "set", "manager", "--pin-stdin", input="2222\n5555\n"))
    assert "belongs to another installation" in line
    assert "belongs to another installation" in one_line(run_callrec(config, "calls"))
    assert digest(db) == before


def test_not_a_callrec_database_is_refused(config: Path) -> None:
    db = data(config) / "callrec.db"
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other (x)")
    conn.close()
    before = digest(db)
    assert "not a callrec database" in one_line(run_callrec(config, "calls"))
    assert digest(db) == before


def test_a_swapped_pepper_is_refused_before_any_pin_check(config: Path, tmp_path: Path) -> None:
    keys = data(config) / "keys"
    db = data(config) / "callrec.db"
    pepper = keys / "pepper.key"
    kept = pepper.read_bytes()
    entries = audit_rows(db)
    other = init(tmp_path / "there")
    shutil.copy2(data(other) / "keys" / "pepper.key", pepper)  # another installation's pepper
    line = one_line(run_callrec(config, "hold", "1", "--reason", "x", "--pin-stdin", input="1111\n"))
    assert str(pepper) in line and "not the key file this database was made with" in line
    line = one_line(run_callrec(config, "pin", "set", "manager", "--pin-stdin", input="1111\n5555\n"))
    assert str(pepper) in line
    assert audit_rows(db) == entries  # no pin.failed, nothing sealed
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    assert conn.execute("SELECT count(*) FROM pin_attempts").fetchone() == (0,)
    conn.close()

    # put back: the PIN works, the chain verifies, nothing was lost
    pepper.write_bytes(kept)
    run_callrec(config, "hold", "1", "--reason", "x", "--pin-stdin", input="1111\n")  # no call 1
    run_callrec(config, "pin", "set", "manager", "--pin-stdin", input="1111\n5555\n", check=True)
    assert [a for _, a in audit_rows(db)][len(entries) :] == ["pin.ok", "pin.ok", "pin.changed"]
    assert "audit chain ok" in run_callrec(config, "audit", "verify", check=True).stdout


def test_swapped_key_files_put_back_work_again(config: Path) -> None:
    keys = data(config) / "keys"
    db = data(config) / "callrec.db"
    pepper, audit_key = keys / "pepper.key", keys / "audit.key"
    p, a = pepper.read_bytes(), audit_key.read_bytes()
    entries = audit_rows(db)
    pepper.write_bytes(a)
    audit_key.write_bytes(p)
    line = one_line(run_callrec(config, "pin", "set", "manager", "--pin-stdin", input="1111\n5555\n"))
    assert "swapped" in line and str(pepper) in line and str(audit_key) in line
    assert audit_rows(db) == entries
    pepper.write_bytes(p)
    audit_key.write_bytes(a)
    run_callrec(config, "pin", "set", "manager", "--pin-stdin", input="1111\n5555\n", check=True)
    verify = run_callrec(config, "audit", "verify", check=True)
    assert "audit chain ok" in verify.stdout


def test_a_replaced_audit_key_is_refused_and_the_chain_kept(config: Path) -> None:
    keys = data(config) / "keys"
    db = data(config) / "callrec.db"
    audit_key = keys / "audit.key"
    kept = audit_key.read_bytes()
    entries = audit_rows(db)
    audit_key.write_bytes(secrets.token_bytes(32))
    for args in (("hold", "1", "--reason", "x", "--pin-stdin"), ("audit", "verify"), ("index",)):
        line = one_line(run_callrec(config, *args, input="1111\n"))
        assert str(audit_key) in line and "not the key file" in line, line
    assert audit_rows(db) == entries
    audit_key.write_bytes(kept)
    verify = run_callrec(config, "audit", "verify", "--json", check=True)
    assert '"ok": true' in verify.stdout
    run_callrec(config, "pin", "set", "operator", "--pin-stdin", input="2222\n3333\n", check=True)
    assert len(audit_rows(db)) > len(entries)
    assert '"ok": true' in run_callrec(config, "audit", "verify", "--json", check=True).stdout


def test_a_keys_folder_others_can_write_or_own_is_refused(config: Path) -> None:
    keys = data(config) / "keys"
    os.chmod(keys, 0o777)
    assert "others can write to the keys folder" in one_line(run_callrec(config, "calls"))
    os.chmod(keys, 0o755)  # readable is fine (the files are 0600), writable is not
    run_callrec(config, "calls", check=True)
    os.chmod(keys, 0o700)
    if os.geteuid() != 0:
        pytest.skip("giving the folder to another user needs root")
    os.chown(keys, 4242, -1)
    assert "belongs to another user" in one_line(run_callrec(config, "calls"))
    os.chown(keys, 0, -1)
    run_callrec(config, "calls", check=True)


def test_init_force_keeps_the_keys_of_an_existing_database(config: Path) -> None:
    keys = data(config) / "keys"
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    args = ("init", "--force", "--spool", str(config.parent / "spool"), "--data", str(data(config)))
    run_callrec(config, *args, check=True)
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before
    assert "audit chain ok" in run_callrec(config, "audit", "verify", check=True).stdout
    run_callrec(config, "pin", "set", "manager", "--pin-stdin", input="1111\n5555\n", check=True)

    # keys gone: init refuses rather than mint new ones for the old chain
    audit_key = keys / "audit.key"
    kept = audit_key.read_bytes()
    audit_key.unlink()
    assert "key file missing" in one_line(run_callrec(config, *args))
    assert not audit_key.exists()
    audit_key.write_bytes(kept)
    os.chmod(audit_key, 0o600)
    assert "audit chain ok" in run_callrec(config, "audit", "verify", check=True).stdout


def test_a_database_made_before_fingerprints_is_adopted_once(config: Path) -> None:
    db = data(config) / "callrec.db"
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM meta WHERE key LIKE 'key.%'")
    conn.commit()
    conn.close()
    audit_key = data(config) / "keys" / "audit.key"
    kept = audit_key.read_bytes()
    audit_key.write_bytes(secrets.token_bytes(32))  # does not open its chain: refused
    assert str(audit_key) in one_line(run_callrec(config, "calls"))
    audit_key.write_bytes(kept)
    run_callrec(config, "calls", check=True)
    run_callrec(config, "calls", check=True)
    assert [a for _, a in audit_rows(db)].count("store.adopted") == 1
    assert "audit chain ok" in run_callrec(config, "audit", "verify", check=True).stdout
