"""The indexer's scan and reconcile over a real spool folder and a real database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from demo_data import SAMPLE_MANIFEST
from demo_data.synth import wav_header
from services.access.audit import Action
from services.core.clock import JST
from services.core.config import Config
from services.indexing import listing as spool_listing
from services.workspace import Workspace
from tests.support.workspace import Stopwatch

NAME = "in-0488291111-09012345678-20261109-110000-1794189600.{}.wav"


def record(spool: Path, rel: str, data: bytes = b"\x01\x02" * 800, *, age: float = 3600) -> Path:
    """A finished recording at spool/rel whose last write was `age` seconds ago."""
    path = spool / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_header(len(data)) + data)
    when = time.time() - age
    os.utime(path, (when, when))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def rows(ws: Workspace, where: str = "1", params: tuple[object, ...] = ()) -> list[dict]:
    found = await ws.db.fetchall(f"SELECT * FROM calls WHERE {where} ORDER BY path", params)
    return [dict(r) for r in found]


async def actions(ws: Workspace, action: str) -> list[dict]:
    found = await ws.db.fetchall("SELECT * FROM audit WHERE action = ? ORDER BY seq", (action,))
    return [dict(r) for r in found]


async def test_samples_are_indexed_as_their_manifest_says(ws: Workspace, samples: list[Path]) -> None:
    report = await ws.indexer.scan()
    assert (report.seen, report.added, report.completed, report.recording) == (45, 45, 45, 0)
    assert not report.skipped
    by_path = {r["path"]: r for r in await rows(ws)}
    for f in json.loads(SAMPLE_MANIFEST.read_text(encoding="utf-8"))["files"]:
        row = by_path[f["path"]]
        assert row["state"] == "complete"
        assert row["sha256"] == sha(ws.config.spool / f["path"])
        assert row["size"] == f["bytes"]
        assert row["duration_s"] == pytest.approx(f["duration_s"], abs=0.02)
        assert row["started_at"] == int(datetime.fromisoformat(f["start"]).timestamp())
        assert row["fmt"] == f["format"] and row["uniqueid"] == f["uniqueid"]


async def test_edge_cases_of_the_sample_spool(ws: Workspace, samples: list[Path]) -> None:
    await ws.indexer.scan()
    # Day folder differing from the name: the name's time counts, the folder is kept as found.
    parked = (await rows(ws, "path LIKE '2026/11/01/parked-%'"))[0]
    assert parked["dir"] == "2026/11/01"
    call = await ws.calls.get(parked["id"])
    assert call.started_at == datetime(2026, 10, 31, 23, 59, 50, tzinfo=JST)
    assert call.raw_retention_until == date(2026, 11, 30)  # counted from October, not November
    # The 44-byte unanswered call is a complete call of no length.
    empty = (await rows(ws, "size = 44"))[0]
    assert (empty["state"], empty["duration_s"]) == ("complete", 0.0)
    # Upper-case .WAV (wav49) is indexed with its duration.
    upper = (await rows(ws, "fmt = 'WAV'"))[0]
    assert upper["duration_s"] == pytest.approx(2.72, abs=0.02)
    # +81 stored in national form; withheld and unavailable callers have no number.
    assert await rows(ws, "other_number = '09012345678' AND path LIKE '%+819012345678%'")
    caller_ids = {r["path"].split("-")[2]: r["caller_id"] for r in await rows(ws, "type = 'in'")}
    assert caller_ids["anonymous"] == "withheld"
    assert caller_ids["unknown"] == "unavailable"
    assert caller_ids[""] == "unavailable"


async def test_rescan_changes_nothing(ws: Workspace, samples: list[Path]) -> None:
    await ws.indexer.scan()
    before = await rows(ws)
    head = await ws.audit.head()
    again = await ws.indexer.scan()
    assert (again.seen, again.added, again.changes) == (45, 0, 0)
    assert await rows(ws) == before
    assert await ws.audit.head() == head


async def test_what_is_never_indexed(ws: Workspace, spool: Path, tmp_path: Path) -> None:
    day = spool / "2026" / "11" / "09"
    record(spool, "2026/11/09/" + NAME.format(1))
    outside = record(tmp_path, "elsewhere/" + NAME.format(2))
    (day / NAME.format(3)).symlink_to(outside)  # a symlink to a recording
    (spool / "2026" / "linked").symlink_to(outside.parent)  # a symlink to a folder
    os.mkfifo(day / NAME.format(4))  # a FIFO: reading it would block
    (day / NAME.format(5)).mkdir()  # a folder named like a recording
    record(spool, "2026/11/09/." + NAME.format(6))  # hidden
    record(spool, "2026/11/09/" + NAME.format(7) + ".part")  # temporary
    (day / "notes.txt").write_text("call back at 3\n")  # not a recording: neither name nor audio
    record(spool, "2026/.Trash/" + NAME.format(8))  # inside a hidden folder: not the recorder's
    os.mkdir(os.fsencode(day) + b"/bad\xff")  # a folder whose name is not UTF-8
    with open(os.fsencode(day) + b"/bad\xff/" + NAME.format(9).encode(), "wb") as fh:
        fh.write(wav_header(0))
    with open(os.fsencode(day) + b"/in-\xff-1-20261109-110000-1.1.wav", "wb") as fh:
        fh.write(wav_header(0))

    report = await ws.indexer.scan()
    assert [r["path"] for r in await rows(ws)] == ["2026/11/09/" + NAME.format(1)]
    assert dict(report.skipped) == {
        "not_regular": 4,
        "hidden": 1,
        "temporary": 1,
        "unparsed": 1,
        "bad_encoding": 2,
    }
    assert report.new_skipped == report.skipped
    (entry,) = await actions(ws, Action.INDEX_SKIPPED)
    detail = json.loads(entry["detail"])
    assert detail["counts"] == dict(report.skipped)
    assert "2026/11/09/bad\\xff" in detail["examples"]

    # Reported once: a second scan counts them again but records nothing new.
    again = await ws.indexer.scan()
    assert again.skipped == report.skipped and not again.new_skipped
    assert len(await actions(ws, Action.INDEX_SKIPPED)) == 1

    # One that goes away and comes back is reported again.
    (day / NAME.format(5)).rmdir()
    await ws.indexer.scan()
    (day / NAME.format(5)).mkdir()
    third = await ws.indexer.scan()
    assert dict(third.new_skipped) == {"not_regular": 1}


async def test_vanished_file_is_missing_once(ws: Workspace, spool: Path) -> None:
    keep = record(spool, "2026/11/09/" + NAME.format(1))
    gone = record(spool, "2026/11/09/" + NAME.format(2))
    await ws.indexer.scan()
    gone.unlink()
    report = await ws.indexer.scan()
    assert report.missing == 1
    states = {r["path"]: r["state"] for r in await rows(ws)}
    assert states == {"2026/11/09/" + NAME.format(1): "complete", "2026/11/09/" + NAME.format(2): "missing"}
    (entry,) = await actions(ws, Action.CALL_MISSING)
    assert entry["subject"] == "2026/11/09/" + NAME.format(2)
    assert (await ws.indexer.scan()).missing == 0
    assert len(await actions(ws, Action.CALL_MISSING)) == 1
    assert keep.exists()


async def test_deleted_folder_makes_its_calls_missing(ws: Workspace, spool: Path) -> None:
    for i in range(3):
        record(spool, f"2026/11/0{i + 1}/" + NAME.format(i))
    await ws.indexer.scan()
    for p in (spool / "2026" / "11" / "02").iterdir():
        p.unlink()
    (spool / "2026" / "11" / "02").rmdir()
    report = await ws.indexer.scan()
    assert report.missing == 1
    assert [r["path"] for r in await rows(ws, "state = 'missing'")] == ["2026/11/02/" + NAME.format(1)]
    # Only part of the spool rescanned: calls outside it are not judged.
    (spool / "2026" / "11" / "03" / NAME.format(2)).unlink()
    assert (await ws.indexer.scan("2026/11/01")).missing == 0
    assert (await ws.indexer.scan("2026/11")).missing == 1


async def test_unreadable_folder_is_not_taken_as_empty(
    ws: Workspace, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(spool, "2026/11/09/" + NAME.format(1))
    record(spool, "2026/11/10/" + NAME.format(2))
    await ws.indexer.scan()
    real_scandir = os.scandir

    def scandir(path: object) -> object:  # what chmod 000 does to a non-root reader
        if str(path).endswith("2026/11/09"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(spool_listing.os, "scandir", scandir)
    report = await ws.indexer.scan()
    assert report.missing == 0
    assert ws.indexer.health.errors == 1
    assert "2026/11/09" in ws.indexer.health.last_error


async def test_file_changed_after_completion_is_audited_once(ws: Workspace, spool: Path) -> None:
    path = record(spool, "2026/11/09/" + NAME.format(1))
    ingest = sha(path)
    await ws.indexer.scan()
    with path.open("ab") as fh:
        fh.write(b"tampered")
    report = await ws.indexer.scan()
    assert report.changed == 1
    (row,) = await rows(ws)
    assert (row["state"], row["sha256"], row["size"]) == ("complete", ingest, path.stat().st_size)
    assert row["changed_at"] is not None
    with path.open("ab") as fh:
        fh.write(b"again")
    await ws.indexer.scan()
    (entry,) = await actions(ws, Action.CALL_CHANGED)
    assert json.loads(entry["detail"])["was"] == 1644


async def test_reappearing_file(ws: Workspace, spool: Path, tmp_path: Path) -> None:
    a = record(spool, "2026/11/09/" + NAME.format(1))
    b = record(spool, "2026/11/09/" + NAME.format(2))
    a_bytes, ingest_b = a.read_bytes(), sha(b)
    await ws.indexer.scan()
    a.unlink()
    b.unlink()
    await ws.indexer.scan()
    record(spool, "2026/11/09/" + NAME.format(1), a_bytes[44:])  # the same recording, restored
    record(spool, "2026/11/09/" + NAME.format(2), b"other audio")  # something else in its place
    report = await ws.indexer.scan()
    assert report.reappeared == 2
    states = {r["path"][-6:]: (r["state"], r["sha256"], r["changed_at"]) for r in await rows(ws)}
    assert states[".1.wav"] == ("complete", sha(a), None)
    assert states[".2.wav"][:2] == ("complete", ingest_b)  # the ingest hash is kept
    assert states[".2.wav"][2] is not None
    back = [json.loads(e["detail"]) for e in await actions(ws, Action.CALL_REAPPEARED)]
    assert sorted(d["same_content"] for d in back) == [False, True]
    (changed,) = await actions(ws, Action.CALL_CHANGED)
    assert changed["subject"].endswith(".2.wav")


async def test_growing_file_is_recording_until_settled(ws: Workspace, spool: Path) -> None:
    ws.indexer.monotonic = watch = Stopwatch()
    path = record(spool, "2026/11/09/" + NAME.format(1), age=0)
    report = await ws.indexer.scan()
    assert (report.added, report.recording) == (1, 1)
    (row,) = await rows(ws)
    assert (row["state"], row["sha256"], row["duration_s"]) == ("recording", None, None)
    assert await ws.indexer.settle() == 0  # not yet still for 0.3 s
    with path.open("ab") as fh:
        fh.write(b"\x00\x01" * 8000)
    watch.now += 0.2
    assert await ws.indexer.settle() == 0  # it grew: the settle time starts again
    watch.now += 0.35
    assert await ws.indexer.settle() == 1
    (row,) = await rows(ws)
    assert (row["state"], row["sha256"], row["size"]) == ("complete", sha(path), 17644)
    assert row["duration_s"] == 0.1  # the header says 1600 bytes (8 kHz, 16 bit)


async def test_recording_left_by_another_process_completes(cfg: Config, spool: Path) -> None:
    path = record(spool, "2026/11/09/" + NAME.format(1), age=0)
    first = await Workspace.open(cfg, create=True)
    await first.indexer.scan()
    await first.close()  # exits before the file settles
    second = await Workspace.open(cfg)
    try:
        await asyncio.sleep(0.35)  # the last write is then older than the settle time
        assert await second.indexer.settle() == 1  # no event came: the row itself is picked up
        (row,) = await rows(second)
        assert (row["state"], row["sha256"]) == ("complete", sha(path))
    finally:
        await second.close()


async def test_two_indexers_agree(cfg: Config, spool: Path) -> None:
    from demo_data.synth import generate_spool

    generate_spool(spool, 600, start=datetime(2026, 10, 1), span_days=5)
    a = await Workspace.open(cfg, create=True)
    b = await Workspace.open(cfg)
    try:
        ra, rb = await asyncio.gather(a.indexer.scan(), b.indexer.scan())
        assert ra.added + rb.added == 600
        assert await a.db.scalar("SELECT count(*) FROM calls") == 600
        assert await a.db.scalar("SELECT count(DISTINCT path) FROM calls") == 600
        victim = next(spool.rglob("*.wav"))
        victim.unlink()
        ma, mb = await asyncio.gather(a.indexer.scan(), b.indexer.scan())
        assert ma.missing + mb.missing == 1
        assert len(await actions(a, Action.CALL_MISSING)) == 1
        assert (await a.audit.verify()).ok
    finally:
        await a.close()
        await b.close()


async def test_pattern_layout_end_to_end(tmp_path: Path) -> None:
    from services.core import config as config_mod

    pattern = (
        r"(?P<date>\d{4}-\d{2}-\d{2})_(?P<time>\d{6})_(?P<city>\d+)_(?P<other>[^_]*)"
        r"\.(?P<fmt>wav)"
    )
    path = tmp_path / "c.toml"
    config_mod.write(
        Config(spool=tmp_path / "spool", data=tmp_path / "data", layout="pattern", pattern=pattern), path
    )
    cfg = config_mod.load(path)
    written = datetime(2026, 11, 2, 8, 20, tzinfo=JST).timestamp()  # no day folder: its own time
    for name in (
        "2026-11-02_081500_0488291111_+819011112222.wav",
        "2026-11-02_081600_0488291111_anonymous.wav",
        "in-0488291111-0312345678-20261110-135005-1.1.wav",
    ):  # not this layout, but audio
        os.utime(record(cfg.spool, f"box1/{name}"), (written, written))
    (cfg.spool / "box1" / "index.html").write_text("<p>not audio</p>")
    ws = await Workspace.open(cfg, create=True)
    try:
        report = await ws.indexer.scan()
        assert (report.added, report.unknown, dict(report.skipped)) == (3, 1, {"unparsed": 1})
        found = {r["path"]: r for r in await rows(ws)}
        unknown = found["box1/in-0488291111-0312345678-20261110-135005-1.1.wav"]
        assert (unknown["type"], unknown["city_number"], unknown["other_number"], unknown["started_at"]) == (
            "unknown",
            None,
            None,
            int(written),
        )
        first = found["box1/2026-11-02_081500_0488291111_+819011112222.wav"]
        assert (first["type"], first["city_number"], first["other_number"], first["caller_id"]) == (
            "in",
            "0488291111",
            "09011112222",
            "number",
        )
        assert first["started_at"] == int(datetime(2026, 11, 2, 8, 15, tzinfo=JST).timestamp())
        second = found["box1/2026-11-02_081600_0488291111_anonymous.wav"]
        assert (second["other_number"], second["caller_id"]) == (None, "withheld")
    finally:
        await ws.close()


async def test_worker_processes_plan_as_threads_do_ids_in_walk_order(
    tmp_path: Path, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from demo_data.synth import generate_spool
    from services.indexing import indexer as indexer_mod

    generate_spool(spool, 700, start=datetime(2026, 10, 1), span_days=4)
    record(spool, "2026/11/09/" + NAME.format(1), age=0)  # still recording
    os.mkfifo(spool / "2026" / "fifo.wav")
    (spool / "2026" / "notes.txt").write_text("x")
    found = []
    for name, after in (("threads", 10**9), ("processes", 0)):
        monkeypatch.setattr(indexer_mod, "_PROCESS_AFTER", after)
        ws = await Workspace.open(Config(spool=spool, data=tmp_path / name), create=True)
        try:
            report = await ws.indexer.scan()
            assert ws.indexer.used_workers == (name == "processes")
            rows = await ws.db.fetchall(
                "SELECT id, path, started_at, type, city_number, other_number, caller_id, size,"
                " duration_s, sha256, state FROM calls ORDER BY path"
            )
            found.append(([tuple(r) for r in rows], report.to_json()))
        finally:
            await ws.close()
    assert found[0] == found[1]
    assert found[1][1]["recording"] == 1 and found[1][1]["skipped"] == {"not_regular": 1, "unparsed": 1}


async def test_scan_goes_on_in_threads_when_a_worker_cannot_run(
    ws: Workspace, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from demo_data.synth import generate_spool
    from services.indexing import indexer as indexer_mod

    generate_spool(spool, 300, start=datetime(2026, 10, 1), span_days=6)
    monkeypatch.setattr(indexer_mod, "_PROCESS_AFTER", 0)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # every worker exits at once
    report = await ws.indexer.scan()
    assert report.added == 300
    assert ws.indexer.health.last_error.startswith("index worker")
    assert not ws.indexer.processes  # and later scans do not try again
