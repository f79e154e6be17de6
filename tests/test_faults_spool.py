"""Hostile spool contents and a recorder writing during a scan (issue 6: hostile input and faults).

Every case: the command says what happened in at most one line, the index and the audit chain stay
whole, and no recording is lost or changed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from demo_data.synth import wav_header
from services.calls import CallFilter
from services.config import Config
from services.workspace import Workspace
from tests.conftest import CliRunner
from tests.fault_support import assert_intact, fingerprint, one_line

DAY = "2026/11/02"
STAMP = "20261102-100000"


def _name(uniqueid: str, source: str = "09012345678") -> str:
    return f"in-0488291111-{source}-{STAMP}-{uniqueid}.wav"


def _write(folder: Path, name: str | bytes, data: bytes) -> None:
    path = os.path.join(os.fsencode(folder), os.fsencode(name) if isinstance(name, str) else name)
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, (time.time() - 3600,) * 2)


HOSTILE_UNIQUEIDS = {
    "markup": "[red]x[bold]y[link=e]z[@click=quit]",
    "osc_title": "t\x1b]0;pwned\x07",
    "csi_clear": "c\x1b[2J\x1b[H",
    "bidi": "abc\u202egpj.exe",
    "newline": "line1\nline2",
    "tab_bell": "a\tb\x07",
}


def test_hostile_names_index_and_print_as_plain_text(cfg: Config, spool: Path, ws: Workspace,
                                                      cli: CliRunner) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    audio = wav_header(800) + bytes(800)
    for i, uid in enumerate(HOSTILE_UNIQUEIDS.values()):
        _write(folder, _name(f"{uid}.{i}"), audio)
    _write(folder, b"in-0488291111-0901-" + STAMP.encode() + b"-bad\xff\xfe.1.wav", audio)
    longest = _name("x" * (255 - len(_name("")) - 2) + ".9")
    assert len(longest.encode()) == 255  # the longest name a Linux file system allows
    _write(folder, longest, audio)
    _write(folder, "[bold]not a recording.wav", audio)
    before = fingerprint(spool)

    out = cli("index", "--json", check=True)
    report = json.loads(out.stdout)
    assert report["skipped"] == {"bad_encoding": 1, "unparsed": 1}

    listed = json.loads(cli("calls", "--json", "--limit", "50", check=True).stdout)
    paths = {c["path"] for c in listed}
    for i, uid in enumerate(HOSTILE_UNIQUEIDS.values()):
        assert f"{DAY}/{_name(f'{uid}.{i}')}" in paths  # stored exactly, not mangled
    assert f"{DAY}/{longest}" in paths
    text = cli("calls", "--limit", "50", check=True).stdout
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    audit = cli("audit", "list", "--limit", "20", check=True).stdout
    assert "\x1b" not in audit and "\xff" not in audit
    assert_intact(cfg, cli, before)


def test_odd_entries_are_skipped_or_indexed_without_harm(cfg: Config, spool: Path, ws: Workspace,
                                                         cli: CliRunner) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    real = folder / _name("1.1")
    _write(folder, real.name, wav_header(8000) + bytes(8000))
    os.mkfifo(folder / _name("fifo.2"))
    os.symlink(real, folder / _name("link.3"))
    (folder / _name("dir.4")).mkdir()
    _write(folder, _name("zero.5"), b"")
    _write(folder, _name("unanswered.6"), wav_header(0))
    _write(folder, _name("truncated.7"), wav_header(16000) + bytes(1600))
    _write(folder, _name("text.8"), b"this is not audio at all\n" * 40)
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


async def test_recorder_writing_during_a_scan(cfg: Config, spool: Path, ws: Workspace,
                                              cli: CliRunner) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    for i in range(300):
        _write(folder, _name(f"old.{i}"), wav_header(2000) + os.urandom(2000))
    growing = [folder / _name(f"live.{i}") for i in range(5)]
    stop = threading.Event()
    started = threading.Event()

    def recorder() -> None:
        handles = [open(p, "wb") for p in growing]  # noqa: SIM115
        for h in handles:
            h.write(wav_header(0))
            h.flush()
        started.set()
        while not stop.is_set():
            for h in handles:
                h.write(os.urandom(320))
                h.flush()
            time.sleep(0.01)
        for h in handles:
            h.close()

    writer = threading.Thread(target=recorder)
    writer.start()
    started.wait(5)
    try:
        report = await ws.indexer.scan()
    finally:
        stop.set()
        writer.join()
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


def test_spool_unmounted_leaves_no_call_missing(cfg: Config, spool: Path, ws: Workspace,
                                                samples: list[Path], cli: CliRunner) -> None:
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
