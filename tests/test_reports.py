"""The report to the manager (第3条5) and the public notice (第3条7), through services and CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import date, datetime

import pytest

from console.exits import Exit
from services import reports
from services.access.audit import Action
from services.access.duties import Duty, Role
from services.calls import CallFilter
from services.core.config import Config
from services.core.errors import WrongPin
from services.core.version import VERSION
from services.instructions import notice
from services.workspace import Workspace
from tests.support.workspace import MANAGER_PIN, OPERATOR_PIN, CliRunner


async def test_report_counts_calls_and_actions(ws: Workspace, samples: list) -> None:
    await ws.indexer.scan()
    manager = await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, Duty.ISSUE_INSTRUCTION)
    ids = [c.id for c in await ws.calls.page(CallFilter(), limit=3)]
    await ws.instructions.issue_export(manager, purpose="crime-prevention", medium="dvd-r", call_ids=ids)
    purge = await ws.instructions.issue_purge(manager)
    await ws.instructions.cancel(manager, purge.id, "not needed")
    for _ in range(2):
        with pytest.raises(WrongPin):
            await ws.auth.verify(Role.OPERATOR, "9999")
    actor = await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, Duty.REPORT)
    today = ws.clock.now().date()
    r = await ws.reports.build(actor, date(2026, 9, 1), today)
    assert r.calls_total == 45  # every sample is dated 2026-09..11
    assert r.calls_by_type["in"] >= 10 and set(r.calls_by_type) >= {"in", "out", "q", "rg", "internal"}
    assert sum(r.calls_by_day.values()) == 45
    assert r.calls_by_day["2026-10-31"] == 1  # the unparked call counts on its own day (JST)
    assert r.sections["instructions"] == {"issued": 2, "executed": 0, "cancelled": 1}
    assert r.sections["pins"]["failures"] == 2
    assert r.audit_ok and r.audit_head and r.audit_head.startswith(f"{r.audit_entries}:")
    text = reports.to_text(r)
    assert "監査ログ: 正常" in text and r.audit_head in text


async def test_report_period_excludes_other_days(ws: Workspace, samples: list) -> None:
    await ws.indexer.scan()
    actor = await ws.auth.authorize(Role.OPERATOR, OPERATOR_PIN, Duty.REPORT)
    r = await ws.reports.build(actor, date(2026, 10, 31), date(2026, 10, 31))
    assert r.calls_total == 1
    assert r.sections["instructions"]["issued"] == 0


async def test_report_shows_a_broken_chain(ws: Workspace, cfg: Config) -> None:
    await ws.audit.record(at=ws.clock.now(), actor="system", action=Action.CONFIG_WRITTEN)
    with sqlite3.connect(cfg.database) as raw:
        raw.execute("DROP TRIGGER audit_no_update")
        raw.execute("UPDATE audit SET subject = 'edited' WHERE seq = 1")
    actor = await ws.auth.authorize(Role.MANAGER, MANAGER_PIN, Duty.REPORT)
    r = await ws.reports.build(actor, date(2026, 1, 1), ws.clock.now().date())
    assert not r.audit_ok and "entry 1" in r.audit_problem


def test_report_cli_formats(ws: Workspace, cli: CliRunner) -> None:
    today = datetime.now().date().isoformat()
    out = cli(
        "report",
        "--from",
        "2026-01-01",
        "--to",
        today,
        "--format",
        "json",
        "--pin-stdin",
        input=MANAGER_PIN + "\n",
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["audit"]["ok"] is True and data["audit"]["head"]
    assert data["callrec"] == VERSION
    out = cli(
        "report",
        "--from",
        "2026-01-01",
        "--to",
        today,
        "--format",
        "csv",
        "--pin-stdin",
        input=MANAGER_PIN + "\n",
        check=True,
    )
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["section", "item", "count"] and ["pins", "failures", "0"] in rows
    out = cli(
        "report",
        "--from",
        "2026-01-01",
        "--to",
        today,
        "--format",
        "html",
        "--pin-stdin",
        input=MANAGER_PIN + "\n",
        check=True,
    )
    assert "@page" in out.stdout and "size: A4" in out.stdout
    wrong = cli("report", "--from", "2026-01-01", "--to", today, "--pin-stdin", input="0000\n")
    assert wrong.returncode == Exit.PIN and wrong.stderr.count("\n") == 1 and "0000" not in wrong.stderr


def test_notice_follows_the_config_and_the_rules(cfg: Config) -> None:
    ja = notice.notice_ja(cfg)
    for purpose in ("業務の公正かつ適正な執行の確保", "犯罪の防止", "職員への不当な圧力や要求等の排除"):
        assert purpose in ja
    assert cfg.centre.name in ja and cfg.centre.phone in ja and "令和8年4月1日" in ja
    assert "翌月末" in ja and "翌年度末" in ja and "聴取" in ja
    en = notice.notice_en(cfg)
    assert "end of the month after" in en and cfg.centre.name_en in en


def test_notice_cli(cfg: Config, cli: CliRunner) -> None:
    out = cli("notice", check=True)
    assert "通話録音の実施について" in out.stdout
    out = cli("notice", "--lang", "en", check=True)
    assert "Recording of calls" in out.stdout
