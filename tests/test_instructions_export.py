"""Export instructions (様式第1号): picked or described calls, the form, and the CLI around them."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from console.exits import Exit
from services.core.clock import JST
from services.core.errors import CallrecError, Conflict
from services.export import forms
from services.instructions.store import Criteria, State
from services.workspace import Workspace
from tests.support.export import extract, index, manager, needs_xorriso, operator, recording, sha256sum_check
from tests.support.workspace import CliRunner


def test_criteria_parse() -> None:
    c = Criteria.parse("2026-09-07", "2026-09-07", city="048-829-1111", other="+81 3-1234-5678", tz=JST)
    assert c.start == datetime(2026, 9, 7, 0, 0, tzinfo=JST)
    assert c.end == datetime(2026, 9, 7, 23, 59, 59, tzinfo=JST)
    assert c.city == "0488291111" and c.other == "0312345678"
    assert Criteria.from_json(c.to_json()) == c
    t = Criteria.parse("2026-09-07T09:30", "2026-09-07T10:00", tz=JST)
    assert t.start.hour == 9 and t.start.minute == 30 and t.city is None
    with pytest.raises(CallrecError):
        Criteria.parse("2026-09-08", "2026-09-07", tz=JST)
    with pytest.raises(CallrecError):
        Criteria.parse("yesterday", "2026-09-07", tz=JST)
    with pytest.raises(CallrecError):
        Criteria.parse("2026-09-07", "2026-09-07", other="anonymous", tz=JST)


def test_wareki_and_moments() -> None:
    assert forms.wareki(datetime(2026, 4, 1).date()) == "令和8年4月1日"
    assert forms.wareki(datetime(2019, 5, 1).date()) == "令和元年5月1日"
    assert forms.wareki(datetime(2019, 4, 30).date()) == "平成31年4月30日"
    at = datetime(2026, 9, 7, 9, 15, 12, tzinfo=JST)
    assert forms.moment(at) == "令和8年9月7日（月）9時15分"
    assert forms.moment(at, round_up=True) == "令和8年9月7日（月）9時16分"


@pytest.fixture
async def calls(ws: Workspace, spool: Path) -> list:
    recording(spool, "in-0488291111-0312345678-20260907-091512-a.1.wav", 16044)  # 0.5 s
    recording(spool, "in-0488291111-0312345678-20260907-143000-b.1.wav", 16044)
    recording(spool, "in-0488291112-0312345678-20260907-100000-c.1.wav", 16044)
    recording(spool, "in-0488291111-09012345678-20260907-110000-d.1.wav", 16044)
    recording(spool, "in-0488291111-0312345678-20260908-090000-e.1.wav", 16044)
    return await index(ws)


async def test_described_calls_are_resolved_by_the_operator(
    ws: Workspace, calls: list, tmp_path: Path
) -> None:
    crit = Criteria.parse(
        "2026-09-07T09:00", "2026-09-07T15:00", city="048-829-1111", other="03-1234-5678", tz=JST
    )
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="undue-pressure", medium="dvd-r", criteria=crit
    )
    assert ins.call_ids == () and ins.described == crit
    text = forms.form1_text(forms.FormContext(ins, [], ws.config.centre, ws.config.tz))
    assert "令和8年9月7日（月）9時0分から 令和8年9月7日（月）15時0分まで" in text
    assert "048-829-1111" in text and "03-1234-5678" in text and "職員への不当な圧力" in text
    op = await operator(ws)
    plan = await ws.exports.prepare(op, ins.number, ws.exports.target(out=str(tmp_path / "o.iso")))
    assert plan.described and [c.name.split("-")[4] for c in plan.calls] == ["091512", "143000"]
    await ws.exports.run(op, plan)
    done = await ws.instructions.get(ins.number)
    assert done.state == State.SUBMITTED and done.call_ids == tuple(sorted(c.id for c in plan.calls))


async def test_a_description_matching_nothing(ws: Workspace, calls: list, tmp_path: Path) -> None:
    crit = Criteria.parse("2026-01-01", "2026-01-31", tz=JST)
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="undue-pressure", medium="dvd-r", criteria=crit
    )
    with pytest.raises(CallrecError) as err:
        await ws.exports.prepare(
            await operator(ws), ins.number, ws.exports.target(out=str(tmp_path / "o.iso"))
        )
    assert err.value.code == "no_match"


async def test_cancel_only_before_execution(ws: Workspace, calls: list, tmp_path: Path) -> None:
    mgr = await manager(ws)
    ins = await ws.instructions.issue_export(
        mgr, purpose="undue-pressure", medium="dvd-r", call_ids=[calls[0].id]
    )
    op = await operator(ws)
    plan = await ws.exports.prepare(op, ins.number, ws.exports.target(out=str(tmp_path / "o.iso")))
    await ws.exports.run(op, plan)
    with pytest.raises(Conflict):
        await ws.instructions.cancel(await manager(ws), ins.number)


def run_json(cli: CliRunner, *args: str, input: str) -> dict:
    proc = cli(*args, "--json", input=input)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@needs_xorriso
async def test_cli_from_instruction_to_disposal(cli: CliRunner, calls: list, tmp_path: Path) -> None:
    ids = [str(c.id) for c in calls[:2]]
    # Issuing asks for a confirmation: without a terminal, --yes is needed.
    proc = cli(
        "instruct",
        "export",
        "--purpose",
        "crime-prevention",
        "--medium",
        "dvd-r",
        "--call",
        ids[0],
        "--pin-stdin",
        input="1111\n",
    )
    assert proc.returncode == Exit.USAGE and "--yes" in proc.stderr
    ins = run_json(
        cli,
        "instruct",
        "export",
        "--purpose",
        "crime-prevention",
        "--medium",
        "dvd-r",
        "--call",
        ids[0],
        "--call",
        ids[1],
        "--note",
        "警察からの照会",
        "--pin-stdin",
        "--yes",
        input="1111\n",
    )
    assert ins["state"] == "issued" and ins["number"].endswith("-0001")
    form = cli("instructions", "show", ins["number"], check=True).stdout
    assert "通話出力データ作成指示書" in form and "犯罪の防止" in form and "警察からの照会" in form
    html = cli("instructions", "show", ins["number"], "--form", "html", check=True).stdout
    assert html.startswith("<!DOCTYPE html>") and "size: A4" in html

    out = tmp_path / "cli.iso"
    # The manager's PIN cannot execute: the command asks the operator's PIN.
    proc = cli("export", ins["number"], "--out", str(out), "--pin-stdin", "--yes", input="1111\n")
    assert proc.returncode == Exit.PIN and "Wrong Operator PIN" in proc.stderr
    proc = cli("export", ins["number"], "--out", str(out), "--pin-stdin", input="2222\n")
    assert proc.returncode == Exit.USAGE and "--yes" in proc.stderr and not out.exists()
    record = run_json(cli, "export", ins["number"], "--out", str(out), "--pin-stdin", "--yes", input="2222\n")
    assert record["state"] == "finished" and out.exists()
    assert sha256sum_check(extract(out, tmp_path / "x")).returncode == 0
    sub = cli("instructions", "show", ins["number"], "--submission", check=True).stdout
    assert sub.count("出力データ提出書") == 2

    proc = cli("receive", ins["number"], "--pin-stdin", "--yes", input="2222\n")
    assert proc.returncode == Exit.PIN  # the operator's PIN cannot receive
    entry = run_json(
        cli, "receive", ins["number"], "--custodian", "広聴課", "--pin-stdin", "--yes", input="1111\n"
    )
    assert entry["status"] == "kept" and entry["kept_through"].endswith("-03-31")
    text = cli("register", check=True).stdout
    assert ins["number"] in text and "翌年度末" in text
    ext = run_json(
        cli,
        "extend",
        str(entry["id"]),
        "--until",
        "2031-03-31",
        "--reason",
        "訴訟対応",
        "--pin-stdin",
        "--yes",
        input="1111\n",
    )
    assert ext["kept_through"] == "2031-03-31" and ext["extensions"][0]["reason"] == "訴訟対応"
    proc = cli(
        "dispose",
        str(entry["id"]),
        "--method",
        "破砕",
        "--witness",
        "山田",
        "--pin-stdin",
        "--yes",
        input="1111\n",
    )
    assert proc.returncode == Exit.REFUSED and "2031-04-01" in proc.stderr
    listed = run_json(cli, "instructions", input="")
    assert listed[0]["state"] == "received"
    assert cli("register", "--due", check=True).stdout.strip() == "no entries"


@needs_xorriso
async def test_cli_described_instruction(cli: CliRunner, calls: list, tmp_path: Path) -> None:
    ins = run_json(
        cli,
        "instruct",
        "export",
        "--purpose",
        "proper-conduct",
        "--medium",
        "usb",
        "--from",
        "2026-09-07T09:00",
        "--to",
        "2026-09-07T12:00",
        "--city",
        "0488291111",
        "--pin-stdin",
        "--yes",
        input="1111\n",
    )
    assert ins["criteria"]["city"] == "0488291111" and ins["calls"] == []
    proc = cli(
        "instruct",
        "export",
        "--purpose",
        "proper-conduct",
        "--medium",
        "usb",
        "--from",
        "2026-09-07",
        "--pin-stdin",
        "--yes",
        input="1111\n",
    )
    assert proc.returncode == 1 and "--to" in proc.stderr
    stick = tmp_path / "stick"
    stick.mkdir()
    proc = cli("export", ins["number"], "--dir", str(stick), "--pin-stdin", "--yes", input="2222\n")
    assert proc.returncode == 0, proc.stderr
    assert "description" in proc.stdout and "091512" in proc.stdout and "110000" in proc.stdout
    assert sha256sum_check(stick / f"callrec-{ins['number']}").returncode == 0


async def test_resolved_calls_are_named_only_if_still_present(ws: Workspace, calls: list) -> None:
    """set_calls checks, in the transaction that names them, that no call was purged or went
    missing after the description was resolved; refused, nothing is named."""
    crit = Criteria.parse("2026-09-07", "2026-09-07", tz=JST)
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="crime-prevention", medium="dvd-r", criteria=crit
    )
    ids = await ws.instructions.resolve(crit)
    assert len(ids) == 4
    for gone_state in ("purging", "purged", "missing"):
        async with ws.db.transaction() as conn:  # a purge (or the indexer) got there first
            await conn.execute("UPDATE calls SET state = ? WHERE id = ?", (gone_state, ids[1]))
        with pytest.raises(Conflict) as err:
            async with ws.db.transaction() as conn:
                await ws.instructions.set_calls(conn, ins, ids)
        assert err.value.code == "call_gone" and err.value.params["call_id"] == ids[1]
        assert ins.number in err.value.message and "\n" not in err.value.message
        assert (await ws.instructions.get(ins.number)).call_ids == ()
    async with ws.db.transaction() as conn:
        await conn.execute("UPDATE calls SET state = 'complete' WHERE id = ?", (ids[1],))
    with pytest.raises(CallrecError) as err:  # an empty resolution names nothing either
        async with ws.db.transaction() as conn:
            await ws.instructions.set_calls(conn, ins, [])
    assert err.value.code == "no_match"
    async with ws.db.transaction() as conn:
        await ws.instructions.set_calls(conn, ins, [*ids, ids[0]])
    assert (await ws.instructions.get(ins.number)).call_ids == tuple(sorted(ids))


@needs_xorriso
async def test_a_call_purged_while_the_export_starts_is_refused(
    ws: Workspace, calls: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race set_calls closes: the operator's export resolved the description and read the calls;
    before it names them, a purge marks one. The export is refused and leaves nothing."""
    crit = Criteria.parse(
        "2026-09-07T09:00", "2026-09-07T15:00", city="048-829-1111", other="03-1234-5678", tz=JST
    )
    ins = await ws.instructions.issue_export(
        await manager(ws), purpose="undue-pressure", medium="dvd-r", criteria=crit
    )
    op = await operator(ws)
    out = tmp_path / "out"
    out.mkdir()
    plan = await ws.exports.prepare(op, ins.number, ws.exports.target(out=str(out / "o.iso")))
    victim = plan.calls[0].id
    check = ws.exports._check_destination

    def purge_meanwhile(*args: object) -> object:  # runs between reading the calls and naming them
        with sqlite3.connect(ws.config.database) as db:
            db.execute("UPDATE calls SET state = 'purging' WHERE id = ?", (victim,))
        return check(*args)

    monkeypatch.setattr(ws.exports, "_check_destination", purge_meanwhile)
    with pytest.raises(Conflict) as err:
        await ws.exports.run(op, plan)
    assert err.value.code == "call_gone" and err.value.params["call_id"] == victim
    after = await ws.instructions.get(ins.number)
    assert after.state == State.ISSUED and after.call_ids == ()
    assert list(out.iterdir()) == []
    assert await ws.db.scalar("SELECT count(*) FROM exports") == 0


async def test_the_demo_workspace_description_finds_calls(tmp_path: Path) -> None:
    """The demo's described instruction can be executed: it matches calls of its fortnight."""
    from demo_data.workspace import build

    cfg = await build(tmp_path / "demo", now=datetime(2026, 11, 28, 15, 0, tzinfo=JST), calls=60)
    ws = await Workspace.open(cfg)
    try:
        described = [i for i in await ws.instructions.list() if i.described is not None]
        assert described
        for ins in described:
            assert ins.described is not None and await ws.instructions.resolve(ins.described)
    finally:
        await ws.close()
