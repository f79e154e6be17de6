"""The index is true to the recorder: every name FreePBX writes, through the real indexer, and
names whose dates cannot be believed, in a scan, the live watcher and the CLI."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path

import pytest

from demo_data.synth import wav_header
from services import reports
from services.access.audit import Action
from services.access.auth import Role
from services.access.duties import Duty
from services.core.clock import JST
from services.core.config import Config
from services.workspace import Workspace
from tests.support.export import manager
from tests.support.workspace import CliRunner
from tests.test_indexer_watch import eventually, following
from tests.test_layouts import TABLE

AUDIO = wav_header(1600) + b"\x01\x02" * 800
DAY = "2026/11/09"
WRITTEN = datetime(2026, 11, 9, 11, 5, tzinfo=JST).timestamp()


def put(spool: Path, rel: str, data: bytes = AUDIO, mtime: float = WRITTEN) -> Path:
    path = spool / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


async def row(ws: Workspace, rel: str) -> dict:
    found = await ws.db.fetchone("SELECT * FROM calls WHERE path = ?", (rel,))
    assert found is not None, rel
    return dict(found)


async def test_every_form_in_the_table_is_indexed_with_its_parties(ws: Workspace, spool: Path) -> None:
    for name, *_ in TABLE:
        day = next(p for p in name.split("-") if len(p) == 8 and p.isdigit())
        put(
            spool,
            f"{day[:4]}/{day[4:6]}/{day[6:]}/{name}",
            mtime=datetime.strptime(day, "%Y%m%d").replace(hour=23, tzinfo=JST).timestamp(),
        )
    report = await ws.indexer.scan()
    assert (report.added, report.unknown, report.anomalies) == (len(TABLE), 0, 0)
    for name, kind, city, other, caller_id in TABLE:
        day = next(p for p in name.split("-") if len(p) == 8 and p.isdigit())
        r = await row(ws, f"{day[:4]}/{day[4:6]}/{day[6:]}/{name}")
        assert (r["type"], r["city_number"], r["other_number"], r["caller_id"]) == (
            kind,
            city,
            other,
            caller_id,
        ), name
        assert r["anomaly"] is None and r["state"] == "complete"


async def test_audio_under_a_name_no_layout_reads_is_kept_as_unknown(ws: Workspace, spool: Path) -> None:
    put(spool, f"{DAY}/recording copy (1).wav")
    put(spool, f"{DAY}/stray.ulaw", b"\xff\x7f" * 4000)
    put(spool, f"{DAY}/notes.txt", b"call back at 3\n")
    report = await ws.indexer.scan()
    assert (report.added, report.unknown, dict(report.skipped)) == (2, 2, {"unparsed": 1})
    copy = await row(ws, f"{DAY}/recording copy (1).wav")
    assert (copy["type"], copy["city_number"], copy["other_number"], copy["caller_id"]) == (
        "unknown",
        None,
        None,
        "unavailable",
    )
    assert copy["started_at"] == int(WRITTEN)  # its own time, on its day folder's day
    assert copy["raw_retention_until"] == "2026-12-31"
    stray = await row(ws, f"{DAY}/stray.ulaw")
    assert (stray["fmt"], stray["duration_s"]) == ("ulaw", 1.0)
    (entry,) = await ws.db.fetchall("SELECT detail FROM audit WHERE action = ?", (Action.INDEX_UNKNOWN,))
    assert json.loads(entry[0])["count"] == 2


ODD = {
    "year1": "00010101-100000",
    "year9999": "99991109-100000",
    "month13": "20261309-100000",
    "far": "20250101-100000",  # possible, but a year from both its folder and its own time
}


@pytest.mark.parametrize("case", sorted(ODD))
async def test_an_odd_date_is_flagged_and_never_shortens_retention(
    ws: Workspace, spool: Path, case: str
) -> None:
    name = f"in-0488291111-0312345678-{ODD[case]}-1794189600.1.wav"
    put(spool, f"{DAY}/{name}")
    put(spool, f"{DAY}/in-0488291111-0312345678-20261109-110000-1794189600.2.wav")  # a normal one
    report = await ws.indexer.scan()
    assert (report.added, report.anomalies) == (2, 1)
    r = await row(ws, f"{DAY}/{name}")
    assert r["anomaly"] == f"name_date:{ODD[case]}"
    # The latest of the name (when it can be), the day folder and the file's own time.
    assert r["started_at"] == int(WRITTEN)
    assert date.fromisoformat(r["raw_retention_until"]) >= date(2026, 12, 31)
    (entry,) = await ws.db.fetchall(
        "SELECT subject, detail FROM audit WHERE action = ?", (Action.CALL_ANOMALY,)
    )
    assert entry[0] == f"{DAY}/{name}" and json.loads(entry[1])["anomaly"] == r["anomaly"]
    assert (await ws.audit.verify()).ok
    today = ws.clock.now().date()
    report = await ws.reports.build(await manager(ws, Duty.REPORT), today, today)
    assert report.sections["anomalies"]["odd_dates"] == 1
    assert "名前の日付が異常な録音" in reports.to_text(report)


async def test_a_name_a_day_off_its_folder_is_believed(ws: Workspace, spool: Path) -> None:
    name = "parked-71-08011112222-20261108-235950-1794189600.3.wav"
    put(spool, f"{DAY}/{name}")  # the recorder's day folder is the next day: no anomaly
    await ws.indexer.scan()
    r = await row(ws, f"{DAY}/{name}")
    assert r["anomaly"] is None
    assert r["started_at"] == int(datetime(2026, 11, 8, 23, 59, 50, tzinfo=JST).timestamp())


async def test_odd_dates_arriving_live_do_not_stop_indexing(ws: Workspace, spool: Path) -> None:
    (spool / DAY).mkdir(parents=True)
    async with following(ws):
        for stamp in ODD.values():
            put(spool, f"{DAY}/in-0488291111-0312345678-{stamp}-1.{stamp[:4]}.wav")
        put(spool, f"{DAY}/in-0488291111-0312345678-20261109-110000-1794189600.9.wav")

        async def all_indexed() -> bool:
            return await ws.db.scalar("SELECT count(*) FROM calls") == len(ODD) + 1

        await eventually(all_indexed)
        assert ws.indexer.health.errors == 0
    assert await ws.db.scalar("SELECT count(*) FROM calls WHERE anomaly IS NOT NULL") == len(ODD)


def test_the_cli_counts_unknown_recordings_and_odd_dates(ws: Workspace, spool: Path, cli: CliRunner) -> None:
    put(spool, f"{DAY}/in-0488291111-0312345678-99991109-100000-1794189600.1.wav")
    put(spool, f"{DAY}/unnamed.wav")
    out = cli("index", check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and "unknown" in lines[1] and "odd date" in lines[2], out.stdout
    listed = json.loads(cli("calls", "--json", check=True).stdout)
    assert {c["type"] for c in listed} == {"in", "unknown"}
    assert [c["anomaly"] for c in listed if c["type"] == "in"] == ["name_date:99991109-100000"]
    again = json.loads(cli("index", "--json", check=True).stdout)
    assert (again["unknown"], again["anomalies"]) == (0, 0)  # counted when first indexed


async def test_the_console_lists_them_and_the_status_view_counts_them(ws: Workspace, spool: Path) -> None:
    from tests.support.console import make_app, screen_text, unlock, until

    put(spool, f"{DAY}/in-0488291111-0312345678-00011301-250000-1794189600.1.wav")
    put(spool, f"{DAY}/unnamed.wav")
    await ws.indexer.scan()
    app = make_app(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await until(pilot, lambda: "1件目 / 2件" in screen_text(app))
        assert "不明" in screen_text(app)
        await pilot.press("3")
        await until(
            pilot,
            lambda: "名前不明" in screen_text(app) and "日付異常" in screen_text(app),
            what="the status view's counts",
        )
        assert app.is_running


async def test_an_upgrade_re_derives_stored_parties_and_keeps_issued_forms(
    cfg: Config, spool: Path, cli: CliRunner
) -> None:
    external = "2026/10/14/external-2003-0488291234-20261014-101010-1791940210.1.wav"
    put(spool, external, mtime=datetime(2026, 10, 14, 10, 11, tzinfo=JST).timestamp())
    put(spool, f"{DAY}/in-0488291111-0312345678-20261109-110000-1794189600.1.wav")
    ws = await Workspace.open(cfg, create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.indexer.scan()
        call_id = (await row(ws, external))["id"]
        # What the previous release stored: an external call's parties the wrong way round.
        async with ws.db.transaction() as conn:
            await conn.execute(
                "UPDATE calls SET city_number = '0488291234', other_number = '2003',"
                " numbers = '0488291234 2003' WHERE id = ?",
                (call_id,),
            )
            await conn.execute("DELETE FROM meta WHERE key = 'party_rules'")
        ins = await ws.instructions.issue_export(
            await manager(ws), purpose="crime-prevention", medium="usb", call_ids=[call_id]
        )
        issued, issued_page = await ws.exports.rendered_form1(ins.id)  # as the old release shows it
    finally:
        await ws.close()
    ws = await Workspace.open(cfg)  # the upgrade: the next open re-derives
    try:
        r = await row(ws, external)
        assert (r["city_number"], r["other_number"], r["numbers"]) == (
            "2003",
            "0488291234",
            "2003 0488291234",
        )
        entries = await ws.db.fetchall("SELECT detail FROM audit WHERE action = ?", (Action.CALLS_REDERIVED,))
        assert [json.loads(e[0])["count"] for e in entries] == [1]
        assert json.loads(entries[0][0])["by_type"] == {"external": 1}
        assert (await ws.audit.verify()).ok
    finally:
        await ws.close()
    assert cli("instructions", "show", ins.number, check=True).stdout.rstrip("\n") == issued.rstrip("\n")
    assert cli("instructions", "show", ins.number, "--form", "html", check=True).stdout.rstrip(
        "\n"
    ) == issued_page.rstrip("\n")
    ws = await Workspace.open(cfg)  # once only
    try:
        assert (
            await ws.db.scalar("SELECT count(*) FROM audit WHERE action = ?", (Action.CALLS_REDERIVED,)) == 1
        )
    finally:
        await ws.close()
