"""The console against real files and a real terminal: live arrivals from the spool, hostile
names, and the console run as a process in a pseudo-terminal (keys, signals, hang-up)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from demo_data.synth import wav_header
from screens.calls.view import CallDetail
from services.access.duties import Duty, Role
from services.core.clock import JST
from services.core.config import Config
from services.core.text import visible
from services.workspace import Workspace
from tests.support.console import Terminal, call_list, make_app, screen_text, unlock, until


def recording_name(at: datetime, uid: str, other: str = "09099998888") -> str:
    return f"in-0488291111-{other}-{at:%Y%m%d-%H%M%S}-{uid}.wav"


async def test_new_recording_appears_and_the_cursor_stays(
    ws: Workspace, samples: list[Path], spool: Path
) -> None:
    app = make_app(ws, start_indexer=True, poll_seconds=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ws.indexer.health.last_scan_at is not None, what="first scan")
        await unlock(pilot)
        lst = call_list(app)
        assert lst.row_count == 45
        await pilot.press("down", "down")
        chosen, index = lst.selected, lst.cursor
        assert chosen is not None and index == 2
        now = datetime.now(JST)
        path = spool / f"{now:%Y/%m/%d}" / recording_name(now, f"{int(now.timestamp())}.77")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:  # the recorder starts a call: header first, audio follows
            f.write(wav_header(0))
            f.flush()
            await until(
                pilot,
                lambda: (
                    lst.row_count == 46
                    and lst.call_at(0) is not None
                    and lst.call_at(0).path.endswith(path.name)
                ),
                timeout=5,
                what="new call",
            )
            assert lst.selected.id == chosen.id and lst.cursor == index + 1  # same call selected
            await until(pilot, lambda: "録音中" in screen_text(app))
            f.write(bytes(16000))
            f.seek(0)
            f.write(wav_header(16000))
        await until(pilot, lambda: lst.call_at(0).state == "complete", timeout=5, what="completion")
        assert lst.selected.id == chosen.id
        assert lst.call_at(0).sha256 is not None


HOSTILE = {
    "markup": "[red]x[bold]",
    "title": "\x1b]0;pwned\x07",
    "clear": "\x1b[2J",
    "bidi": "\u202egnp.exe",
    "newline": "line\nbreak",
}


def _printable_strips(app) -> None:
    bad = [
        ch for ch in screen_text(app) if ch != "\n" and (not ch.isprintable() or ch in "\u202e\u202d\u2066")
    ]
    assert not bad, f"raw control characters reached the screen: {bad!r}"


async def test_hostile_names_and_notes_are_shown_literally(cfg: Config, spool: Path) -> None:
    hostile_cfg = Config(
        spool=cfg.spool,
        data=cfg.data,
        settle_seconds=0.3,
        centre=type(cfg.centre)(name="[b]市[/b]\x1b]0;t\x07", name_en="[b]City[/b]\x1b]0;t\x07"),
    )
    ws = await Workspace.open(hostile_cfg, create=True)
    try:
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        folder = spool / "2026/11/10"
        folder.mkdir(parents=True)
        for i, uid in enumerate(HOSTILE.values()):
            name = f"in-0488291111-0312345678-20261110-13500{i}-{uid}.{i}.wav"
            (folder / name).write_bytes(wav_header(0))
            os.utime(folder / name, (1.7e9, 1.7e9))
        await ws.indexer.scan()
        manager = await ws.auth.authorize(Role.MANAGER, "1111", Duty.ISSUE_INSTRUCTION)
        await ws.instructions.issue_purge(manager, note="[red]note[/red]\x1b[2J\u202eok")
        app = make_app(ws, lang="en")
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "[b]City[/b]\\x1b]0;t\\x07" in screen_text(app))
            _printable_strips(app)
            await unlock(pilot)
            lst = call_list(app)
            assert lst.row_count == len(HOSTILE)
            seen = ""
            detail = app.screen.query_one(CallDetail)
            for i in range(len(HOSTILE)):
                uid = lst.call_at(i).uniqueid
                await until(pilot, lambda u=uid: visible(u) in str(detail.render()))
                _printable_strips(app)
                seen += str(detail.render())
                await pilot.press("down")
            assert "[red]x[bold]" in seen
            assert "\\x1b]0;pwned\\x07" in seen
            assert "\\x1b[2J" in seen
            assert "\\u202egnp.exe" in seen
            assert "line\\x0abreak" in seen
            await pilot.press("2")
            await until(pilot, lambda: "[red]note[/red]\\x1b[2J\\u202eok" in screen_text(app))
            _printable_strips(app)
            assert app.is_running
    finally:
        await ws.close()


# -- as a process in a pseudo-terminal ------------------------------------------------------------


@pytest.fixture
def prepared(cfg: Config) -> Config:
    async def setup() -> None:
        ws = await Workspace.open(cfg, create=True)
        await ws.auth.set_pin(Role.MANAGER, "1111")
        await ws.auth.set_pin(Role.OPERATOR, "2222")
        await ws.close()

    asyncio.run(setup())
    return cfg


def audit_tail(cfg: Config, n: int = 3) -> list[tuple[str, str, dict]]:
    conn = sqlite3.connect(cfg.database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute(
            "SELECT actor, action, detail FROM audit ORDER BY seq DESC LIMIT ?", (n,)
        ).fetchall()
    finally:
        conn.close()
    return [(a, b, json.loads(c)) for a, b, c in reversed(rows)]


def test_kiosk_keys_and_signals_never_reach_a_shell_and_hangup_ends_cleanly(prepared: Config) -> None:
    assert prepared.kiosk  # the default outside demo mode
    term = Terminal("--config", str(prepared.source), env={"TEXTUAL_ALLOW_SIGNALS": "1"})
    try:
        term.read_until("役割の切替")
        term.write(b"2222\r")
        term.read_until("通話一覧")
        for key in (b"\x03", b"\x1a", b"\x1c", b"\x10"):  # ^C ^Z ^\ ^P
            term.write(key)
            term.drain(0.3)
            assert term.proc.poll() is None and term.state() not in ("T", "t", "Z")
        os.kill(term.proc.pid, signal.SIGINT)
        os.kill(term.proc.pid, signal.SIGTSTP)
        term.drain(0.5)
        assert term.proc.poll() is None and term.state() not in ("T", "t", "Z")
        os.kill(term.proc.pid, signal.SIGHUP)  # the SSH connection drops
        assert term.wait(10) == 129
    finally:
        term.close()
    tail = audit_tail(prepared)
    assert tail[-2][1] == "session.unlocked"
    assert tail[-1] == ("system", "session.quit", {"reason": "hangup"})
    # the indexer's lease is free again: another console can lead at once
    lock = os.open(prepared.data / "indexer.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(lock)


def test_hangup_with_the_terminal_gone_ends_cleanly(prepared: Config) -> None:
    """sshd closes its side of the terminal, then the console gets SIGHUP: every write fails."""
    term = Terminal("--config", str(prepared.source))
    try:
        term.read_until("役割の切替")
        term.write(b"2222\r")
        term.read_until("通話一覧")
        os.close(term.master)
        os.kill(term.proc.pid, signal.SIGHUP)
        assert term.proc.wait(10) == 129
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert audit_tail(prepared)[-1] == ("system", "session.quit", {"reason": "hangup"})
