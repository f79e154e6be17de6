"""What the console says right after it wrote (issue 11, item 8): setting a hold reports the hold
even while another read is under way, and a manager cancels an instruction whose export was killed
without waiting for the next console start."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console import app as app_mod
from screens.retention.holding import ReasonModal, call_line
from screens.widgets.modals import ConfirmModal, PinPrompt
from services.access.audit import Action
from services.access.duties import Duty
from services.core.config import Config
from services.instructions.store import State
from services.workspace import Workspace
from tests.support.console import (
    Said,
    fill,
    make_app,
    pin,
    selected_state,
    show,
    show_retention,
    unlock,
    unlock_as_manager,
    until,
)
from tests.support.export import manager, recording, start_cli_export
from tests.support.retention import ids_by_path, make_calls
from tests.support.workspace import CliRunner

NO_HOLD = "その保留の記録はありません"


async def set_hold(pilot: Any, call_id: int, submitting: Callable[[], object] = lambda: None) -> None:
    """Set a hold through its prompts; `submitting()` runs just before the PIN is entered."""
    await pilot.press("h")
    await until(pilot, lambda: isinstance(pilot.app.screen, ReasonModal), what="the reason")
    await pilot.press(*str(call_id), "enter", *"request", "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, PinPrompt), what="the PIN")
    await pilot.press(*"1111")
    submitting()
    await pilot.press("enter")


async def test_a_hold_set_is_shown_although_a_read_was_under_way(ws: Workspace, spool: Path) -> None:
    """The workspace's reader is in the middle of a longer read (a list being fetched, whose
    snapshot predates the hold) each time a hold is set: the hold is read back all the same."""
    old, _ = make_calls(spool, expired=150)  # more rows than one fetch of the reader takes
    await ws.indexer.scan()
    by_path = await ids_by_path(ws)
    ids = [by_path[p.relative_to(spool).as_posix()] for p in old[:12]]
    app = make_app(ws)
    said = Said(app)
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        await show_retention(pilot)
        lines = {c: call_line(await ws.calls.get(c)) for c in ids}  # in the console's language
        for n, call_id in enumerate(ids):
            reading = ws.db.stream("SELECT id FROM calls ORDER BY id")
            await anext(reading)  # begun before the hold is written, not finished
            try:
                await set_hold(pilot, call_id)
                await until(
                    pilot,
                    lambda c=call_id: f"保留しました: {lines[c]}" in said or NO_HOLD in said,
                    what="the hold reported",
                )
            finally:
                await reading.aclose()
            assert NO_HOLD not in said and not said.errors()
            active = await ws.db.fetchall("SELECT call_id FROM holds WHERE released_at IS NULL")
            assert sorted(r[0] for r in active) == sorted(ids[: n + 1])
    assert (await ws.audit.verify()).ok


async def test_holds_set_while_the_reader_keeps_reading(ws: Workspace, spool: Path) -> None:
    """Holds set one after the other while another task reads the index without pause, as a
    live list does: every one is reported, none is said to be missing."""
    old, _ = make_calls(spool, expired=150)
    await ws.indexer.scan()
    by_path = await ids_by_path(ws)
    ids = [by_path[p.relative_to(spool).as_posix()] for p in old[:10]]
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            async for _ in ws.db.stream("SELECT id FROM calls"):
                await asyncio.sleep(0)

    app = make_app(ws)
    said = Said(app)
    readers: list[asyncio.Future[None]] = []

    def start_reading() -> None:
        stop.clear()
        readers.append(asyncio.ensure_future(keep_reading()))

    # The reader runs from the PIN's Enter until the hold is reported: the prompts before it are
    # typed on an idle loop, as Pilot needs to see each key handled.
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        await show_retention(pilot)
        lines = {c: call_line(await ws.calls.get(c)) for c in ids}  # in the console's language
        try:
            for call_id in ids:
                await set_hold(pilot, call_id, start_reading)
                await until(
                    pilot,
                    lambda c=call_id: f"保留しました: {lines[c]}" in said or NO_HOLD in said,
                    what="the hold reported",
                )
                stop.set()
                await readers[-1]
        finally:
            stop.set()
            await asyncio.gather(*readers)
        assert NO_HOLD not in said and not said.errors()
    active = await ws.db.fetchall("SELECT call_id FROM holds WHERE released_at IS NULL")
    assert sorted(r[0] for r in active) == sorted(ids)


async def killed_export(ws: Workspace, cfg: Config, spool: Path, usb: Path) -> Any:
    """An export instruction whose CLI export is killed while it writes; returns the instruction."""
    recording(spool, "in-0488291111-0312345678-20261001-100000-big.1.wav", 150_000_000, sparse=True)
    await ws.indexer.scan()
    ids = [r["id"] for r in await ws.db.fetchall("SELECT id FROM calls")]
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION), purpose="crime-prevention", medium="usb", call_ids=ids
    )
    assert cfg.source is not None
    proc = start_cli_export(cfg.source, ins.number, "--dir", str(usb))
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") and any(p.rglob("*.wav")) for p in usb.iterdir()):
        assert proc.poll() is None, "the export ended before it could be killed"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (await ws.instructions.get(ins.id)).state == State.IN_PROGRESS
    return ins


async def audited(ws: Workspace, number: str) -> list[str]:
    rows = await ws.db.fetchall("SELECT action FROM audit WHERE subject = ? ORDER BY seq", (number,))
    return [r[0] for r in rows]


AFTER_KILL = [
    Action.INSTRUCTION_ISSUED,
    Action.INSTRUCTION_STARTED,
    Action.EXPORT_STARTED,
    Action.INSTRUCTION_REOPENED,
    Action.EXPORT_FAILED,
    Action.INSTRUCTION_CANCELLED,
]


async def test_the_manager_cancels_after_a_killed_export(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_mod, "RECOVER_EVERY_SECONDS", 3600.0)  # no periodic round meanwhile
    usb = tmp_path / "usb"
    usb.mkdir()
    app = make_app(ws)
    said = Said(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock_as_manager(pilot)
        await pilot.pause(app_mod.BACKGROUND_AFTER_SECONDS + 0.2)  # the start-up clean-up is over
        ins = await killed_export(ws, cfg, spool, usb)
        await show(pilot, "instructions")
        await until(
            pilot,
            lambda: selected_state(app, ins.number) == State.IN_PROGRESS,
            timeout=10,
            what="the killed export's instruction, in progress",
        )
        await pilot.press("c")
        await fill(pilot, reason="出力の中止")
        await pin(pilot, "1111")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), what="confirmation")
        await pilot.press("enter")
        await until(
            pilot, lambda: "取り消しました" in said or "取り消せません" in said, what="the cancel's outcome"
        )
        assert "取り消せません" not in said and not said.errors()
        assert "途中で止まった出力データの作成（1件）" in said
    assert (await ws.instructions.get(ins.id)).state == State.CANCELLED
    assert list(usb.iterdir()) == []  # the half-written output removed
    assert [e.state for e in await ws.exports.history(ins.number)] == ["failed"]
    assert await audited(ws, ins.number) == AFTER_KILL
    assert (await ws.audit.verify()).ok


async def test_the_cli_cancels_after_a_killed_export(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path, cli: CliRunner
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    ins = await killed_export(ws, cfg, spool, usb)
    proc = cli("cancel", ins.number, "--reason", "出力の中止", "--pin-stdin", input="1111\n")
    assert proc.returncode == 0, proc.stderr
    assert (await ws.instructions.get(ins.id)).state == State.CANCELLED
    assert list(usb.iterdir()) == []
    assert await audited(ws, ins.number) == AFTER_KILL
