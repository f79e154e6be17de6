"""The indexer following a real spool through real watchfiles events."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from demo_data.synth import wav_header
from services.access.audit import Action
from services.workspace import Workspace
from tests.support.workspace import Stopwatch

NAME = "in-0488291111-09012345678-20261109-110000-1794189600.{}.wav"
DAY = "2026/11/09"


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 10.0) -> object:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check.__name__}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def following(ws: Workspace) -> AsyncIterator[list[float]]:
    """The indexer following the spool (watcher first, then the start-up scan); yields the
    times on_change was called."""
    stop = asyncio.Event()
    calls: list[float] = []
    task = asyncio.create_task(
        ws.indexer.follow(stop, lambda: calls.append(time.monotonic()), scan_first=True)
    )

    async def scanned() -> bool:
        if task.done():
            task.result()
        return ws.indexer.health.last_scan_at is not None

    await eventually(scanned)
    try:
        yield calls
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def write(path: Path, data: bytes = b"\x01\x02" * 800, *, age: float = 60) -> Path:
    """A finished recording last written `age` seconds ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_header(len(data)) + data)
    os.utime(path, (time.time() - age, time.time() - age))
    return path


async def row(ws: Workspace, rel: str) -> dict | None:
    found = await ws.db.fetchone("SELECT * FROM calls WHERE path = ?", (rel,))
    return dict(found) if found else None


async def count(ws: Workspace, sql: str, *params: object) -> int:
    return int(await ws.db.scalar(sql, params))


async def test_growing_file_stays_recording_until_it_settles(ws: Workspace, spool: Path) -> None:
    rel = f"{DAY}/{NAME.format(1)}"
    path = spool / rel
    ws.indexer.monotonic = watch = Stopwatch()  # the settle time passes only when the test says
    async with following(ws):
        path.parent.mkdir(parents=True)
        await asyncio.sleep(0.3)  # the folder is watched (and scanned) before the call starts
        fh = path.open("wb")
        fh.write(wav_header(0))
        fh.flush()

        async def recording() -> dict | None:
            r = await row(ws, rel)
            return r if r and r["state"] == "recording" else None

        await eventually(recording)
        sizes = []
        for _ in range(8):  # the call goes on for longer than the settle time (0.3 s)
            fh.write(b"\x05\x06" * 800)
            fh.flush()
            await asyncio.sleep(0.1)
            r = await row(ws, rel)
            assert r is not None and r["state"] == "recording" and r["sha256"] is None
            sizes.append(r["size"])
        assert sizes == sorted(sizes) and sizes[-1] > 44
        fh.seek(40)  # the recorder writes the data size when the call ends
        fh.write((1600 * 8).to_bytes(4, "little"))
        fh.close()

        async def complete() -> dict | None:
            watch.now += 0.1  # time passes while the test waits
            r = await row(ws, rel)
            return r if r and r["state"] == "complete" else None

        done = await eventually(complete)
    assert isinstance(done, dict)
    assert done["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert done["size"] == 44 + 1600 * 8
    assert done["duration_s"] == 0.8


async def test_new_folders_are_scanned(ws: Workspace, spool: Path) -> None:
    (spool / "2026").mkdir()
    async with following(ws) as changed:
        # Created at once: watchfiles cannot report the files inside folders it did not watch yet.
        nested = spool / "2026" / "12" / "01"
        nested.mkdir(parents=True)
        write(nested / NAME.format(1))
        write(nested / NAME.format(2))
        deeper = spool / "2027" / "01" / "05" / "extra"
        deeper.mkdir(parents=True)
        write(deeper / NAME.format(3))
        write(spool / "2026" / "12" / NAME.format(4))

        async def all_there() -> bool:
            return await count(ws, "SELECT count(*) FROM calls") == 4

        await eventually(all_there)
        assert changed
    paths = {r[0] for r in await ws.db.fetchall("SELECT path FROM calls")}
    assert paths == {
        f"2026/12/01/{NAME.format(1)}",
        f"2026/12/01/{NAME.format(2)}",
        f"2027/01/05/extra/{NAME.format(3)}",
        f"2026/12/{NAME.format(4)}",
    }


async def test_vanished_file_and_folder(ws: Workspace, spool: Path) -> None:
    for i in range(3):
        write(spool / DAY / NAME.format(i))
    write(spool / "2026/11/10" / NAME.format(9))
    async with following(ws):
        assert await count(ws, "SELECT count(*) FROM calls WHERE state = 'complete'") == 4
        (spool / DAY / NAME.format(0)).unlink()

        async def one_missing() -> bool:
            return await count(ws, "SELECT count(*) FROM calls WHERE state = 'missing'") == 1

        await eventually(one_missing)
        shutil.rmtree(spool / "2026/11/10")

        async def two_missing() -> bool:
            return await count(ws, "SELECT count(*) FROM calls WHERE state = 'missing'") == 2

        await eventually(two_missing)
        await asyncio.sleep(0.5)
    missing = await ws.db.fetchall(
        "SELECT subject FROM audit WHERE action = ? ORDER BY seq", (Action.CALL_MISSING,)
    )
    assert [r[0] for r in missing] == [f"{DAY}/{NAME.format(0)}", f"2026/11/10/{NAME.format(9)}"]


async def test_file_replaced_by_a_symlink_is_missing(ws: Workspace, spool: Path, tmp_path: Path) -> None:
    path = write(spool / DAY / NAME.format(1))
    async with following(ws):
        elsewhere = tmp_path / "copy.wav"
        shutil.copy2(path, elsewhere)
        tmp_link = path.with_name("link.tmp")
        tmp_link.symlink_to(elsewhere)
        os.replace(tmp_link, path)

        async def missing() -> bool:
            return await count(ws, "SELECT count(*) FROM calls WHERE state = 'missing'") == 1

        await eventually(missing)
    assert await count(ws, "SELECT count(*) FROM skipped WHERE reason = 'not_regular'") == 1


async def test_what_is_never_indexed_while_following(ws: Workspace, spool: Path, tmp_path: Path) -> None:
    day = spool / DAY
    day.mkdir(parents=True)
    async with following(ws):
        outside = write(tmp_path / NAME.format(1))
        (day / NAME.format(2)).symlink_to(outside)
        os.mkfifo(day / NAME.format(3))
        (day / NAME.format(4)).mkdir()
        write(day / ("." + NAME.format(5)))
        write(day / (NAME.format(6) + ".part"))
        (day / "notes.txt").write_text("call back at 3\n")  # neither a recording's name nor audio
        write(day / NAME.format(7))  # the one real recording

        async def reported() -> bool:  # hidden and temporary files: only when a scan finds them
            return await count(ws, "SELECT count(*) FROM skipped") == 4

        await eventually(reported)
        for _ in range(3):  # touched again and again: counted once, reported once
            os.utime(day / ("." + NAME.format(5)))
            os.utime(day / "notes.txt")
            os.utime(day / NAME.format(3))
            await asyncio.sleep(0.15)
        await ws.indexer.scan()
        await ws.indexer.scan()
    assert [r[0] for r in await ws.db.fetchall("SELECT path FROM calls")] == [f"{DAY}/{NAME.format(7)}"]
    reasons = dict(await ws.db.fetchall("SELECT reason, count(*) FROM skipped GROUP BY reason"))
    assert reasons == {"not_regular": 3, "hidden": 1, "temporary": 1, "unparsed": 1}
    entries = await ws.db.fetchall("SELECT detail FROM audit WHERE action = ?", (Action.INDEX_SKIPPED,))
    total = sum(sum(json.loads(e[0])["counts"].values()) for e in entries)
    assert total == 6


async def test_completed_file_changed_is_audited_once(ws: Workspace, spool: Path) -> None:
    path = write(spool / DAY / NAME.format(1))
    ws.indexer.monotonic = watch = Stopwatch()
    async with following(ws):
        (r,) = await ws.db.fetchall("SELECT sha256 FROM calls")
        ingest = r[0]
        for i in range(4):  # appended to faster than the settle time
            with path.open("ab") as fh:
                fh.write(b"x" * (i + 1))
            await asyncio.sleep(0.2)

        async def changed() -> bool:
            watch.now += 0.1  # time passes while the test waits
            return await count(ws, "SELECT count(*) FROM calls WHERE size = ?", path.stat().st_size) == 1

        await eventually(changed)
    assert await count(ws, "SELECT count(*) FROM audit WHERE action = ?", Action.CALL_CHANGED) == 1
    assert await ws.db.scalar("SELECT sha256 FROM calls") == ingest
    assert (await ws.audit.verify()).ok


async def test_spool_going_away_is_an_error_not_a_mass_deletion(
    ws: Workspace, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import workspace as workspace_mod
    from services.indexing import indexer as indexer_mod

    monkeypatch.setattr(indexer_mod, "_SPOOL_CHECK_SECONDS", 0.3)  # quicker, as a test wants it
    monkeypatch.setattr(workspace_mod, "FOLLOWER_RETRY_SECONDS", 0.3)
    for i in range(3):
        write(spool / DAY / NAME.format(i))
    stop = asyncio.Event()
    task = asyncio.create_task(ws.run_indexer(stop))
    try:

        async def indexed() -> bool:
            return await count(ws, "SELECT count(*) FROM calls WHERE state = 'complete'") == 3

        await eventually(indexed)
        away = tmp_path / "unmounted"
        spool.rename(away)  # what an unmounted or renamed spool folder looks like

        async def noticed() -> bool:
            return ws.indexer.health.errors > 0

        await eventually(noticed)
        assert await count(ws, "SELECT count(*) FROM calls WHERE state = 'missing'") == 0
        assert "spool" in ws.indexer.health.last_error
        away.rename(spool)  # back again: the indexer takes up its work by itself
        write(spool / DAY / NAME.format(7))

        async def recovered() -> bool:
            return await count(ws, "SELECT count(*) FROM calls WHERE state = 'complete'") == 4

        await eventually(recovered, timeout=20)
        assert await count(ws, "SELECT count(*) FROM calls WHERE state = 'missing'") == 0
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _inotify_fds() -> int:
    targets = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            targets.append(os.readlink(fd))
    return targets.count("anon_inode:inotify")


@pytest.mark.parametrize("kind", ["native", "poll"])
async def test_watch_kind_from_the_configuration(cfg, spool: Path, kind: str) -> None:
    """`[spool] watch = "poll"` walks the spool (a network share, where inotify sees nothing):
    arrivals and removals are still followed, and no inotify watch is opened."""
    from services.core import config as config_mod

    assert cfg.source is not None
    config_mod.write(config_mod.replace(cfg, watch=kind), cfg.source)
    loaded = config_mod.load(cfg.source)
    assert loaded.watch == kind
    before = _inotify_fds()
    ws = await Workspace.open(loaded, create=True)
    try:
        assert ws.indexer.poll is (kind == "poll")
        async with following(ws):
            assert (_inotify_fds() > before) is (kind == "native")
            rel = f"{DAY}/{NAME.format(7)}"
            write(spool / rel)

            async def arrived() -> bool:
                r = await row(ws, rel)
                return bool(r and r["state"] == "complete")

            await eventually(arrived)
            (spool / rel).unlink()

            async def gone() -> bool:
                r = await row(ws, rel)
                return bool(r and r["state"] == "missing")

            await eventually(gone)
    finally:
        await ws.close()
