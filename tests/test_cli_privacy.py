"""The command line keeps the console's privacy: every listing masks the other party's number
(in paths too) unless `--reveal` and a role's PIN show it, audited as the console's reveal is."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from console.exits import Exit
from services.core import phone
from services.core.config import Config
from services.workspace import Workspace
from tests.support.workspace import CliRunner

HOLD_REASON = "090-3333-4444 から情報公開請求"


def numbers(cfg: Config) -> dict[int, tuple[str, str]]:
    """id -> (path, other party's digits) of every indexed call with a number longer than the
    4 digits a mask keeps."""
    with sqlite3.connect(cfg.database) as db:
        rows = db.execute("SELECT id, path, other_number FROM calls WHERE length(other_number) > 4")
        return {r[0]: (r[1], r[2]) for r in rows}


def audit_rows(cfg: Config, action: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(cfg.database) as db:
        return db.execute(
            "SELECT actor, subject, detail FROM audit WHERE action = ? ORDER BY seq", (action,)
        ).fetchall()


def assert_no_full_number(text: str, calls: dict[int, tuple[str, str]]) -> None:
    for _, digits in calls.values():
        assert digits not in text and phone.display(digits) not in text
        if digits.startswith("0"):
            assert "81" + digits[1:] not in text  # the +81 form in a FreePBX file name
    assert "090-3333-4444" not in text and "0903333" not in text


def prepared(cli: CliRunner, cfg: Config, samples: list[Path]) -> dict[int, tuple[str, str]]:
    cli("index", check=True)
    calls = numbers(cfg)
    assert len(calls) >= 5
    held = min(calls)
    cli("hold", str(held), "--reason", HOLD_REASON, "--pin-stdin", input="1111\n", check=True)
    return calls


def test_listings_are_masked_in_text_and_json(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path]
) -> None:
    calls = prepared(cli, cfg, samples)
    text = cli("calls", "--limit", "1000", check=True).stdout
    assert_no_full_number(text, calls)
    assert text.count("•") >= len(calls)
    listed = json.loads(cli("calls", "--limit", "1000", "--json", check=True).stdout)
    by_id = {c["id"]: c for c in listed}
    for call_id, (path, digits) in calls.items():
        assert by_id[call_id]["other_number"] == phone.masked(digits)  # the console's form
        assert by_id[call_id]["path"] == phone.mask_in(path, digits)
    assert_no_full_number(json.dumps(listed, ensure_ascii=False), calls)

    for args in (("retention", "--as-of", "2099-01-01"), ("holds",)):
        shown = cli(*args, check=True).stdout
        as_json = cli(*args, "--json", check=True).stdout
        for out in (shown, as_json):
            assert_no_full_number(out, calls)
        assert "•••-••••-4444 から情報公開請求" in shown
    preview = json.loads(cli("retention", "--as-of", "2099-01-01", "--json", check=True).stdout)
    assert preview["purgeable"] and all("•" in c["path"] for c in preview["purgeable"] if c["id"] in calls)
    entries = cli(
        "audit", "list", "--limit", "1000", "--json", "--pin-stdin", input="1111\n", check=True
    ).stdout
    assert_no_full_number(entries, calls)
    assert audit_rows(cfg, "number.revealed") == []  # nothing was shown in full


def test_reveal_with_the_pin_shows_numbers_and_is_audited(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path]
) -> None:
    calls = prepared(cli, cfg, samples)
    proc = cli("calls", "--limit", "1000", "--json", "--reveal", "--pin-stdin", input="2222\n", check=True)
    by_id = {c["id"]: c for c in json.loads(proc.stdout)}
    for call_id, (path, digits) in calls.items():
        assert (by_id[call_id]["other_number"], by_id[call_id]["path"]) == (digits, path)
    revealed = audit_rows(cfg, "number.revealed")
    # the console's entry: the revealing role, the call's path, its id
    with sqlite3.connect(cfg.database) as db:
        with_number = db.execute("SELECT id, path FROM calls WHERE other_number IS NOT NULL")
        expected = sorted(("operator", path, {"call_id": call_id}) for call_id, path in with_number)
    assert sorted((a, s, json.loads(d)) for a, s, d in revealed) == expected
    text = cli(
        "calls", "--limit", "1000", "--reveal", "manager", "--pin-stdin", input="1111\n", check=True
    ).stdout
    assert all(phone.display(d) in text for _, d in calls.values())
    assert [r for r in audit_rows(cfg, "number.revealed") if r[0] == "manager"]
    holds = cli("holds", "--reveal", "--pin-stdin", input="2222\n", check=True).stdout
    assert HOLD_REASON in holds


def test_a_wrong_pin_reveals_nothing_and_counts(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path]
) -> None:
    calls = prepared(cli, cfg, samples)
    proc = cli("calls", "--json", "--reveal", "--pin-stdin", input="9999\n")
    assert proc.returncode == Exit.PIN and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Wrong Operator PIN" in proc.stderr
    assert "9999" not in proc.stderr
    assert audit_rows(cfg, "number.revealed") == []
    assert [r[1] for r in audit_rows(cfg, "pin.failed")] == ["operator"]
    with sqlite3.connect(cfg.database) as db:
        assert db.execute("SELECT failures FROM pin_attempts WHERE role = 'operator'").fetchone() == (1,)
    no_pin = cli("retention", "--reveal")  # stdin is no terminal: refused, nothing shown
    assert no_pin.returncode == Exit.USAGE and no_pin.stdout == "" and "--pin-stdin" in no_pin.stderr
    assert_no_full_number(no_pin.stderr, calls)


def test_audit_list_asks_the_managers_pin(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path]
) -> None:
    calls = prepared(cli, cfg, samples)
    cli("calls", "--reveal", "--pin-stdin", input="2222\n", check=True)  # entries naming calls
    asked = cli("audit", "list")
    assert asked.returncode == Exit.USAGE and asked.stdout == "" and "--pin-stdin" in asked.stderr
    operator = cli("audit", "list", "--pin-stdin", input="2222\n")  # not the manager's PIN
    assert operator.returncode == Exit.PIN and operator.stdout == ""
    assert [r[1] for r in audit_rows(cfg, "pin.failed")] == ["manager"]
    masked = cli("audit", "list", "--limit", "1000", "--pin-stdin", input="1111\n", check=True)
    assert_no_full_number(masked.stdout, calls)
    assert "hold.set" in masked.stdout and "number.revealed" in masked.stdout
    before = len(audit_rows(cfg, "number.revealed"))
    shown = cli(
        "audit", "list", "--limit", "1000", "--json", "--reveal", "--pin-stdin", input="1111\n", check=True
    )
    entries = json.loads(shown.stdout)
    held = next(e for e in entries if e["action"] == "hold.set")
    assert held["subject"] == calls[held["detail"]["call_id"]][0]
    assert held["detail"]["reason"] == HOLD_REASON
    after = audit_rows(cfg, "number.revealed")
    assert len(after) > before and all(r[0] == "manager" for r in after[before:])


def test_the_export_plan_masks_file_names(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path], tmp_path: Path
) -> None:
    calls = prepared(cli, cfg, samples)
    picked = sorted(calls)[1:4]
    ins = json.loads(
        cli(
            "instruct",
            "export",
            "--purpose",
            "undue-pressure",
            "--medium",
            "usb",
            *[a for c in picked for a in ("--call", str(c))],
            "--yes",
            "--json",
            "--pin-stdin",
            input="1111\n",
            check=True,
        ).stdout
    )
    out = tmp_path / "usb"
    out.mkdir()
    # no terminal to confirm on: the plan is printed, then nothing is written
    proc = cli("export", str(ins["id"]), "--dir", str(out), "--pin-stdin", input="2222\n")
    assert proc.returncode == Exit.USAGE and "--yes" in proc.stderr
    for call_id in picked:
        path, digits = calls[call_id]
        assert phone.mask_in(path.rpartition("/")[2], digits) in proc.stdout
    assert_no_full_number(proc.stdout, calls)
    assert not any(out.iterdir())
