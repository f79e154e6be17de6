"""Dates and times as people type them (services/core/when.py), the closeness search built on them
(services/calls.py `around`, a described instruction's candidates) and `callrec calls --around`."""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.calls import CallFilter
from services.core import JST, BadWhen, Precision, parse_when
from services.core.config import Config
from services.instructions import Criteria, candidates
from services.workspace import Workspace
from tests.support.workspace import CliRunner

TODAY = date(2026, 12, 4)
DAY = date(2026, 12, 4)


def at(h: int, m: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, h, m, tzinfo=JST)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04",
        "2026/12/04",
        "2026/12/4",
        "20261204",
        "2026年12月4日",
        "12/4",
        "12月4日",
        "令和8年12月4日",
        "R8.12.4",
        "R8/12/4",
        "r8.12.4",
        "令和8.12.4",
        "㋿8年12月4日",
        "今日",
        "today",
        "Today",
        "２０２６／１２／０４",
        "２０２６年１２月４日",
        "１２／４",
    ],
)
def test_days(text: str) -> None:
    when = parse_when(text, TODAY, JST)
    assert (when.day, when.at, when.precision, when.approximate) == (DAY, None, Precision.DAY, False)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("昨日", date(2026, 12, 3)),
        ("yesterday", date(2026, 12, 3)),
        ("一昨日", date(2026, 12, 2)),
        ("12/5", date(2025, 12, 5)),  # not in the future
        ("1/5", date(2026, 1, 5)),
        ("H31.4.30", date(2019, 4, 30)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("2/29", date(2024, 2, 29)),  # the latest such day there was
    ],
)
def test_relative_and_era_days(text: str, day: date) -> None:
    assert parse_when(text, TODAY, JST).day == day


def test_a_month_and_day_is_the_latest_not_after_today() -> None:
    assert parse_when("12/4", date(2027, 1, 2), JST).day == date(2026, 12, 4)
    assert parse_when("12月4日", date(2027, 1, 2), JST).day == date(2026, 12, 4)


@pytest.mark.parametrize(
    ("text", "moment", "precision", "approximate"),
    [
        ("14:00", at(14), Precision.MINUTE, False),
        ("14:05", at(14, 5), Precision.MINUTE, False),
        ("１４：０５", at(14, 5), Precision.MINUTE, False),
        ("14時", at(14), Precision.HOUR, False),
        ("14時05分", at(14, 5), Precision.MINUTE, False),
        ("14時半", at(14, 30), Precision.MINUTE, False),
        ("14時頃", at(14), Precision.HOUR, True),
        ("14時ごろ", at(14), Precision.HOUR, True),
        ("14時くらい", at(14), Precision.HOUR, True),
        ("14:00ぐらい", at(14), Precision.MINUTE, True),
        ("around 14:00", at(14), Precision.MINUTE, True),
        ("午後2時", at(14), Precision.HOUR, False),
        ("午前9時30分", at(9, 30), Precision.MINUTE, False),
        ("午後0時", at(12), Precision.HOUR, False),
        ("2pm", at(14), Precision.HOUR, False),
        ("12/4 14:00", at(14), Precision.MINUTE, False),
        ("12/4 14時頃", at(14), Precision.HOUR, True),
        ("12月4日14時", at(14), Precision.HOUR, False),
        ("2026-12-04 14:05", at(14, 5), Precision.MINUTE, False),
        ("2026-12-04T14:05", at(14, 5), Precision.MINUTE, False),
        ("2026-12-04T14:05:00+09:00", at(14, 5), Precision.SECOND, False),
        ("2026-12-04T05:05Z", at(14, 5), Precision.MINUTE, False),
        ("令和8年12月4日 午後2時ごろ", at(14), Precision.HOUR, True),
        ("R8.12.4 14:00", at(14), Precision.MINUTE, False),
        ("昨日 14時頃", at(14, day=date(2026, 12, 3)), Precision.HOUR, True),
        ("昨日14時", at(14, day=date(2026, 12, 3)), Precision.HOUR, False),
        ("一昨日 午後2時", at(14, day=date(2026, 12, 2)), Precision.HOUR, False),
    ],
)
def test_moments(text: str, moment: datetime, precision: Precision, approximate: bool) -> None:
    when = parse_when(text, TODAY, JST)
    assert when.at == moment and when.day == moment.date()
    assert (when.precision, when.approximate) == (precision, approximate)


def test_spans() -> None:
    assert parse_when("12/4", TODAY, JST).span(JST) == (at(0), at(23, 59) + timedelta(seconds=59))
    assert parse_when("14時", TODAY, JST).span(JST) == (at(14), at(14, 59) + timedelta(seconds=59))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "nonsense",
        "頃",
        "2026-02-30",
        "2026-13-01",
        "2/30",
        "25時",
        "24:00",
        "14:60",
        "午後13時",
        "令和0年1月1日",
        "平成32年1月1日",
        "令和1年4月1日",
        "平成元年1月7日",
        "1969-12-31",
        "3000-01-01",
        "0000-01-01",
        "12/4/2026",
        "tomorrow",
        "2026-12-04T25:00",
        "١٢/٤",  # digits of another script are not read as numbers
    ],
)
def test_refusals_name_the_forms(text: str) -> None:
    with pytest.raises(BadWhen) as caught:
        parse_when(text, TODAY, JST)
    err = caught.value
    assert err.code == "bad_when"
    assert "2026-12-04" in err.params["forms"] and "令和8年12月4日" in err.params["forms"]
    assert "14時頃" in str(err) and "R8.12.4" in str(err)


def test_the_value_is_escaped_in_the_error() -> None:
    with pytest.raises(BadWhen) as caught:
        parse_when("\x1b[31m12/4\x07", TODAY, JST)
    assert "\x1b" not in caught.value.params["value"] and "\x1b" not in str(caught.value)


@given(st.text(max_size=40), st.dates(date(1970, 1, 1), date(2999, 12, 31)))
def test_any_text_is_read_or_refused(text: str, today: date) -> None:
    try:
        when = parse_when(text, today, JST)
    except BadWhen:
        return
    assert date(1970, 1, 1) <= when.day <= date(2999, 12, 31)


@given(st.from_regex(r"[0-9０-９/:年月日時分頃令和平成R.\- ]{0,16}", fullmatch=True))
def test_number_like_text_is_read_or_refused(text: str) -> None:
    with contextlib.suppress(BadWhen):
        parse_when(text, TODAY, JST)


# -- the closeness search ------------------------------------------------------------------

OCT26 = date(2026, 10, 26)  # the samples: calls at 09:00, 10:00, 11:00, 12:00 and 13:00


async def test_around_orders_by_closeness(indexed: Workspace) -> None:
    found = await indexed.calls.around(at(10, 20, OCT26), timedelta(minutes=120))
    assert [(c.started_at.hour, d) for c, d in found] == [
        (10, timedelta(minutes=-20)),
        (11, timedelta(minutes=40)),
        (9, timedelta(minutes=-80)),
        (12, timedelta(minutes=100)),
    ]
    assert [c for c, _ in await indexed.calls.around(at(10, 20, OCT26), timedelta(minutes=10))] == []
    two = await indexed.calls.around(at(10, 20, OCT26), timedelta(minutes=120), limit=2)
    assert [c.started_at.hour for c, _ in two] == [10, 11]
    # ties by id; the filter applies
    tie = await indexed.calls.around(at(10, 30, OCT26), timedelta(minutes=30))
    assert [c.id for c, _ in tie] == sorted(c.id for c, _ in tie) and len(tie) == 2
    only = await indexed.calls.around(at(10, 20, OCT26), timedelta(hours=3), CallFilter(number="0312345678"))
    assert {c.other_number for c, _ in only} == {"0312345678"} and only


async def test_around_uses_a_range_on_started_at(indexed: Workspace) -> None:
    await indexed.calls.around(at(10, 20, OCT26), timedelta(minutes=30), CallFilter(number="0312"))
    plans: list[str] = []
    original = indexed.db.fetchall

    async def explained(sql: str, params: object = ()) -> object:
        if "abs(c.started_at" in sql:
            rows = await original(f"EXPLAIN QUERY PLAN {sql}", params)  # type: ignore[arg-type]
            plans.extend(str(r[3]) for r in rows)
        return await original(sql, params)  # type: ignore[arg-type]

    indexed.db.fetchall = explained  # type: ignore[assignment,method-assign]
    try:
        await indexed.calls.around(at(10, 20, OCT26), timedelta(minutes=30), CallFilter(number="0312"))
    finally:
        del indexed.db.fetchall
    walk = [p for p in plans if "calls_browse" in p]
    assert walk and all("started_at>" in p and "started_at<" in p for p in walk), plans
    assert not any(p.startswith("SCAN") for p in plans), plans


async def test_a_described_instructions_candidates_are_ranked_by_closeness(indexed: Workspace) -> None:
    crit = Criteria.parse("2026-10-26T09:30", "2026-10-26T12:30", tz=JST)  # "about 11:00"
    ranked = await candidates(indexed.calls, crit)
    assert [(c.started_at.hour, d) for c, d in ranked] == [
        (11, timedelta(0)),
        (10, timedelta(hours=-1)),
        (12, timedelta(hours=1)),
    ]
    mobile = Criteria.parse("2026-10-26T12:00", "2026-10-26T14:00", other="090-4444-5555", tz=JST)
    assert [c.other_number for c, _ in await candidates(indexed.calls, mobile)] == ["09044445555"]
    fixed = Criteria.parse("2026-10-26", "2026-10-26", other="03-1234-5678", tz=JST)
    assert [c.started_at.hour for c, _ in await candidates(indexed.calls, fixed)] == [11, 9]
    assert await candidates(indexed.calls, fixed, limit=1) == (await candidates(indexed.calls, fixed))[:1]


def test_criteria_take_the_forms_people_type() -> None:
    crit = Criteria.parse("令和8年10月26日 9時", "R8.10.26 12:30", tz=JST)
    assert (crit.start, crit.end) == (at(9, day=OCT26), at(12, 30, OCT26))
    crit = Criteria.parse("昨日", "今日", tz=JST, today=TODAY)
    assert crit.start == at(0, day=date(2026, 12, 3)) and crit.end == at(23, 59, DAY) + timedelta(seconds=59)
    with pytest.raises(BadWhen):
        Criteria.parse("昨日", "今日", tz=JST)  # relative to a day not given


# -- callrec calls --around ------------------------------------------------------------------


def test_calls_around_on_the_command_line(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path]
) -> None:
    cli("index", check=True)
    text = cli("calls", "--around", "令和8年10月26日 10時20分ごろ", "--within", "120", check=True).stdout
    lines = text.splitlines()
    assert [line[10:29] for line in lines] == [
        "2026-10-26 10:00:00",
        "2026-10-26 11:00:00",
        "2026-10-26 09:00:00",
        "2026-10-26 12:00:00",
    ]
    assert [line.rsplit("  ", 1)[1] for line in lines] == ["-20 min", "+40 min", "-80 min", "+100 min"]
    assert "0312345678" not in text and "03-1234-5678" not in text and "•" in text  # masked
    ja = cli("--lang", "ja", "calls", "--around", "2026/10/26 10:20", check=True).stdout
    assert [line.rsplit("  ", 1)[1] for line in ja.splitlines()] == ["-20分"]

    listed = json.loads(
        cli("calls", "--around", "R8.10.26 12:59", "--within", "60", "--json", check=True).stdout
    )
    assert [(c["started_at"][11:16], c["difference_s"]) for c in listed] == [("13:00", 60), ("12:00", -3540)]
    assert all("09044445555" not in json.dumps(c) for c in listed)

    # a day alone: that day in time order
    day = json.loads(cli("calls", "--around", "2026年10月26日", "--json", check=True).stdout)
    assert [c["started_at"][11:13] for c in day] == ["09", "10", "11", "12", "13"]
    assert {c["difference_s"] for c in day} == {None}


def test_a_described_export_shows_its_calls_closest_first(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path], tmp_path: Path
) -> None:
    """The operator checks a described instruction's calls against "about 11:00": the plan lists
    them closest to that time first, each with its difference."""
    cli("index", check=True)
    ins = json.loads(
        cli(
            "instruct",
            "export",
            "--purpose",
            "proper-conduct",
            "--medium",
            "usb",
            "--from",
            "令和8年10月26日 9時30分",
            "--to",
            "2026-10-26 12:30",
            "--pin-stdin",
            "--yes",
            "--json",
            input="1111\n",
            check=True,
        ).stdout
    )
    stick = tmp_path / "stick"
    stick.mkdir()
    out = cli(
        "export", ins["number"], "--dir", str(stick), "--pin-stdin", "--yes", input="2222\n", check=True
    )
    listed = [line for line in out.stdout.splitlines() if line.startswith("  ") and "2026-10-26" in line]
    assert [line.split()[1:3] for line in listed] == [
        ["2026-10-26", "11:00:00"],
        ["2026-10-26", "10:00:00"],
        ["2026-10-26", "12:00:00"],
    ]
    assert [line.rsplit("  ", 1)[1] for line in listed] == ["±0 min", "-60 min", "+60 min"]


async def test_the_consoles_export_plan_lists_described_calls_closest_first(
    indexed: Workspace, tmp_path: Path
) -> None:
    from screens.exports.actions import plan_lines
    from services.access import Duty
    from tests.support.retention import manager, operator

    crit = Criteria.parse("2026-10-26T11:40", "2026-10-26T13:10", tz=JST)  # "about 12:25"
    ins = await indexed.instructions.issue_export(
        await manager(indexed, Duty.ISSUE_INSTRUCTION), purpose="proper-conduct", medium="usb", criteria=crit
    )
    plan = await indexed.exports.prepare(
        await operator(indexed), ins.id, indexed.exports.target(folder=str(tmp_path))
    )
    calls = [line for line in plan_lines(plan) if "2026-10-26" in line]
    assert [line.split()[2] for line in calls] == ["12:00", "13:00"]
    assert [line.rsplit("  ", 1)[1] for line in calls] == ["-25分", "+35分"]


async def test_the_calls_filter_lists_the_calls_around_a_typed_moment(indexed: Workspace) -> None:
    from textual.widgets import Input

    from tests.support.console import call_list, make_app, screen_text, settle, unlock

    app = make_app(indexed)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        lst = call_list(app)
        await pilot.press("slash", "tab", *"R8.10.26 10時20分頃")
        await settle(pilot)
        assert lst.filter.near == at(10, 20, OCT26) and lst.filter.date_from is None
        assert lst.row_count == 1 and lst.call_at(0).started_at == at(10, 0, OCT26)
        text = screen_text(app)
        assert "2026-10-26 10:20 に近い順（前後30分）" in text and "開始 2026-10-26 10:00:00（-20分）" in text
        await pilot.press("tab", *"10/27")  # around a moment there is no end day
        await pilot.pause(0.1)
        assert app.screen.query_one("#f-to", Input).has_class("invalid") and lst.row_count == 1
        await pilot.press(
            *["backspace"] * 5, "shift+tab", "end", *["backspace"] * 8
        )  # the time removed: R8.10.26
        await settle(pilot)
        assert lst.filter.near is None and lst.filter.date_from == OCT26
        assert lst.row_count == await indexed.calls.count(lst.filter) > 1  # from that day on, newest first


def test_calls_from_takes_the_forms_people_type(
    cli: CliRunner, ws: Workspace, cfg: Config, samples: list[Path]
) -> None:
    cli("index", check=True)
    era = json.loads(
        cli("calls", "--from", "令和8年10月26日", "--to", "R8.10.26", "--json", check=True).stdout
    )
    iso = json.loads(cli("calls", "--from", "2026-10-26", "--to", "2026-10-26", "--json", check=True).stdout)
    assert era == iso and len(era) == 5


def test_an_unreadable_date_is_a_usage_error_naming_the_forms(cli: CliRunner, ws: Workspace) -> None:
    proc = cli("--lang", "ja", "calls", "--from", "nonsense")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert "日付・時刻として読めません" in lines[0] and "令和8年12月4日" in lines[0] and "R8.12.4" in lines[0]
    proc = cli("calls", "--around", "25時")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "forms taken" in proc.stderr
    for where_a_day_is_wanted in ("14時", "昨日", "12/4", "2026-12-04T14:00"):  # read before any clock
        proc = cli("calls", "--to", where_a_day_is_wanted)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert "--to" in proc.stderr and "R8.12.4" in proc.stderr and "14時頃" not in proc.stderr
