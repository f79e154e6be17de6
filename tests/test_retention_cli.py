"""The headless commands: callrec retention, hold, release, holds, purge, deletions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from console.exits import Exit
from services.workspace import Workspace
from tests.support.retention import files_on_disk, make_calls
from tests.support.workspace import CliRunner


def run_json(cli: CliRunner, *args: str, input: str | None = None) -> object:
    proc = cli(*args, "--json", input=input)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def setup_workspace(cli: CliRunner, spool: Path, expired: int, current: int = 0) -> None:
    """(The `ws` fixture has created the data folder and set the PINs 1111 / 2222.)"""
    make_calls(spool, expired=expired, current=current)
    cli("index", check=True)


def test_preview_hold_purge_and_deletion_record(
    cli: CliRunner, ws: Workspace, spool: Path, tmp_path: Path
) -> None:
    setup_workspace(cli, spool, expired=4, current=2)

    preview = run_json(cli, "retention")
    assert isinstance(preview, dict)
    ids = [c["id"] for c in preview["purgeable"]]
    assert len(ids) == 4 and preview["summary"]["count"] == 4
    assert preview["blocked"] == [] and preview["grace_days"] == 0
    assert {"id", "path", "started_at", "raw_retention_until", "size"} <= set(preview["purgeable"][0])

    held = run_json(cli, "hold", str(ids[0]), "--reason", "情報公開請求", "--pin-stdin", input="1111\n")
    assert held == held | {"call_id": ids[0], "active": True, "reason": "情報公開請求"}
    preview = run_json(cli, "retention")
    assert [b["id"] for b in preview["blocked"]] == [ids[0]]
    assert preview["blocked"][0]["reason"] == "hold"
    assert ids[0] not in [c["id"] for c in preview["purgeable"]]
    holds = run_json(cli, "holds")
    assert [h["call_id"] for h in holds] == [ids[0]]

    ins = run_json(cli, "instruct", "purge", "--note", "月次削除", "--pin-stdin", input="1111\n")
    assert ins["kind"] == "purge" and ins["state"] == "issued"

    # a wrong typed count deletes nothing
    proc = cli("purge", str(ins["id"]), "--pin-stdin", input="2222\n4\n")
    assert proc.returncode == 1 and "not confirmed" in proc.stderr
    assert len(files_on_disk(spool)) == 6

    # the typed count (the line after the PIN) confirms
    proc = cli("purge", str(ins["id"]), "--pin-stdin", input="2222\n3\n")
    assert proc.returncode == 0, proc.stderr
    assert "delete 3 recordings" in proc.stdout and "deleted 3 recordings" in proc.stdout
    assert len(files_on_disk(spool)) == 3
    calls = run_json(cli, "calls", "--limit", "100")
    assert sorted(c["state"] for c in calls) == ["complete"] * 3 + ["purged"] * 3

    released = run_json(cli, "release", str(ids[0]), "--reason", "対応終了", "--pin-stdin", input="1111\n")
    assert released["active"] is False
    assert [c["id"] for c in run_json(cli, "retention")["purgeable"]] == [ids[0]]

    today = date.today().isoformat()
    html = tmp_path / "deletions.html"
    record = run_json(
        cli,
        "deletions",
        "--from",
        "2000-01-01",
        "--to",
        "2099-12-31",
        "--html",
        str(html),
        "--pin-stdin",
        input="1111\n",
    )
    assert record["count"] == 3 and len(record["runs"]) == 1
    assert record["runs"][0]["instruction"] == ins["number"]
    assert record["audit_head"]
    page = html.read_text(encoding="utf-8")
    assert "削除記録" in page and "@page" in page and "A4" in page
    text = cli(
        "deletions", "--from", today, "--to", "2099-12-31", "--pin-stdin", input="1111\n", check=True
    ).stdout
    assert "削除記録" in text and ins["number"] in text
    for doc in (page, text):
        assert "erase" not in doc.lower() and "消去" not in doc
    verify = run_json(cli, "audit", "verify")
    assert verify["ok"] is True


def test_destructive_commands_refuse_as_of(cli: CliRunner, ws: Workspace, spool: Path) -> None:
    setup_workspace(cli, spool, expired=1)
    ins = run_json(cli, "instruct", "purge", "--pin-stdin", input="1111\n")
    for args in (
        ("purge", str(ins["id"]), "--yes"),
        ("hold", "1", "--reason", "x"),
        ("release", "1", "--reason", "x"),
    ):
        proc = cli(*args, "--as-of", "2030-01-01", "--pin-stdin", input="2222\n")
        assert proc.returncode == 1
        assert proc.stderr.strip().count("\n") == 0
        assert "--as-of is for previews only" in proc.stderr
    assert len(files_on_disk(spool)) == 1
    # the preview accepts it, and a date far ahead shows everything purgeable then
    preview = run_json(cli, "retention", "--as-of", "2099-01-01")
    assert preview["as_of"].startswith("2099-01-01T00:00:00+09:00")
    proc = cli("retention", "--as-of", "tomorrow")
    assert proc.returncode == 2 and "not a date" in proc.stderr  # a usage error


def test_roles_at_the_command_line(cli: CliRunner, ws: Workspace, spool: Path) -> None:
    setup_workspace(cli, spool, expired=2)
    # the operator's PIN is not the manager's: no hold, no purge instruction
    proc = cli("hold", "1", "--reason", "x", "--pin-stdin", input="2222\n")
    assert proc.returncode == Exit.PIN and "Wrong Manager PIN" in proc.stderr
    ins = run_json(cli, "instruct", "purge", "--pin-stdin", input="1111\n")
    # the purge asks for the operator's PIN; the manager's is wrong there
    proc = cli("purge", str(ins["id"]), "--yes", "--pin-stdin", input="1111\n")
    assert proc.returncode == Exit.PIN and "Wrong Operator PIN" in proc.stderr
    assert len(files_on_disk(spool)) == 2
    result = run_json(cli, "purge", str(ins["id"]), "--yes", "--pin-stdin", input="2222\n")
    assert result["deleted"] == 2 and result["instruction"]["state"] == "done"
    proc = cli("purge", str(ins["id"]), "--yes", "--pin-stdin", input="2222\n")
    assert proc.returncode == Exit.REFUSED and "is done" in proc.stderr


def test_the_preview_lists_holds_not_yet_due(cli: CliRunner, ws: Workspace, spool: Path) -> None:
    setup_workspace(cli, spool, expired=1, current=1)
    calls = run_json(cli, "calls")
    assert isinstance(calls, list)
    current = [c for c in calls if c["raw_retention_until"] >= date.today().isoformat()]
    run_json(cli, "hold", str(current[0]["id"]), "--reason", "照会", "--pin-stdin", input="1111\n")
    preview = run_json(cli, "retention")
    assert isinstance(preview, dict)
    assert preview["blocked"] == [] and preview["held_ahead_count"] == 1
    assert [(h["id"], h["hold_reason"]) for h in preview["held_ahead"]] == [(current[0]["id"], "照会")]
    text = cli("retention", check=True).stdout
    assert "held, their date not passed yet: 1" in text and "hold: 照会" in text
