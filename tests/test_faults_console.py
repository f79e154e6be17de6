"""Faults met in the console itself, driven through Textual's Pilot (issue 6, hostile input and
faults): hostile and odd spool entries arriving while the console watches, the spool missing, the
database locked by another process, a clock set back.

Every case: one clear line in the user's language, the console still running, then a whole
database, a verifying audit chain and every recording as it was.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from demo_data.synth import wav_header
from screens.exports.register_view import RegisterList
from screens.instructions.view import InstructionList
from screens.retention.view import RetentionView
from screens.widgets.modals import ConfirmModal, PinPrompt
from services.access.audit import Action
from services.access.duties import Duty, Role
from services.calls import CallFilter
from services.core import db as db_mod
from services.core.config import Config
from services.workspace import Workspace
from tests.support.console import (
    Said,
    call_list,
    confirm_typed,
    fill,
    make_app,
    pin,
    screen_text,
    show,
    unlock,
    unlock_as_manager,
    until,
)
from tests.support.export import fill as fill_disk
from tests.support.export import tmpfs
from tests.support.faults import (
    DAY,
    HOSTILE_UNIQUEIDS,
    LiveRecorder,
    assert_intact_ws,
    fingerprint,
    spool_name,
    write_aged,
    write_hostile_names,
    write_odd_entries,
)
from tests.support.retention import current_time, ids_by_path, make_calls, manager, operator, write_call


def _printable(app: Any) -> None:
    """Nothing that steers a terminal reaches the screen."""
    bad = [
        ch
        for ch in screen_text(app)
        if ch != "\n" and ((not ch.isprintable() and ch != "\u3000") or ch in "\u202e\u202d\u2066")
    ]
    assert not bad, f"raw control characters reached the screen: {bad!r}"


# -- hostile and odd spool entries, arriving while the console watches -----------------------------


async def test_hostile_names_arriving_live_are_shown_literally(ws: Workspace, spool: Path) -> None:
    folder = spool / DAY
    app = make_app(ws, start_indexer=True, poll_seconds=0.2)
    said = Said(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ws.indexer.health.last_scan_at is not None, what="first scan")
        await unlock(pilot)
        folder.mkdir(parents=True)  # a new folder: rescanned as it appears
        write_hostile_names(folder)
        lst = call_list(app)
        # Each hostile id, the longest name, and audio under a markup name (indexed as unknown).
        await until(
            pilot, lambda: lst.row_count == len(HOSTILE_UNIQUEIDS) + 2, timeout=10, what="live arrivals"
        )
        before = fingerprint(spool)
        shown = ""
        for _ in range(lst.row_count):
            await pilot.pause(0.1)
            _printable(app)
            shown += screen_text(app)
            await pilot.press("down")
        assert "[red]x[bold]y[link=e]z[@click=quit]" in shown  # markup shown as typed
        assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[2J\\x1b[H" in shown
        assert "\\u202egpj.exe" in shown and "line1\\x0aline2" in shown
        assert "[bold]not a recording.wav" in shown and "不明" in shown
        assert app.is_running and not said.errors()
        assert ws.indexer.health.errors == 0  # the undecodable name did not stop the watcher
        # The undecodable and the unparsable names are not indexed, and said so once (audited).
        rows = await ws.db.fetchall("SELECT path, reason FROM skipped ORDER BY reason")
        assert [r["reason"] for r in rows] == ["bad_encoding"]
        await show(pilot, "status")
        await until(pilot, lambda: "索引対象外" in screen_text(app), what="skipped on status")
        _printable(app)
        assert app.is_running
    await assert_intact_ws(ws, before)


async def test_odd_entries_arriving_live_never_block_the_console(ws: Workspace, spool: Path) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    app = make_app(ws, start_indexer=True, poll_seconds=0.2)
    said = Said(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: ws.indexer.health.last_scan_at is not None, what="first scan")
        await unlock(pilot)
        write_odd_entries(folder)
        write_aged(folder / spool_name("dir.4"), spool_name("inside.4"), wav_header(100) + bytes(100))
        before = fingerprint(spool)
        lst = call_list(app)
        want = {"1.1.wav", "inside.4.wav", "zero.5.wav", "unanswered.6.wav", "truncated.7.wav", "text.8.wav"}
        await until(pilot, lambda: lst.row_count == len(want), timeout=10, what="regular files indexed")
        await until(pilot, lambda: ws.indexer.health.pending == 0, timeout=10, what="all settled")
        calls = {c.path.rsplit("-", 1)[1]: c for c in await ws.calls.page(CallFilter(), limit=50)}
        assert set(calls) == want
        assert all(c.state == "complete" and c.sha256 for c in calls.values())
        assert calls["truncated.7.wav"].duration_s == 0.1 and calls["text.8.wav"].duration_s is None
        start = lst.cursor  # the console still answers keys
        await pilot.press("down")
        await until(pilot, lambda: lst.cursor == start + 1, what="cursor moved")
        assert app.is_running and not said.errors()
        rows = await ws.db.fetchall("SELECT reason FROM skipped")
        assert sorted(r["reason"] for r in rows) == ["not_regular"] * 3  # FIFO, symlink, folder
    await assert_intact_ws(ws, before)


async def test_recorder_writing_while_the_console_scans(ws: Workspace, spool: Path) -> None:
    folder = spool / DAY
    folder.mkdir(parents=True)
    recorder = LiveRecorder(folder).start()
    app = make_app(ws, start_indexer=True, poll_seconds=0.2)
    said = Said(app)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(
                pilot, lambda: ws.indexer.health.last_scan_at is not None, timeout=20, what="first scan"
            )
            await pilot.press(*"2222", "enter")  # the list keeps changing: no waiting for it to rest
            await until(pilot, lambda: app.session is not None and app.screen.id == "main")
            lst = call_list(app)
            await until(pilot, lambda: lst.row_count == 305, timeout=20, what="all listed")
            assert (await ws.calls.counts_by_state()).get("recording") == 5  # still growing
            await asyncio.to_thread(recorder.stop)
            want = fingerprint(spool)

            async def hashed() -> bool:
                calls = await ws.calls.page(CallFilter(), limit=400)
                return all(c.state == "complete" and c.sha256 == want[c.path] for c in calls)

            deadline = time.monotonic() + 20
            while not await hashed():
                assert time.monotonic() < deadline, await ws.calls.counts_by_state()
                await pilot.pause(0.1)
            await until(pilot, lambda: "録音中" not in screen_text(app), what="no call shown recording")
            assert app.is_running and not said.errors()
    finally:
        recorder.stop()
    await assert_intact_ws(ws, want)


# -- the spool folder -----------------------------------------------------------------------------


async def test_spool_missing_says_so_once_and_indexing_resumes(ws: Workspace, spool: Path) -> None:
    spool.rmdir()
    app = make_app(ws, start_indexer=True, poll_seconds=0.2)
    said = Said(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        await until(pilot, lambda: "録音フォルダが見つかりません" in said, timeout=10, what="said")
        line = said.line("録音フォルダが見つかりません")
        assert str(spool) in line
        await show(pilot, "status")
        await until(pilot, lambda: "録音フォルダが見つかりません" in screen_text(app), what="on status")
        await pilot.pause(3)  # the indexer retries; the problem is said once, not on every retry
        assert sum("録音フォルダが見つかりません" in m for _, m in said.messages) == 1
        assert app.is_running
        (spool / DAY).mkdir(parents=True)  # the mount comes back
        write_aged(spool / DAY, spool_name("back.1"), wav_header(800) + bytes(800))
        await show(pilot, "calls")
        lst = call_list(app)
        await until(pilot, lambda: lst.row_count == 1, timeout=15, what="indexing resumed")
        await until(pilot, lambda: "録音フォルダの監視を再開しました" in said, what="recovery said")
    await assert_intact_ws(ws, fingerprint(spool))


# -- the database locked by another process ---------------------------------------------------------


def _hold_lock(database: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
            f"c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep({seconds})\n"
            "c.execute('COMMIT')\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


async def test_database_locked_briefly_the_console_waits(ws: Workspace, samples: list[Path]) -> None:
    await ws.indexer.scan()
    before = fingerprint(ws.config.spool)
    app = make_app(ws)
    said = Said(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        holder = await asyncio.to_thread(_hold_lock, ws.config.database, 1.5)
        try:
            await pilot.press("r")  # reveal: the PIN check and the audit entry both write
            await pin(pilot, "2222")
            await until(pilot, lambda: call_list(app).revealed is not None, timeout=10, what="revealed")
        finally:
            await asyncio.to_thread(holder.wait, 10)
        assert app.is_running and not said.errors()
    assert await ws.db.scalar("SELECT count(*) FROM audit WHERE action = ?", (Action.NUMBER_REVEALED,)) == 1
    await assert_intact_ws(ws, before)


async def test_database_locked_too_long_says_so_in_one_line(
    cfg: Config, samples: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_mod, "BUSY_TIMEOUT_MS", 700)  # 15 s in service: the same path, quicker
    ws = await Workspace.open(cfg, create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        await ws.indexer.scan()
        before = fingerprint(cfg.spool)
        app = make_app(ws)
        said = Said(app)
        async with app.run_test(size=(100, 30)) as pilot:
            await unlock(pilot)
            holder = await asyncio.to_thread(_hold_lock, cfg.database, 4)
            try:
                await pilot.press("r")
                await pin(pilot, "2222")
                await until(
                    pilot,
                    lambda: (
                        "データベースを他の処理が使用中" in screen_text(app)
                        or "データベースを他の処理が使用中" in said
                    ),
                    timeout=10,
                    what="busy said",
                )
                assert call_list(app).revealed is None  # not shown without its audit entry
                assert app.is_running
            finally:
                await asyncio.to_thread(holder.wait, 10)
            if isinstance(app.screen, PinPrompt):
                await pilot.press(*"2222", "enter")  # the lock is gone: it works now
            else:
                await pilot.press("r")
                await pin(pilot, "2222")
            await until(pilot, lambda: call_list(app).revealed is not None, timeout=10, what="revealed")
            assert app.is_running
        await assert_intact_ws(ws, before)
    finally:
        await ws.close()


# -- a clock set back -------------------------------------------------------------------------------


async def test_clock_set_back_destructive_actions_refuse_in_the_console(
    ws: Workspace, spool: Path, tmp_path: Path
) -> None:
    make_calls(spool, expired=4, current=2)
    await ws.indexer.scan()
    ids = sorted((await ids_by_path(ws)).values())
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    usb = tmp_path / "usb"
    usb.mkdir()
    done = await ws.instructions.issue_export(boss, purpose="proper-conduct", medium="usb", call_ids=ids[:1])
    op = await operator(ws)
    await ws.exports.run(op, await ws.exports.prepare(op, done.id, ws.exports.target(folder=str(usb))))
    entry = await ws.register.receive(await manager(ws, Duty.RECEIVE_OUTPUT), done.id)
    async with ws.db.transaction() as conn:  # as if written two fiscal years ago: due for disposal
        await conn.execute(
            "UPDATE register SET written_on = '2024-06-01', kept_through = '2026-03-31' WHERE id = ?",
            (entry.id,),
        )
    pending = await ws.instructions.issue_export(
        boss, purpose="proper-conduct", medium="usb", call_ids=ids[1:2]
    )
    await ws.instructions.issue_purge(boss)
    # An entry written while the clock read a day later than it does now: it was set back.
    await ws.audit.record(
        at=ws.clock.now() + timedelta(days=1),
        actor="system",
        action=Action.CONFIG_WRITTEN,
        subject="clock test",
    )
    before = fingerprint(spool)
    usb2 = tmp_path / "usb2"
    usb2.mkdir()
    app = make_app(ws)
    said = Said(app)
    behind = "時計が監査ログの最新記録より前を指しています"
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)  # the operator: the export of the pending instruction
        await show(pilot, "instructions")
        lst = app.screen.query_one(InstructionList)
        await until(pilot, lambda: lst.selected is not None)
        while lst.selected.number != pending.number:
            await pilot.press("down")
        await pilot.press("x")
        await fill(pilot, where=str(usb2))
        await pin(pilot, "2222")
        await confirm_typed(pilot, pending.number)
        await until(pilot, lambda: behind in said, timeout=10, what="export refused")
        said.line(behind)
        assert app.is_running and list(usb2.iterdir()) == []
        await until(pilot, lambda: app.screen.id == "main", what="progress closed")

        await show(pilot, "retention")  # the purge
        view = app.screen.query_one(RetentionView)
        await until(pilot, lambda: view.preview is not None, what="the preview")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="purge confirmation")
        await pilot.press(*str(view.preview.purgeable.count), "enter")
        await pin(pilot, "2222")
        await until(
            pilot, lambda: sum(behind in m for _, m in said.messages) == 2, timeout=10, what="purge refused"
        )
        assert app.is_running
        await until(pilot, lambda: app.screen.id == "main", what="progress closed")

        await pilot.press("ctrl+l")  # the manager: disposal of the register entry
        await until(pilot, lambda: app.session is None)
        await unlock_as_manager(pilot)
        await show(pilot, "register")
        reg = app.screen.query_one(RegisterList)
        await until(pilot, lambda: reg.row_count == 1, what="register entry")
        await pilot.press("d")
        await fill(pilot, method="破砕", witness="山田")
        await pin(pilot, "1111")
        await confirm_typed(pilot, str(entry.id))
        await until(
            pilot,
            lambda: sum(behind in m for _, m in said.messages) == 3,
            timeout=10,
            what="disposal refused",
        )
        assert app.is_running
    assert (await ws.instructions.get(pending.id)).state == "issued"
    assert (await ws.register.get(entry.id)).disposed_on is None
    assert await ws.db.scalar("SELECT count(*) FROM calls WHERE state = 'purged'") == 0
    await assert_intact_ws(ws, before)


# -- the data folder full -----------------------------------------------------------------------------


async def test_data_folder_full_while_the_console_runs(spool: Path, tmp_path: Path) -> None:
    make_calls(spool, expired=0, current=3)
    with tmpfs(tmp_path / "data", "3m") as data:
        ws = await Workspace.open(Config(spool=spool, data=data, settle_seconds=0.3), create=True)
        try:
            await ws.auth.set_pin(Role.MANAGER, "1111")
            await ws.auth.set_pin(Role.OPERATOR, "2222")
            await ws.indexer.scan()
            app = make_app(ws, start_indexer=True, poll_seconds=0.2)
            said = Said(app)
            async with app.run_test(size=(100, 30)) as pilot:
                await until(pilot, lambda: ws.indexer.health.last_scan_at is not None, what="first scan")
                await unlock(pilot)
                with sqlite3.connect(ws.config.database) as raw:  # no room left in the WAL either
                    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                fill_disk(data)
                for i in range(400):  # the recorder goes on: the index cannot take them
                    write_call(spool, current_time(i), 20000 + i)
                full = "データフォルダに空きがないため"
                await until(pilot, lambda: full in said, timeout=20, what="full said")
                said.line(full)
                assert app.is_running
                await pilot.press("down")  # still answering keys, still showing the index
                await until(pilot, lambda: call_list(app).cursor == 1)
                (data / "filler").unlink()  # room again: the indexer catches up by itself
                lst = call_list(app)
                await until(pilot, lambda: lst.row_count == 403, timeout=30, what="caught up")
                await until(pilot, lambda: "録音フォルダの監視を再開しました" in said, what="resumed said")
                assert app.is_running
                assert sum(full in m for _, m in said.messages) == 1  # said once, not per retry
            await assert_intact_ws(ws, fingerprint(spool))
        finally:
            await ws.close()


async def test_a_disk_error_no_screen_expected_is_said_and_the_console_goes_on(
    ws: Workspace, samples: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads fail too on a failing disk (SQLite: disk I/O error). No screen catches that; the
    console says it in one line and stays up, and works again once the disk does."""
    await ws.indexer.scan()
    before = fingerprint(ws.config.spool)
    app = make_app(ws)
    said = Said(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        real_page = ws.calls.page

        async def failing(*args: Any, **kw: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(ws.calls, "page", failing)
        await pilot.press("slash", "0")  # the search reloads the list from the store
        await until(pilot, lambda: "データベースまたはファイルの操作に失敗しました" in said, what="said")
        assert "disk I/O error" in said.line("データベースまたはファイルの操作に失敗しました")
        assert app.is_running
        monkeypatch.setattr(ws.calls, "page", real_page)
        await pilot.press("backspace")
        lst = call_list(app)
        await until(pilot, lambda: lst.row_count == 45 and lst.call_at(0) is not None, what="listed again")
        assert app.is_running
    await assert_intact_ws(ws, before)


async def test_spool_unmounted_under_the_console_is_said_not_called_missing(
    ws: Workspace, spool: Path, samples: list[Path]
) -> None:
    await ws.indexer.scan()
    before = fingerprint(spool)
    app = make_app(ws, start_indexer=True, poll_seconds=0.2)
    said = Said(app)
    away = spool.with_name("spool.away")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: ws.indexer.health.last_scan_at is not None, what="first scan")
        await unlock(pilot)
        spool.rename(away)
        spool.mkdir()  # the disk unmounted: its empty mount point is left
        try:
            await until(pilot, lambda: "録音フォルダが空です" in said, timeout=15, what="said")
            assert "マウント" in said.line("録音フォルダが空です")
            assert app.is_running
        finally:
            spool.rmdir()
            away.rename(spool)
        await until(pilot, lambda: "録音フォルダの監視を再開しました" in said, timeout=15, what="resumed")
        assert app.is_running
    assert await ws.db.scalar("SELECT count(*) FROM calls WHERE state != 'complete'") == 0
    assert await ws.db.scalar("SELECT count(*) FROM audit WHERE action = 'call.missing'") == 0
    await assert_intact_ws(ws, before)
