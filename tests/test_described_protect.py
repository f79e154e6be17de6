"""A described export instruction (a time range and numbers, no call ids) keeps every call it
matches from a purge from its issue until it is received or cancelled, with the matching the
export uses (issue 11, item 1)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.access.duties import Duty
from services.core.clock import JST
from services.core.config import Config
from services.instructions.store import Criteria
from services.workspace import Workspace
from tests.support.console import make_app, open_view, screen_text, until
from tests.support.faults import start_paused
from tests.support.purge import wait_for
from tests.support.retention import files_on_disk, manager, states, write_call
from tests.support.workspace import CliRunner

# Long past its retention (翌月末) by the real clock, whatever day the tests run.
BASE = (datetime.now(JST) - timedelta(days=100)).replace(hour=10, minute=0, second=0, microsecond=0)
FROM, TO = f"{BASE:%Y-%m-%dT%H:%M}", f"{BASE + timedelta(hours=1):%Y-%m-%dT%H:%M}"
CITY, OTHER_CITY, LANDLINE, MOBILE = "0488291111", "0488291112", "0312345678", "09012345678"
# name -> (when, city-side number, other party's number)
CALLS = {
    "a": (BASE + timedelta(minutes=5), CITY, LANDLINE),
    "b": (BASE + timedelta(minutes=40), CITY, MOBILE),
    "c": (BASE + timedelta(minutes=10), OTHER_CITY, MOBILE),
    "d": (BASE + timedelta(hours=3), CITY, LANDLINE),  # after the range
    "e": (BASE - timedelta(days=1), CITY, MOBILE),  # before it
}


@pytest.fixture
async def calls(ws: Workspace, spool: Path) -> dict[str, tuple[int, str]]:
    """name -> (call id, path in the spool), indexed."""
    paths = {
        name: write_call(spool, when, i, city=city, other=other).relative_to(spool).as_posix()
        for i, (name, (when, city, other)) in enumerate(CALLS.items())
    }
    await ws.indexer.scan()
    ids = {r["path"]: r["id"] for r in await ws.db.fetchall("SELECT id, path FROM calls")}
    found = {
        r["id"]: (r["city_number"], r["other_number"])
        for r in await ws.db.fetchall("SELECT id, city_number, other_number FROM calls")
    }
    out = {name: (ids[p], p) for name, p in paths.items()}
    assert {n: found[i] for n, (i, _) in out.items()} == {n: c[1:] for n, c in CALLS.items()}
    return out


def run_json(cli: CliRunner, *args: str, input: str = "") -> dict:
    proc = cli(*args, "--json", input=input)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def instruct(cli: CliRunner, *described: str) -> dict:
    return run_json(
        cli,
        "instruct",
        "export",
        "--purpose",
        "proper-conduct",
        "--medium",
        "usb",
        "--from",
        FROM,
        "--to",
        TO,
        *described,
        "--pin-stdin",
        "--yes",
        input="1111\n",
    )


def purge(cli: CliRunner) -> dict:
    ins = run_json(cli, "instruct", "purge", "--pin-stdin", input="1111\n")
    return run_json(cli, "purge", str(ins["id"]), "--yes", "--pin-stdin", input="2222\n")


def blocked(cli: CliRunner) -> dict[int, tuple[list[str], list[str]]]:
    """The retention preview's blocked calls: id -> (reasons, instruction numbers)."""
    preview = run_json(cli, "retention")
    return {b["id"]: (b["reasons"], b["instructions"]) for b in preview["blocked"]}


async def test_described_calls_are_blocked_kept_by_a_purge_and_exported(
    cli: CliRunner, ws: Workspace, spool: Path, calls: dict[str, tuple[int, str]], tmp_path: Path
) -> None:
    # The city-side number as people write it: normalised as the export normalises it.
    ins = instruct(cli, "--city", "048-829-1111")
    number = ins["number"]
    a, b = calls["a"][0], calls["b"][0]
    assert blocked(cli) == {a: (["instruction"], [number]), b: (["instruction"], [number])}
    lines = cli("retention", check=True).stdout.splitlines()
    assert "blocked: 2" in lines
    named = [line for line in lines if line.endswith(f"(instruction {number})")]
    assert [line.split()[0] for line in named] == [str(a), str(b)]

    result = purge(cli)
    assert (result["state"], result["planned"], result["deleted"]) == ("finished", 3, 3)
    kept = {calls["a"][1], calls["b"][1]}
    assert files_on_disk(spool) == kept
    st = await states(ws)
    assert {p: st[p] for _, p in calls.values()} == {
        p: ("complete" if p in kept else "purged") for _, p in calls.values()
    }

    # The export finds exactly the calls the purge kept.
    stick = tmp_path / "stick"
    stick.mkdir()
    record = run_json(cli, "export", number, "--dir", str(stick), "--pin-stdin", "--yes", input="2222\n")
    assert record["state"] == "finished"
    out = stick / f"callrec-{number}"
    assert {p.relative_to(out / "recordings").as_posix() for p in (out / "recordings").rglob("*.wav")} == kept
    assert (await ws.instructions.get(number)).call_ids == (a, b)

    # Submitted, not yet received: still kept. Received: the normal schedule again.
    assert set(blocked(cli)) == {a, b}
    run_json(cli, "receive", number, "--custodian", "広聴課", "--pin-stdin", "--yes", input="1111\n")
    assert blocked(cli) == {}
    assert purge(cli)["deleted"] == 2
    assert files_on_disk(spool) == set()
    assert (await ws.audit.verify()).ok


async def test_a_cancelled_description_protects_no_more(
    cli: CliRunner, ws: Workspace, spool: Path, calls: dict[str, tuple[int, str]]
) -> None:
    # Only the other party's number: either city-side line.
    ins = instruct(cli, "--other", "090-1234-5678")
    b, c = calls["b"][0], calls["c"][0]
    assert blocked(cli) == {b: (["instruction"], [ins["number"]]), c: (["instruction"], [ins["number"]])}
    run_json(cli, "cancel", ins["number"], "--reason", "取り下げ", "--pin-stdin", input="1111\n")
    assert blocked(cli) == {}
    assert purge(cli)["deleted"] == 5
    assert files_on_disk(spool) == set()


@pytest.mark.parametrize(
    ("city", "other", "matched"),
    [
        (None, None, "acb"),  # a time range alone (oldest first)
        ("048-829-1111", None, "ab"),
        (None, "03-1234-5678", "a"),
        ("０４８８２９１１１２", "+81 90-1234-5678", "c"),  # full-width digits, international form
        ("048-829-1111", "090-1234-5678", "b"),
    ],
)
async def test_the_preview_blocks_what_the_export_resolves(
    ws: Workspace, calls: dict[str, tuple[int, str]], city: str | None, other: str | None, matched: str
) -> None:
    crit = Criteria.parse(FROM, TO, city=city, other=other, tz=JST)
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION), purpose="crime-prevention", medium="usb", criteria=crit
    )
    want = [calls[n][0] for n in matched]
    assert await ws.instructions.resolve_described(ins) == want
    assert await ws.instructions.resolve(crit) == want
    preview = await ws.retention.preview()
    assert [(x.id, x.instructions) for x in preview.blocked] == [(i, (ins.number,)) for i in want]
    assert preview.purgeable.count == 5 - len(want)
    assert {c.id async for c in ws.retention.purgeable_calls()} == {
        i for i, _ in calls.values() if i not in want
    }


async def test_a_hold_and_a_description_both_named(ws: Workspace, calls: dict[str, tuple[int, str]]) -> None:
    a = calls["a"][0]
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    ins = await ws.instructions.issue_export(
        boss, purpose="crime-prevention", medium="usb", criteria=Criteria.parse(FROM, TO, tz=JST)
    )
    await ws.holds.set(await manager(ws), a, "情報公開請求")
    # what the call's detail in the console names: the same instructions as the preview
    assert await ws.instructions.protecting([a, calls["d"][0]]) == {a: [ins.number]}
    first = (await ws.retention.preview()).blocked[0]
    assert (first.id, [r.value for r in first.reasons], first.instructions) == (
        a,
        ["hold", "instruction"],
        (ins.number,),
    )
    await ws.instructions.cancel(boss, ins.number)
    preview = await ws.retention.preview()
    assert [(x.id, [r.value for r in x.reasons]) for x in preview.blocked] == [(a, ["hold"])]


async def test_an_instruction_issued_while_a_purge_runs_keeps_its_calls(
    cli: CliRunner, ws: Workspace, spool: Path, calls: dict[str, tuple[int, str]], cfg: Config, tmp_path: Path
) -> None:
    """The purge has made its plan (all five calls) and is stopped before it marks any; the
    described instruction is issued then. The marking transaction checks the description."""
    purge_ins = run_json(cli, "instruct", "purge", "--pin-stdin", input="1111\n")
    flag = tmp_path / "paused"
    proc = start_paused(
        cfg.source,
        "--lang",
        "en",
        "purge",
        str(purge_ins["id"]),
        "--yes",
        "--pin-stdin",
        "--json",
        step="after_start",
        flag=flag,
        stdin="2222\n",
    )
    try:
        wait_for(flag, proc)
        ins = instruct(cli, "--city", CITY)
    finally:
        flag.unlink(missing_ok=True)
        proc.wait(timeout=120)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert (result["planned"], result["deleted"], result["skipped"]) == (5, 3, 2)
    kept = {calls["a"][1], calls["b"][1]}
    assert files_on_disk(spool) == kept
    st = await states(ws)
    assert {st[p] for p in kept} == {"complete"}
    assert set(blocked(cli)) == {calls["a"][0], calls["b"][0]}
    assert await ws.instructions.resolve_described(await ws.instructions.get(ins["number"])) == [
        calls["a"][0],
        calls["b"][0],
    ]
    assert (await ws.audit.verify()).ok


async def test_the_console_preview_names_the_instruction(
    ws: Workspace, calls: dict[str, tuple[int, str]]
) -> None:
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION),
        purpose="crime-prevention",
        medium="usb",
        criteria=Criteria.parse(FROM, TO, city=CITY, tz=JST),
    )
    app = make_app(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        view = await open_view(pilot, app)
        assert view.preview is not None and len(view.preview.blocked) == 2
        await until(pilot, lambda: f"指示 {ins.number}" in screen_text(app), what="the number")
        assert "期限を過ぎても削除しない録音: 2件" in screen_text(app)


async def test_the_migration_copies_existing_descriptions(
    cfg: Config, ws: Workspace, calls: dict[str, tuple[int, str]]
) -> None:
    """Instructions issued before the description table existed are protected once it does."""
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION),
        purpose="crime-prevention",
        medium="usb",
        criteria=Criteria.parse(FROM, TO, other=MOBILE, tz=JST),
    )
    await ws.close()
    with sqlite3.connect(cfg.database) as db:  # the database as it was before the migration
        db.execute("DROP TABLE instruction_described")
        db.execute("DROP INDEX instructions_described")
        db.execute("DELETE FROM migrations WHERE name = '0009_described'")
    reopened = await Workspace.open(cfg)
    try:
        assert await reopened.instructions.resolve_described(ins) == [calls["c"][0], calls["b"][0]]
        assert {b.id for b in (await reopened.retention.preview()).blocked} == {calls["b"][0], calls["c"][0]}
    finally:
        await reopened.close()
