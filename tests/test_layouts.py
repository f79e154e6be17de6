"""The FreePBX and pattern layouts: every type and caller-ID case, and the awkward names."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demo_data import SAMPLE_MANIFEST
from services.core import phone
from services.core.clock import JST
from services.core.phone import CallerId
from services.indexing.layouts import (
    PARTIES,
    CallType,
    FreePBXLayout,
    FreePBXName,
    NumberPlan,
    PatternLayout,
    SkipReason,
    make_layout,
    skip_reason_for_name,
)

FREEPBX = FreePBXLayout(JST)


# One row per line of the recorder-truth table: the name FreePBX writes, and what it means.
TABLE = [
    # in: DID | caller ID (anonymous = withheld, unknown/empty = unavailable)
    ("in-0488291111-0312345678-20261110-135005-1794286205.1.wav", "in", "0488291111", "0312345678", "number"),
    ("in-s-09012345678-20261110-135005-1794286205.2.wav", "in", None, "09012345678", "number"),
    (
        "in-0488291111-090-1234-5678-20261110-135005-1794286205.3.wav",
        "in",
        "0488291111",
        "09012345678",
        "number",
    ),
    ("in-0488291111-anonymous-20261005-101208-1791162728.1.wav", "in", "0488291111", None, "withheld"),
    ("in-0488291111-unknown-20261005-101340-1791162820.1.wav", "in", "0488291111", None, "unavailable"),
    ("in-0488291111--20261005-101500-1791162900.12.wav", "in", "0488291111", None, "unavailable"),
    (
        "in-0488291111-+819012345678-20261001-090533-1790813133.1.wav",
        "in",
        "0488291111",
        "09012345678",
        "number",
    ),
    (
        "in-0488291111-+810312345678-20261001-090533-1790813133.2.wav",
        "in",
        "0488291111",
        "0312345678",
        "number",
    ),
    (
        "in-0488291111-+12025550123-20261002-162000-1790925600.1.wav",
        "in",
        "0488291111",
        "01012025550123",
        "number",
    ),
    # out: number dialled | calling extension
    ("out-09012345678-2001-20261006-140010-1791262810.1.wav", "out", "2001", "09012345678", "number"),
    ("out-00312345678-2001-20261006-140010-1791262810.2.wav", "out", "2001", "00312345678", "number"),
    # internal: called extension | calling extension (the caller kept as the city)
    ("internal-2002-2001-20261016-120102-1792119662.1.wav", "internal", "2001", "2002", "number"),
    # external: called extension or queue agent | the outside caller
    ("external-2003-0488291234-20261014-101010-1791940210.1.wav", "external", "2003", "0488291234", "number"),
    # q, rg: queue or ring group | caller
    ("q-600-0488291234-20261019-090045-1792368045.1.wav", "q", "600", "0488291234", "number"),
    ("rg-700-0312345678-20261021-151515-1792563315.1.wav", "rg", "700", "0312345678", "number"),
    # generic: DID, or empty on internal calls | caller
    (
        "generic-0488291111-0312345678-20261021-151515-1792563315.2.wav",
        "generic",
        "0488291111",
        "0312345678",
        "number",
    ),
    ("generic--201-20261021-151515-1792563315.3.wav", "generic", "201", None, "unavailable"),
    # parked: extension picking up, or unknown | the picker
    ("parked-71-09012345678-20261022-112233-1792635753.1.wav", "parked", "71", "09012345678", "number"),
    ("parked-unknown-2001-20261022-112233-1792635753.2.wav", "parked", None, "2001", "number"),
    # ondemand: the side that is the centre's
    ("ondemand-0488291234-2001-20261104-144444-1793771084.1.wav", "ondemand", "2001", "0488291234", "number"),
    ("ondemand-Unknown-2001-20261104-144444-1.7.wav", "ondemand", "2001", None, "unavailable"),
    ("ondemand-2001-0312345678-20261104-144444-01.city.wav", "ondemand", "2001", "0312345678", "number"),
    # conference rooms: the room, no other party
    ("800-800-always-20261104-144444-1793771084.5.wav", "conf", "800", None, "unavailable"),
    ("800-800-always-20261104-144444-1793771084.6-1793771084.wav", "conf", "800", None, "unavailable"),
    ("conf-800-800-20261104-144444-1793771084.7.wav", "conf", "800", None, "unavailable"),
    # FreePBX <= 12
    ("exten-2002-0312345678-20261105-090909-1793837349.1.wav", "exten", "2002", "0312345678", "number"),
    ("force-2002-0312345678-20261105-090909-1793837349.2.wav", "force", "2002", "0312345678", "number"),
    ("page-500-2001-20261105-090909-1793837349.3.wav", "page", "500", "2001", "number"),
]


@pytest.mark.parametrize(("name", "kind", "city", "other", "caller_id"), TABLE)
def test_freepbx_types_and_parties(
    name: str, kind: str, city: str, other: str | None, caller_id: str
) -> None:
    p = FREEPBX.parse(name)
    assert p is not None
    assert (p.type, p.city_number, p.other_number, p.caller_id.value) == (kind, city, other, caller_id)


def test_the_party_table_covers_every_named_type() -> None:
    assert set(PARTIES) == set(CallType) - {CallType.UNKNOWN}
    assert {row[1] for row in TABLE} == {t.value for t in PARTIES}


def test_ondemand_side_follows_the_configured_numbers() -> None:
    plan = NumberPlan(own_numbers=("0488291111",), extension_pattern="2[0-9]{3}")
    layout = FreePBXLayout(JST, plan)
    pressed_by_callee = layout.parse("ondemand-0488291111-0312345678-20261104-144444-1.7.wav")
    assert pressed_by_callee is not None
    assert (pressed_by_callee.city_number, pressed_by_callee.other_number) == ("0488291111", "0312345678")
    outbound = layout.parse("ondemand-0312345678-2001-20261104-144444-1.8.wav")
    assert outbound is not None and (outbound.city_number, outbound.other_number) == ("2001", "0312345678")
    # 601 is not an extension under this plan: the calling side is not the centre's.
    other = layout.parse("ondemand-2001-601-20261104-144444-1.9.wav")
    assert other is not None and (other.city_number, other.other_number) == ("2001", "601")


def test_outside_line_prefix_from_the_plan() -> None:
    layout = FreePBXLayout(JST, NumberPlan(outside_line_prefix="0"))
    p = layout.parse("out-00312345678-2001-20261006-140010-1791262810.2.wav")
    assert p is not None and p.other_number == "0312345678"


@pytest.mark.parametrize(
    ("name", "uniqueid", "fmt"),
    [
        (
            "q-601-09012345678-20261020-103015-pbx-saitama-01-1792459815.13.wav",
            "pbx-saitama-01-1792459815.13",
            "wav",
        ),
        (
            "in-0488291111-09012345678-20261020-103015-pbx.city.local-1792459815.13.WAV",
            "pbx.city.local-1792459815.13",
            "WAV",
        ),
        ("ondemand-Unknown-2001-20261020-103015-1.7.gsm", "1.7", "gsm"),
        ("ondemand-2001-0312345678-20261020-103015-01.city.ulaw", "01.city", "ulaw"),
        ("in-0488291111-09012345678-20261020-103015-1792459815.13.alaw", "1792459815.13", "alaw"),
        ("in-0488291111-09012345678-20261020-103015-1792459815.13.sln", "1792459815.13", "sln"),
        ("in-0488291111-09012345678-20261020-103015-1792459815.13.g729", "1792459815.13", "g729"),
        ("in-0488291111-09012345678-20261020-103015-1792459815.13.wav49", "1792459815.13", "wav49"),
    ],
)
def test_uniqueid_and_format_forms(name: str, uniqueid: str, fmt: str) -> None:
    p = FREEPBX.parse(name)
    assert p is not None
    assert (p.uniqueid, p.fmt) == (uniqueid, fmt)
    assert p.named_at == datetime(2026, 10, 20, 10, 30, 15, tzinfo=JST)
    assert p.named_at.utcoffset().total_seconds() == 9 * 3600


@pytest.mark.parametrize(
    "stamp",
    [
        "00011110-135005",
        "99991110-135005",
        "20261310-135005",
        "20261100-135005",
        "20261110-250000",
        "20260230-000000",
    ],
)
def test_impossible_dates_parse_without_a_moment(stamp: str) -> None:
    p = FREEPBX.parse(f"in-0488291111-0312345678-{stamp}-1794286205.1.wav")
    assert p is not None and p.named_at is None and p.named_stamp == stamp


_FIELD = st.text(st.sampled_from("0123456789-+sanoymuUkw"), max_size=14)


@given(
    kind=st.sampled_from([t.value for t in PARTIES if t is not CallType.CONF] + ["conf", ""]),
    first=st.text(st.sampled_from("0123456789sU"), min_size=1, max_size=12),
    second=_FIELD,
    date=st.from_regex(r"[0-9]{8}", fullmatch=True),
    time=st.from_regex(r"[0-9]{6}", fullmatch=True),
    uniqueid=st.from_regex(r"([a-z][a-z.-]{0,10}-)?[0-9]{1,10}\.[0-9a-z]{1,6}", fullmatch=True),
    fmt=st.sampled_from(["wav", "WAV", "wav49", "gsm", "ulaw", "alaw", "sln", "g729"]),
    epoch=st.sampled_from(["", "1794286205"]),
)
def test_names_round_trip(
    kind: str, first: str, second: str, date: str, time: str, uniqueid: str, fmt: str, epoch: str
) -> None:
    if kind == "":  # a conference: the room twice, then always
        name = FreePBXName("", first, "always", date, time, uniqueid, fmt, epoch)
    else:
        name = FreePBXName(kind, first, second, date, time, uniqueid, fmt)
    assert FreePBXName.match(name.format()) == name
    p = FREEPBX.parse(name.format())
    assert p is not None and p.uniqueid == uniqueid and p.fmt == fmt


@given(st.text(max_size=120))
def test_no_name_crashes_the_parser(name: str) -> None:
    p = FREEPBX.parse(name)
    assert p is None or isinstance(p.type, str)


def test_format_kept_as_written() -> None:
    upper = FREEPBX.parse("in-0488291111-09012345678-20261109-110000-1794189600.1.WAV")
    gsm = FREEPBX.parse("in-0488291111-0312345678-20261110-135005-1794286205.1.gsm")
    assert upper is not None and upper.fmt == "WAV"
    assert gsm is not None and gsm.fmt == "gsm"


@pytest.mark.parametrize(
    "name",
    [
        "in-0488291111-0312345678-20261110-135005-1794286205.1",  # no format
        "in-0488291111-0312345678-20261110-1350-1794286205.1.wav",  # short time
        "call-0488291111-0312345678-20261110-135005-1794286205.1.wav",  # unknown type
        "in-0488291111-0312345678-20261110-135005-.wav",  # no uniqueid
        "in-0488291111-0312345678-20261110-135005-1794286205.1.wav.bak",  # not a recording format
        "801-800-always-20261110-135005-1794286205.1.wav",  # a conference names its room twice
        "README.txt",
        "",
    ],
)
def test_freepbx_refuses(name: str) -> None:
    assert FREEPBX.parse(name) is None


def test_every_sample_parses_as_its_manifest_says() -> None:
    for f in json.loads(SAMPLE_MANIFEST.read_text(encoding="utf-8"))["files"]:
        name = f["path"].rpartition("/")[2]
        p = FREEPBX.parse(name)
        assert p is not None, name
        assert p.type == f["type"]
        assert p.uniqueid == f["uniqueid"]
        assert p.fmt == f["format"]
        assert p.named_at == datetime.fromisoformat(f["start"])
        city = {"first": f["first"], "second": f["second"], "room": f["first"]}[f["city_side"]]
        assert p.city_number == phone.normalize(city)[0], name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (".in-0488291111-0312345678-20261110-135005-1.1.wav", SkipReason.HIDDEN),
        (".DS_Store", SkipReason.HIDDEN),
        ("in-0488291111-0312345678-20261110-135005-1.1.wav.part", SkipReason.TEMPORARY),
        ("in-0488291111-0312345678-20261110-135005-1.1.wav.tmp", SkipReason.TEMPORARY),
        ("in-0488291111-0312345678-20261110-135005-1.1.wav~", SkipReason.TEMPORARY),
        ("~lock.wav", SkipReason.TEMPORARY),
        ("in-\udcff-0312345678-20261110-135005-1.1.wav", SkipReason.BAD_ENCODING),
        ("in-0488291111-0312345678-20261110-135005-1.1.wav", None),
    ],
)
def test_skip_reasons(name: str, reason: SkipReason | None) -> None:
    assert skip_reason_for_name(name) is reason


def test_pattern_layout() -> None:
    layout = make_layout(
        "pattern",
        r"(?P<date>\d{4}-\d{2}-\d{2})_(?P<time>\d{2}\.\d{2}\.\d{2})_(?P<city>[^_]*)_(?P<other>[^_]*)"
        r"(?:_(?P<type>in|out))?\.(?P<fmt>mp3|wav)",
        JST,
    )
    assert isinstance(layout, PatternLayout)
    p = layout.parse("2026-11-10_13.50.05_0488291111_+819012345678_out.mp3")
    assert p is not None
    assert p.named_at == datetime(2026, 11, 10, 13, 50, 5, tzinfo=JST)
    assert (p.type, p.city_number, p.other_number, p.caller_id) == (
        "out",
        "0488291111",
        "09012345678",
        CallerId.NUMBER,
    )
    assert p.fmt == "mp3"
    assert p.uniqueid == "2026-11-10_13.50.05_0488291111_+819012345678_out"
    q = layout.parse("2026-11-10_13.50.05_0488291111_anonymous.wav")
    assert q is not None and (q.type, q.other_number, q.caller_id) == ("in", None, CallerId.WITHHELD)
    odd = layout.parse("2026-13-10_13.50.05_0488291111_1.wav")
    assert odd is not None and odd.named_at is None
    assert layout.parse("something else.wav") is None


def test_pattern_layout_needs_a_pattern() -> None:
    with pytest.raises(ValueError):
        make_layout("pattern", None, JST)
