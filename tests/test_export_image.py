"""Export to an ISO image, end to end: real recordings, pycdlib, then xorriso/osirrox and 7z as
independent readers, sha256sum -c on what they extract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from services.access.audit import Action, Head
from services.core.version import VERSION
from services.export import TargetKind
from services.export.plan import FORM1_HTML, FORM2_HTML, FORM2_TXT, MANIFEST, README, SUMS
from services.instructions.store import State
from services.retention.rules import output_kept_through
from services.workspace import Workspace
from tests.support.export import (
    BACKSLASH,
    JAPANESE,
    LONG,
    extract,
    index,
    listing,
    manager,
    needs_7z,
    needs_xorriso,
    operator,
    recording,
    sha256sum_check,
    tree_files,
    udf_listing,
)

pytestmark = needs_xorriso

LEAD = (
    "付けで指示のあった件について、さいたまコールセンター通話録音装置等の運用に関する取扱要領"
    "第5条第2項の規定に基づき、次のとおり提出します。"
)


@pytest.fixture
async def named(ws: Workspace, spool: Path) -> list:
    recording(spool, JAPANESE, 30_000, seed=1)
    recording(spool, LONG, 50_000, seed=2)
    recording(spool, BACKSLASH, 12_000, seed=3)
    recording(spool, "in-0488291111-anonymous-20260927-090000-pbx-1.2.wav", 44, seed=4)
    recording(spool, "in-0488291111-unknown-20260928-090000-pbx-1.3.wav", 0)
    return await index(ws)


async def export_image(ws: Workspace, out: Path, call_ids: list[int], medium: str = "dvd-r"):
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="crime-prevention", medium=medium, call_ids=call_ids, note="[red]x[/red]"
    )
    op = await operator(ws)
    plan = await ws.exports.prepare(op, ins.number, ws.exports.target(out=str(out)))
    return ins, plan, await ws.exports.run(op, plan)


async def test_image_is_bit_exact_in_every_tree(
    ws: Workspace, named: list, spool: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.iso"
    ins, _plan, record = await export_image(ws, out, [c.id for c in named])
    assert record.state == "finished" and record.target == TargetKind.IMAGE
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial left

    # Rock Ridge, read by osirrox: every recording under its own name, byte for byte.
    x = extract(out, tmp_path / "rr")
    for call in named:
        assert (x / "recordings" / call.path).read_bytes() == (spool / call.path).read_bytes()
    check = sha256sum_check(x)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(named) + 6  # recordings, 4 forms, README, manifest

    # Joliet: every file there too, long names shortened to fit 64 bytes; same bytes.
    joliet = listing(out, tree="joliet")
    assert len(joliet) == len(tree_files(x))
    assert all(len(p.rpartition("/")[2].encode()) <= 64 for p in joliet)
    jx = extract(out, tmp_path / "joliet", tree="joliet")
    got = {hashlib.sha256(p.read_bytes()).hexdigest() for p in jx.rglob("*.wav")}
    assert got == {c.sha256 for c in named}
    # Plain ISO 9660 too.
    assert len(listing(out, tree="iso9660")) == len(joliet)

    # The JSON manifest: calls, ingest hashes, the names in every tree, the audit head.
    doc = json.loads((x / MANIFEST).read_text())
    assert doc["instruction"]["number"] == ins.number
    assert doc["callrec"] == VERSION  # which callrec wrote the medium
    assert {c["id"]: c["sha256"] for c in doc["calls"]} == {c.id: c.sha256 for c in named}
    long_entry = next(c for c in doc["calls"] if c["spool_path"].endswith(LONG))
    assert long_entry["names"]["rock_ridge"] == "/recordings/" + long_entry["spool_path"]
    assert long_entry["names"]["joliet"] != long_entry["names"]["rock_ridge"]
    assert (await ws.audit.verify(Head.parse(doc["audit_head"]))).ok
    assert record.audit_head == doc["audit_head"]


@needs_7z
async def test_udf_tree_holds_every_file(ws: Workspace, named: list, tmp_path: Path) -> None:
    out = tmp_path / "out.iso"
    await export_image(ws, out, [c.id for c in named])
    udf = udf_listing(out)
    doc = json.loads((extract(out, tmp_path / "x") / MANIFEST).read_text())
    assert {c["names"]["udf"].lstrip("/") for c in doc["calls"]} <= udf
    assert f"recordings/{named[0].path}" in udf  # the Japanese name, whole
    assert len(udf) == len(named) + 7


async def test_forms_readme_and_submission(ws: Workspace, named: list, tmp_path: Path) -> None:
    out = tmp_path / "out.iso"
    ins, _, record = await export_image(ws, out, [c.id for c in named])
    x = extract(out, tmp_path / "x")
    form2 = (x / FORM2_TXT).read_text()
    assert form2.count("出力データ提出書") == len(named)  # one form per call
    assert form2.count(LEAD) == len(named)
    assert "令和8年" in form2 and "（" in form2 and "頃から" in form2 and "頃まで" in form2
    assert "048-829-1111" in form2 and "03-1234-5678" in form2 and "非通知" in form2
    assert "運用責任者（広聴課長）　様" in form2
    html2 = (x / FORM2_HTML).read_text()
    assert "@page { size: A4" in html2 and html2.count("class=page") == len(named)
    assert "[red]x[/red]" in (x / FORM1_HTML).read_text()  # notes are text, escaped for HTML only
    readme = (x / README).read_text()
    assert "sha256sum -c SHA256SUMS" in readme and record.audit_head in readme
    assert str(output_kept_through(record.written_on)) in readme
    # The instruction is submitted and its 提出書 kept, printable again.
    assert (await ws.instructions.get(ins.id)).state == State.SUBMITTED
    kept = await ws.exports.submitted(ins.number)
    assert (await ws.exports.submission_form(ins.number)).count(LEAD) == len(named)
    assert "@page" in await ws.exports.submission_form(ins.number, html=True)
    assert kept.media[0].size == out.stat().st_size
    assert (x / SUMS).exists()


async def test_every_step_is_audited(ws: Workspace, named: list, tmp_path: Path) -> None:
    ins, _, _ = await export_image(ws, tmp_path / "out.iso", [named[0].id])
    rows = await ws.db.fetchall("SELECT action FROM audit WHERE subject = ? ORDER BY seq", (ins.number,))
    assert [r[0] for r in rows] == [
        Action.INSTRUCTION_ISSUED,
        Action.INSTRUCTION_STARTED,
        Action.EXPORT_STARTED,
        Action.INSTRUCTION_SUBMITTED,
        Action.EXPORT_FINISHED,
    ]
    assert (await ws.audit.verify()).ok


async def test_hostile_names_are_kept_and_checkable(ws: Workspace, spool: Path, tmp_path: Path) -> None:
    """A newline, a backslash, an escape sequence and a bidi override in names: Rock Ridge keeps
    them as they are, SHA256SUMS escapes them the way sha256sum reads them, forms show them escaped."""
    names = [
        "in-0488291111-0312345678-20260929-120000-new\nline.1.wav",
        "in-0488291111-0312345678-20260929-120100-esc\x1b]0;title\x07.1.wav",
        "in-0488291111-0312345678-20260929-120200-bidi\u202egnp.1.wav",
    ]
    for i, name in enumerate(names):
        recording(spool, name, 3000, seed=10 + i)
    calls = await index(ws)
    assert sorted(c.name for c in calls) == sorted(names)
    out = tmp_path / "out.iso"
    await export_image(ws, out, [c.id for c in calls])
    x = extract(out, tmp_path / "x")
    for call in calls:
        assert (x / "recordings" / call.path).read_bytes() == (spool / call.path).read_bytes()
    check = sha256sum_check(x)
    assert check.returncode == 0, check.stdout + check.stderr
    form = (x / FORM2_TXT).read_text()
    assert "\x1b" not in form and "\u202e" not in form and "new\\x0aline" in form
