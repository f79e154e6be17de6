"""SIGKILL in the middle of the work (issue 6): a receipt killed at each of its steps, and the
console itself killed while it indexes, exports, records a receipt and purges.

Each time the process dies at a known point (services/core/testpoints.py, or a partial file seen on
disk); afterwards the next command or console finds a whole database, a verifying audit chain,
every recording as it was, and can finish the work.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from screens.exports.dialogs import FieldsForm
from screens.exports.register_view import RegisterList
from screens.instructions.view import InstructionList
from screens.widgets.modals import ConfirmModal, PinPrompt
from services.access.audit import Action
from services.access.duties import Duty
from services.core import testpoints
from services.core.config import Config
from services.instructions.store import Instruction, State
from services.workspace import Workspace
from tests.support.console import (
    Said,
    Terminal,
    call_list,
    make_app,
    screen_text,
    show,
    show_instructions,
    unlock,
    unlock_as_manager,
    until,
)
from tests.support.export import recording
from tests.support.faults import assert_intact_ws, fingerprint, kill_at_pause, one_line, start_paused
from tests.support.retention import (
    current_time,
    files_on_disk,
    ids_by_path,
    make_calls,
    manager,
    operator,
    write_call,
)
from tests.support.workspace import MANAGER_PIN, CliRunner

RECEIPT_STEPS = ["receipt_before_tx", "receipt_in_tx", "receipt_after_commit"]


async def submitted_export(ws: Workspace, spool: Path, usb: Path) -> Instruction:
    """An export instruction executed to a USB folder, waiting for the manager's receipt."""
    recording(spool, "in-0488291111-0312345678-20261001-100000-a.1.wav", 20_000)
    recording(spool, "in-0488291111-0312345678-20261001-110000-b.1.wav", 30_000, seed=1)
    await ws.indexer.scan()
    ids = sorted((await ids_by_path(ws)).values())
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION), purpose="crime-prevention", medium="usb", call_ids=ids
    )
    usb.mkdir()
    op = await operator(ws)
    await ws.exports.run(op, await ws.exports.prepare(op, ins.id, ws.exports.target(folder=str(usb))))
    return await ws.instructions.get(ins.id)


async def receipt_state(ws: Workspace, ins: Instruction) -> tuple[str, int, int]:
    """(instruction state, register entries, REGISTER_CREATED audit entries)."""
    state = (await ws.instructions.get(ins.id)).state
    entries = await ws.db.scalar("SELECT count(*) FROM register WHERE instruction_id = ?", (ins.id,))
    audited = await ws.db.scalar("SELECT count(*) FROM audit WHERE action = ?", (Action.REGISTER_CREATED,))
    return state, entries, audited


@pytest.mark.parametrize("step", RECEIPT_STEPS)
async def test_receipt_killed_at_each_step(
    step: str, ws: Workspace, cfg: Config, spool: Path, tmp_path: Path, cli: CliRunner
) -> None:
    ins = await submitted_export(ws, spool, tmp_path / "usb")
    before, medium = fingerprint(spool), fingerprint(tmp_path / "usb")
    flag = tmp_path / "paused"
    assert cfg.source is not None
    proc = start_paused(
        cfg.source,
        "receive",
        ins.number,
        "--pin-stdin",
        "--yes",
        step=step,
        flag=flag,
        stdin=f"{MANAGER_PIN}\n",
    )
    kill_at_pause(flag, proc)

    # Killed before the commit, nothing happened; after it, the receipt is whole: never half.
    committed = step == "receipt_after_commit"
    assert await receipt_state(ws, ins) == ((State.RECEIVED, 1, 1) if committed else (State.SUBMITTED, 0, 0))
    again = cli("receive", ins.number, "--pin-stdin", "--yes", "--json", input=f"{MANAGER_PIN}\n")
    if committed:
        assert "received already" in one_line(again)
    else:
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["instruction"] == ins.number
    assert await receipt_state(ws, ins) == (State.RECEIVED, 1, 1)
    assert fingerprint(tmp_path / "usb") == medium  # the output data untouched
    await assert_intact_ws(ws, before)


# -- the console killed (a real console in a pseudo-terminal) --------------------------------------


def console(cfg: Config, *, step: str | None = None, flag: Path | None = None) -> Terminal:
    """`callrec` on a pseudo-terminal (120x40), optionally stopping at a testpoint."""
    env = {"CALLREC_TEST_PURGE_BATCH": "2"}
    if step is not None:
        env.update({testpoints.PAUSE_AT: step, testpoints.PAUSE_FILE: str(flag)})
    return Terminal("--config", str(cfg.source), env=env, size=(120, 40))


def kill_console(term: Terminal) -> None:
    os.kill(term.proc.pid, signal.SIGKILL)
    term.proc.wait(30)
    assert term.proc.returncode == -signal.SIGKILL


async def test_console_killed_while_recording_a_receipt(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path
) -> None:
    ins = await submitted_export(ws, spool, tmp_path / "usb")
    before = fingerprint(spool)
    flag = tmp_path / "paused"
    term = console(cfg, step="receipt_in_tx", flag=flag)
    try:
        term.read_until("役割の切替")
        term.write(b"\t")  # the manager
        term.write(b"1111\r")
        term.read_until("通話一覧")
        term.write(b"2")
        term.read_until(ins.number)
        term.read_until("次の手順")  # the instruction selected and shown: its keys act on it
        term.write(b"a")  # receipt: the custodian, the PIN, the confirmation
        term.read_until("保管者")
        term.write("広聴課 書庫".encode() + b"\x13")
        term.read_until("PINの確認")
        term.write(b"1111\r")
        term.read_until("翌年度末")
        term.write(b"\r")
        kill_at_console_pause(flag, term)
    finally:
        term.close()
    assert await receipt_state(ws, ins) == (State.SUBMITTED, 0, 0)  # the transaction never was

    app = make_app(ws)  # the next console: the receipt can be recorded as if nothing happened
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock_as_manager(pilot)
        await show_instructions(pilot)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="form")
        app.screen.query_one("#ff-custodian", Input).value = "広聴課 書庫"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"1111", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("enter")
        await show(pilot, "register")
        reg = app.screen.query_one(RegisterList)
        await until(pilot, lambda: reg.row_count == 1, what="register entry")
    assert await receipt_state(ws, ins) == (State.RECEIVED, 1, 1)
    await assert_intact_ws(ws, before)


def kill_at_console_pause(flag: Path, term: Terminal, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not flag.exists():
        assert term.proc.poll() is None, "the console ended before the testpoint"
        assert time.monotonic() < deadline, "the console never reached the testpoint"
        term.drain(0.05)
    kill_console(term)


async def test_console_killed_while_it_indexes(ws: Workspace, cfg: Config, cli: CliRunner) -> None:
    for i in range(6000):  # many folders: the first scan writes many batches
        write_call(cfg.spool, current_time(i) - timedelta(days=i % 60), i)
    before = fingerprint(cfg.spool)
    flag = cfg.data / "paused"
    term = console(cfg, step="index_batch_written", flag=flag)  # stops once a batch is written
    try:
        term.read_until("役割の切替")
        deadline = time.monotonic() + 60
        while not flag.exists():  # killed once its first scan has written some, not all
            assert time.monotonic() < deadline
            term.drain(0.01)
        kill_console(term)
    finally:
        term.close()
    with sqlite3.connect(cfg.database) as raw:
        partial = raw.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert 0 < partial < 6000, partial
    app = make_app(ws, start_indexer=True)  # the next console finishes the index
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        lst = call_list(app)
        await until(pilot, lambda: lst.row_count == 6000, timeout=60, what="all indexed")
        assert app.is_running
    with sqlite3.connect(cfg.database) as raw:
        assert raw.execute("SELECT count(*), count(DISTINCT path) FROM calls").fetchone() == (6000, 6000)
        assert raw.execute("SELECT count(*) FROM calls WHERE state != 'complete'").fetchone()[0] == 0
    await assert_intact_ws(ws, before)


async def test_console_killed_while_it_purges(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path
) -> None:
    _, new = make_calls(spool, expired=8, current=2)
    await ws.indexer.scan()
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    keep = {p.relative_to(spool).as_posix() for p in new}
    flag = tmp_path / "paused"
    term = console(cfg, step="mid_unlink", flag=flag)
    try:
        term.read_until("役割の切替")
        term.write(b"2222\r")
        term.read_until("通話一覧")
        term.write(b"4")
        term.read_until("p で実行")
        term.write(b"p")
        term.read_until("と入力して")
        term.write(b"8\r")
        term.read_until("PINの確認")
        term.write(b"2222\r")
        kill_at_console_pause(flag, term)
    finally:
        term.close()
    deleted_then = 8 + 2 - len(files_on_disk(spool))
    assert 0 < deleted_then < 8  # killed half-way through the deletions

    # The next console reconciles at its start: the index and the disk agree; the instruction is
    # open again, and the operator finishes it there.
    app = make_app(ws)
    reopened = await Workspace.open(cfg)
    try:
        rows = await reopened.db.fetchall("SELECT path, state FROM calls")
        states = {r["path"]: r["state"] for r in rows}
        assert set(states.values()) <= {"complete", "purged"}
        on_disk = files_on_disk(spool)
        for path, state in states.items():
            assert (path in on_disk) == (state == "complete"), (path, state)
        assert (await reopened.instructions.get(ins.id)).state == "issued"
    finally:
        await reopened.close()
    async with app.run_test(size=(100, 30)) as pilot:
        await unlock(pilot)
        await pilot.press("4")
        await until(pilot, lambda: "p で実行" in screen_text(app), what="the open purge")
        left = 8 - deleted_then
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press(*str(left), "enter")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: files_on_disk(spool) == keep, timeout=20, what="the purge")
    purged = await ws.db.fetchall("SELECT id FROM calls WHERE state = 'purged'")
    entries = await ws.db.fetchall("SELECT detail FROM audit WHERE action = ?", (Action.PURGE_DELETED,))
    assert sorted(json.loads(e["detail"])["call_id"] for e in entries) == sorted(r["id"] for r in purged)
    assert len(purged) == 8
    await assert_intact_ws(ws, {k: v for k, v in fingerprint(spool).items() if k in keep})


async def test_console_killed_while_it_exports(
    ws: Workspace, cfg: Config, spool: Path, tmp_path: Path
) -> None:
    recording(spool, "in-0488291111-0312345678-20261001-100000-big.1.wav", 150_000_000, sparse=True)
    recording(spool, "in-0488291111-0312345678-20261001-110000-small.1.wav", 20_000)
    await ws.indexer.scan()
    ids = sorted((await ids_by_path(ws)).values())
    ins = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION), purpose="crime-prevention", medium="usb", call_ids=ids
    )
    before = fingerprint(spool)
    usb = tmp_path / "usb"
    usb.mkdir()
    term = console(cfg)
    try:
        term.read_until("役割の切替")
        term.write(b"2222\r")
        term.read_until("通話一覧")
        term.write(b"2")
        term.read_until(ins.number)
        term.write(b"x")
        term.read_until("出力データの作成")
        term.write(str(usb).encode() + b"\x13")
        term.read_until("PINの確認")
        term.write(b"2222\r")
        term.read_until("と入力して")
        term.write(ins.number.encode() + b"\r")
        deadline = time.monotonic() + 60
        while not any(p.name.endswith(".partial") and any(p.rglob("*.wav")) for p in usb.iterdir()):
            assert term.proc.poll() is None, "the export ended before it could be killed"
            assert time.monotonic() < deadline
            term.drain(0.002)
        kill_console(term)
    finally:
        term.close()
    assert [p.name.endswith(".partial") for p in usb.iterdir()] == [True]
    assert (await ws.instructions.get(ins.id)).state == State.IN_PROGRESS

    app = make_app(ws)  # the next console cleans up and gives the instruction back; it runs whole
    said = Said(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await until(pilot, lambda: "途中で止まった出力データの作成（1件）" in said, what="recovery said")
        await show_instructions(pilot)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, FieldsForm), what="form")
        app.screen.query_one("#ff-where", Input).value = str(usb)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, PinPrompt))
        await pilot.press(*"2222", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal), timeout=20)
        await pilot.press(*ins.number, "enter")
        await until(pilot, lambda: ws_state(app, ins) == State.SUBMITTED, timeout=60, what="exported")
    names = [p.name for p in usb.iterdir()]
    assert len(names) == 1 and not names[0].endswith(".partial")
    history = await ws.exports.history(ins.number)
    assert [e.state for e in history] == ["failed", "finished"]
    await assert_intact_ws(ws, before)


def ws_state(app: Any, ins: Instruction) -> str | None:
    lst = app.screen.query(InstructionList)
    chosen = lst.first().selected if lst else None
    return chosen.state if chosen is not None and chosen.id == ins.id else None
