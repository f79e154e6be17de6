"""The clock (issue 11 item 5): an entry written while the clock ran ahead blocks exports, purges
and disposals until the manager acknowledges the correction (CLI and console, PIN-confirmed,
audited); audit verify warns of time going backwards; retention dates are Japan dates whatever
time zone the recorder's names are read in."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from console.exits import Exit
from screens.reports.status_view import StatusView
from screens.widgets.modals import PinPrompt
from services.access.audit import Action
from services.access.duties import Role
from services.core import config as config_mod
from services.core.clock import JST, FixedClock
from services.core.config import Config
from services.workspace import Workspace
from tests.support.console import make_app, screen_text, show, unlock_as_manager, until
from tests.support.retention import files_on_disk, make_calls
from tests.support.workspace import CliRunner, run_callrec

AHEAD = timedelta(days=2)


async def write_ahead(cfg: Config, ahead: timedelta = AHEAD) -> datetime:
    """One audit entry stamped by a clock running `ahead` (a PIN checked then); its time."""
    at = datetime.now(JST).replace(microsecond=0) + ahead
    fast = await Workspace.open(cfg, clock=FixedClock(at))
    try:
        await fast.auth.verify(Role.MANAGER, "1111")
    finally:
        await fast.close()
    return at


async def actions(ws: Workspace) -> list[str]:
    return [r[0] for r in await ws.db.fetchall("SELECT action FROM audit ORDER BY seq")]


async def test_a_clock_that_ran_ahead_blocks_until_the_manager_acknowledges(
    cli: CliRunner, ws: Workspace, cfg: Config, spool: Path
) -> None:
    make_calls(spool, expired=2)
    cli("index", check=True)
    ins = json.loads(
        cli("instruct", "purge", "--note", "月次", "--pin-stdin", "--json", input="1111\n", check=True).stdout
    )
    ahead = await write_ahead(cfg)

    refused = cli("purge", str(ins["id"]), "--pin-stdin", input="2222\n2\n")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    line = refused.stderr.splitlines()[-1]  # after the prompt for the typed count
    assert line.startswith("callrec: the clock (") and "earlier than the newest audit entry" in line
    assert f"({ahead:%Y-%m-%d %H:%M:%S})" in line and "clock ack" in line
    assert len(files_on_disk(spool)) == 2

    # the manager's PIN (the operator's is not it); both times shown before the PIN is asked
    wrong = cli("clock", "ack", "--pin-stdin", input="2222\n")
    assert wrong.returncode == Exit.PIN and "Wrong" in wrong.stderr
    assert Action.CLOCK_ACKNOWLEDGED not in await actions(ws)
    done = cli("clock", "ack", "--pin-stdin", input="1111\n")
    assert done.returncode == 0, done.stderr
    shown, said = done.stdout.splitlines()
    assert f"{ahead:%Y-%m-%d %H:%M:%S}" in shown and "the clock reads" in shown
    assert "acknowledged" in said
    entry = await ws.db.fetchone(
        "SELECT actor, detail FROM audit WHERE action = ?", (Action.CLOCK_ACKNOWLEDGED,)
    )
    assert entry["actor"] == "manager"
    detail = json.loads(entry["detail"])
    assert detail["latest"] == ahead.isoformat() and detail["now"] < detail["latest"]
    assert "nothing to acknowledge" in cli("clock", "ack", "--pin-stdin", input="1111\n").stderr

    purged = cli("purge", str(ins["id"]), "--pin-stdin", input="2222\n2\n")
    assert purged.returncode == 0, purged.stderr
    assert not files_on_disk(spool)

    # the guard still holds for a clock that runs ahead again after the acknowledgement
    await write_ahead(cfg, timedelta(hours=3))
    gap = await ws.clock_ack.gap()
    assert gap is not None and gap.latest > gap.now

    # verify: the chain is whole, and says where time went back (which entry, both times)
    report = json.loads(cli("audit", "verify", "--json", check=True).stdout)
    assert report["ok"] and report["backwards"]
    step = report["backwards"][0]
    assert step["before"] == ahead.isoformat() and step["at"] < step["before"]
    text = cli("audit", "verify", check=True).stdout
    assert f"entry {step['seq']} ({step['at']}) is stamped earlier than entry {step['seq'] - 1}" in text


async def test_the_console_acknowledges_with_both_times_and_the_managers_pin(
    ws: Workspace, cfg: Config
) -> None:
    ahead = await write_ahead(cfg)
    app = make_app(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock_as_manager(pilot)
        await show(pilot, "status")
        view = app.screen.query_one(StatusView)
        await until(pilot, lambda: view.clock_gap is not None, what="the clock gap")
        await until(
            pilot,
            lambda: (
                "reads earlier than the newest audit entry" in screen_text(app)
                or "より前です" in screen_text(app)
            ),
            what="the warning",
        )
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt), what="the PIN prompt")
        shown = screen_text(app)
        assert f"{ahead:%Y-%m-%d %H:%M:%S}" in shown
        assert f"{view.clock_gap.now:%Y-%m-%d %H:}" in shown  # type: ignore[union-attr]
        await pilot.press(*"2222", "enter")  # the operator's PIN is not the manager's
        await until(pilot, lambda: "PINが違います" in screen_text(app), what="the refusal")
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: not isinstance(app.screen, PinPrompt), what="the prompt to close")
        await until(pilot, lambda: view.clock_gap is None, what="the gap acknowledged")
    assert Action.CLOCK_ACKNOWLEDGED in await actions(ws)
    assert await ws.clock_ack.gap() is None
    assert (await ws.audit.verify()).ok


def test_retention_dates_are_japan_dates_whatever_the_recorders_time_zone(
    tmp_path: Path, spool: Path
) -> None:
    path = tmp_path / "ny.toml"
    run_callrec(path, "init", "--spool", str(spool), "--data", str(tmp_path / "ny"), check=True)
    text = path.read_text(encoding="utf-8")
    assert 'timezone = "Asia/Tokyo"' in text
    path.write_text(
        text.replace('timezone = "Asia/Tokyo"', 'timezone = "America/New_York"'), encoding="utf-8"
    )
    assert config_mod.load(path).timezone == "America/New_York"
    # 2026-11-30 12:00 in New York is 2026-12-01 02:00 in Japan: kept through the end of January
    # (翌月末 of December), not of December.
    name = spool / "2026/11/30/in-0488291111-0312345678-20261130-120000-1.1.wav"
    name.parent.mkdir(parents=True)
    name.write_bytes(b"RIFF" + b"\0" * 60)
    run_callrec(path, "index", check=True)
    calls = json.loads(run_callrec(path, "calls", "--json", check=True).stdout)
    assert [c["raw_retention_until"] for c in calls] == ["2027-01-31"]
    assert calls[0]["started_at"].startswith("2026-12-01T02:00:00+09:00")
    assert date.fromisoformat(calls[0]["raw_retention_until"]) == date(2027, 1, 31)
