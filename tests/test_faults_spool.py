"""Hostile spool contents and a recorder writing during a scan (issue 6: hostile input and faults).

Every case: the command says what happened in at most one line, the index and the audit chain stay
whole, and no recording is lost or changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from services.calls import CallFilter
from services.core.config import Config
from services.workspace import Workspace
from tests.support.faults import (
    DAY,
    HOSTILE_UNIQUEIDS,
    LiveRecorder,
    assert_intact,
    fingerprint,
    one_line,
    spool_name,
    write_hostile_names,
    write_odd_entries,
)
from tests.support.workspace import CliRunner


def test_hostile_names_index_and_print_as_plain_text(
    cfg: Config, spool: Path, ws: Workspace, cli: CliRunner
) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    longest = write_hostile_names(folder)
    before = fingerprint(spool)

    out = cli("index", "--json", check=True)
    report = json.loads(out.stdout)
    assert report["skipped"] == {"bad_encoding": 1}
    assert report["unknown"] == 1  # audio under a name no layout reads: still recording data

    listed = json.loads(
        cli("calls", "--json", "--limit", "50", "--reveal", "--pin-stdin", input="2222\n", check=True).stdout
    )
    paths = {c["path"] for c in listed}
    for i, uid in enumerate(HOSTILE_UNIQUEIDS.values()):
        assert f"{DAY}/{spool_name(f'{uid}.{i}')}" in paths  # stored exactly, not mangled
    assert f"{DAY}/{longest}" in paths
    assert f"{DAY}/[bold]not a recording.wav" in paths
    text = cli("calls", "--limit", "50", check=True).stdout
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    audit = cli("audit", "list", "--limit", "20", "--pin-stdin", input="1111\n", check=True).stdout
    assert "\x1b" not in audit and "\xff" not in audit
    assert_intact(cfg, cli, before)


def test_odd_entries_are_skipped_or_indexed_without_harm(
    cfg: Config, spool: Path, ws: Workspace, cli: CliRunner
) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    write_odd_entries(folder)
    before = fingerprint(spool)

    report = json.loads(cli("index", "--json", check=True).stdout)
    assert report["skipped"] == {"not_regular": 3}
    calls = {c["path"].rsplit("-", 1)[1]: c for c in json.loads(cli("calls", "--json").stdout)}
    assert set(calls) == {"1.1.wav", "zero.5.wav", "unanswered.6.wav", "truncated.7.wav", "text.8.wav"}
    assert calls["1.1.wav"]["duration_s"] == 0.5
    assert calls["unanswered.6.wav"]["duration_s"] == 0.0
    assert calls["truncated.7.wav"]["duration_s"] == 0.1  # what is on disk, not what the header claims
    assert calls["text.8.wav"]["duration_s"] is None and calls["zero.5.wav"]["duration_s"] is None
    assert all(c["state"] == "complete" and c["sha256"] for c in calls.values())
    again = json.loads(cli("index", "--json", check=True).stdout)
    assert again["new_skipped"] == {}  # reported once, not on every scan
    assert_intact(cfg, cli, before)


async def test_recorder_writing_during_a_scan(
    cfg: Config, spool: Path, ws: Workspace, cli: CliRunner
) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    recorder = LiveRecorder(folder).start()
    try:
        report = await ws.indexer.scan()
    finally:
        recorder.stop()
    assert report.added == 305 and report.recording == 5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await ws.indexer.settle()
        states = await ws.calls.counts_by_state()
        if states.get("complete") == 305:
            break
        time.sleep(0.1)
    assert (await ws.calls.counts_by_state()) == {"complete": 305}
    live = await ws.calls.page(CallFilter(), limit=400)
    want = fingerprint(spool)
    for call in live:
        assert call.sha256 == want[call.path], call.path
    assert_intact(cfg, cli, want)


def test_spool_missing_or_not_a_folder(cfg: Config, spool: Path, ws: Workspace, cli: CliRunner) -> None:
    spool.rmdir()
    line = one_line(cli("index"))
    assert "spool folder missing" in line and str(spool) in line
    spool.write_text("not a folder")
    assert "not a folder" in one_line(cli("index"))
    spool.unlink()
    spool.mkdir()
    assert_intact(cfg, cli, {})


def test_spool_unmounted_leaves_no_call_missing(
    cfg: Config, spool: Path, ws: Workspace, samples: list[Path], cli: CliRunner
) -> None:
    """An unmounted disk leaves its mount point: an empty spool folder. Every call would be
    'missing' (an anomaly each, then each hashed again when it is back): said instead."""
    cli("index", check=True)
    before = fingerprint(spool)
    away = spool.with_name("spool.away")
    spool.rename(away)
    spool.mkdir()  # the empty mount point
    try:
        line = one_line(cli("index"))
        assert "spool folder is empty" in line and "mounted" in line
    finally:
        spool.rmdir()
        away.rename(spool)
    report = json.loads(cli("index", "--json", check=True).stdout)
    assert report["missing"] == 0 and report["reappeared"] == 0 and report["missing_total"] == 0
    assert_intact(cfg, cli, before)
