"""The FreePBX and pattern layouts: every type and caller-ID case, and the awkward names."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from demo_data import SAMPLE_MANIFEST
from services.clock import JST
from services.layouts import (
    CITY_SIDE,
    CallType,
    FreePBXLayout,
    PatternLayout,
    SkipReason,
    make_layout,
    skip_reason_for_name,
)
from services.phone import CallerId

FREEPBX = FreePBXLayout(JST)


@pytest.mark.parametrize(
    ("name", "kind", "city", "other", "caller_id"),
    [
        ("in-0488291111-0312345678-20261110-135005-1794286205.1.wav", "in", "0488291111",
         "0312345678", "number"),
        ("out-09012345678-2001-20261006-140010-1791262810.1.wav", "out", "2001", "09012345678",
         "number"),
        ("internal-2002-2001-20261016-120102-1792119662.1.wav", "internal", "2001", "2002",
         "number"),
        ("external-0488291234-2003-20261014-101010-1791940210.1.wav", "external", "2003",
         "0488291234", "number"),
        ("q-600-0488291234-20261019-090045-1792368045.1.wav", "q", "600", "0488291234", "number"),
        ("rg-700-0312345678-20261021-151515-1792563315.1.wav", "rg", "700", "0312345678", "number"),
        ("parked-71-09012345678-20261022-112233-1792635753.1.wav", "parked", "71", "09012345678",
         "number"),
        ("ondemand-2001-0488291234-20261104-144444-1793771084.1.wav", "ondemand", "2001",
         "0488291234", "number"),
        ("exten-2002-0312345678-20261105-090909-1793837349.1.wav", "exten", "2002", "0312345678",
         "number"),
        ("in-0488291111-anonymous-20261005-101208-1791162728.1.wav", "in", "0488291111", None,
         "withheld"),
        ("in-0488291111-unknown-20261005-101340-1791162820.1.wav", "in", "0488291111", None,
         "unavailable"),
        ("in-0488291111--20261005-101500-1791162900.12.wav", "in", "0488291111", None,
         "unavailable"),
        ("in-0488291111-+819012345678-20261001-090533-1790813133.1.wav", "in", "0488291111",
         "09012345678", "number"),
        ("in-0488291111-+12025550123-20261002-162000-1790925600.1.wav", "in", "0488291111",
         "01012025550123", "number"),
    ],
)
def test_freepbx_types_and_parties(name: str, kind: str, city: str, other: str | None,
                                   caller_id: str) -> None:
    p = FREEPBX.parse(name)
    assert p is not None
    assert (p.type, p.city_number, p.other_number, p.caller_id.value) == (kind, city, other,
                                                                          caller_id)


def test_every_type_has_a_city_side() -> None:
    assert set(CITY_SIDE) == set(CallType)
    for kind in CallType:
        assert FREEPBX.parse(f"{kind.value}-100-200-20261110-135005-1.1.wav") is not None


def test_uniqueid_with_dashes_and_time_in_japan() -> None:
    p = FREEPBX.parse("q-601-09012345678-20261020-103015-pbx-saitama-01-1792459815.13.wav")
    assert p is not None
    assert p.uniqueid == "pbx-saitama-01-1792459815.13"
    assert p.fmt == "wav"
    assert p.started_at == datetime(2026, 10, 20, 10, 30, 15, tzinfo=JST)
    assert p.started_at.utcoffset().total_seconds() == 9 * 3600


def test_format_kept_as_written() -> None:
    upper = FREEPBX.parse("in-0488291111-09012345678-20261109-110000-1794189600.1.WAV")
    gsm = FREEPBX.parse("in-0488291111-0312345678-20261110-135005-1794286205.1.gsm")
    assert upper is not None and upper.fmt == "WAV"
    assert gsm is not None and gsm.fmt == "gsm"


@pytest.mark.parametrize("name", [
    "in-0488291111-0312345678-20261110-135005-1794286205.1",  # no format
    "in-0488291111-0312345678-20261110-1350-1794286205.1.wav",  # short time
    "in-0488291111-0312345678-20261340-135005-1794286205.1.wav",  # month 13
    "in-0488291111-0312345678-20261110-256005-1794286205.1.wav",  # hour 25
    "call-0488291111-0312345678-20261110-135005-1794286205.1.wav",  # unknown type
    "in-0488291111-0312345678-20261110-135005-.wav",  # no uniqueid
    "in-0488291111-031-2345678-20261110-135005-1794286205.1.wav",  # a dash inside a number
    "README.txt",
    "",
])
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
        assert p.started_at == datetime.fromisoformat(f["start"])


@pytest.mark.parametrize(("name", "reason"), [
    (".in-0488291111-0312345678-20261110-135005-1.1.wav", SkipReason.HIDDEN),
    (".DS_Store", SkipReason.HIDDEN),
    ("in-0488291111-0312345678-20261110-135005-1.1.wav.part", SkipReason.TEMPORARY),
    ("in-0488291111-0312345678-20261110-135005-1.1.wav.tmp", SkipReason.TEMPORARY),
    ("in-0488291111-0312345678-20261110-135005-1.1.wav~", SkipReason.TEMPORARY),
    ("~lock.wav", SkipReason.TEMPORARY),
    ("in-\udcff-0312345678-20261110-135005-1.1.wav", SkipReason.BAD_ENCODING),
    ("in-0488291111-0312345678-20261110-135005-1.1.wav", None),
])
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
    assert p.started_at == datetime(2026, 11, 10, 13, 50, 5, tzinfo=JST)
    assert (p.type, p.city_number, p.other_number, p.caller_id) == (
        "out", "0488291111", "09012345678", CallerId.NUMBER)
    assert p.fmt == "mp3"
    assert p.uniqueid == "2026-11-10_13.50.05_0488291111_+819012345678_out"
    q = layout.parse("2026-11-10_13.50.05_0488291111_anonymous.wav")
    assert q is not None and (q.type, q.other_number, q.caller_id) == ("in", None,
                                                                      CallerId.WITHHELD)
    assert layout.parse("2026-13-10_13.50.05_0488291111_1.wav") is None
    assert layout.parse("something else.wav") is None


def test_pattern_layout_needs_a_pattern() -> None:
    with pytest.raises(ValueError):
        make_layout("pattern", None, JST)
