"""Two consoles on one data folder (issue 6, item 3): the operator's terminal and the manager over
SSH, both live, each a real CallrecApp with its own Workspace (its own connections, its own
indexer that leads or follows by the lease), run side by side in one event loop.

What one does, the other shows within 2 s: an instruction issued, an export executed, a receipt,
a purge issued and run, a new recording. One indexer writes at a time and the other takes over when
the first stops. No error reaches either user ("database is locked" least of all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import CallrecApp
from demo_data.synth import wav_header
from screens.exports.register_view import RegisterList
from screens.instructions.view import InstructionList
from screens.retention.view import RetentionView
from screens.widgets.modals import ConfirmModal, PinPrompt
from services.core.clock import JST
from services.core.config import Config
from services.instructions.store import State
from services.workspace import Workspace
from tests.support.console import (
    Said,
    answer,
    call_list,
    fill,
    make_app,
    screen_text,
    show,
    unlock,
    unlock_as_manager,
    until,
)
from tests.support.faults import assert_intact_ws, fingerprint
from tests.support.retention import make_calls

# Consoles in pseudo-terminals and wall-clock waits: run alone, after the parallel tests.
pytestmark = pytest.mark.serial

WITHIN = 2.0  # seconds: what one console does, the other shows


async def seen_within(other: Pilot[Any], condition: Callable[[], object], what: str, since: float) -> float:
    """Wait for the other console to show it; returns how long after `since` it did."""
    await until(other, condition, timeout=WITHIN + 3, what=what)
    took = time.monotonic() - since
    assert took <= WITHIN, f"{what}: {took:.2f} s"
    return took


def instruction_state(app: CallrecApp, number: str) -> str | None:
    """The state the instructions view shows for `number` (None: not listed there)."""
    found = app.screen.query(InstructionList)
    if not found:
        return None
    for ins in found.first().items:
        if ins.number == number:
            return ins.state
    return None


def purged_shown(lst: Any) -> int:
    calls = (lst.call_at(i) for i in range(lst.row_count))
    return sum(1 for c in calls if c is not None and c.state == "purged")


def record(spool: Path, uid: str) -> Path:
    now = datetime.now(JST)
    folder = spool / f"{now:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"in-0488291111-09011112222-{now:%Y%m%d-%H%M%S}-{uid}.wav"
    path.write_bytes(wav_header(1600) + bytes(1600))
    return path


async def test_two_consoles_see_each_others_work_within_2_s(
    cfg: Config, ws: Workspace, spool: Path, tmp_path: Path
) -> None:
    make_calls(spool, expired=6, current=3)
    await ws.indexer.scan()
    usb = tmp_path / "usb"
    usb.mkdir()
    # Two consoles, two workspaces of their own on the same data folder, both with an indexer.
    ws_m = await Workspace.open(cfg)
    ws_o = await Workspace.open(cfg)
    boss, floor = (make_app(w, start_indexer=True, poll_seconds=0.5) for w in (ws_m, ws_o))
    said_m, said_o = Said(boss), Said(floor)
    took: dict[str, float] = {}
    try:
        async with boss.run_test(size=(120, 40)) as m, floor.run_test(size=(120, 40)) as o:
            await unlock_as_manager(m)
            await unlock(o, "2222")
            await until(
                o,
                lambda: {ws_m.indexer.health.role, ws_o.indexer.health.role} == {"leader", "follower"},
                what="one leads, one follows",
            )

            # The manager instructs an export of the two newest calls (calls view: m m i).
            await show(o, "instructions")
            await m.press("m", "m", "i")
            await fill(m, purpose="crime-prevention", medium="usb", note="二台目のコンソールから")
            await answer(m, PinPrompt, *"1111", "enter")
            await answer(m, ConfirmModal, "enter")
            at = time.monotonic()
            await until(m, lambda: "2026-0001" in " ".join(said_m.messages[-1]), what="issued")
            took["instruction"] = await seen_within(
                o, lambda: instruction_state(floor, "2026-0001") == State.ISSUED, "instruction", at
            )

            # The operator executes it; the manager's instructions view shows it submitted.
            await show(m, "instructions")
            lst = floor.screen.query_one(InstructionList)
            await until(o, lambda: lst.selected is not None and lst.selected.number == "2026-0001")
            await o.press("x")
            await fill(o, where=str(usb))
            await answer(o, PinPrompt, *"2222", "enter")
            await answer(o, ConfirmModal, *"2026-0001", "enter")
            await until(
                o,
                lambda: instruction_state(floor, "2026-0001") == State.SUBMITTED,
                timeout=30,
                what="exported",
            )
            at = time.monotonic()
            took["export"] = await seen_within(
                m, lambda: instruction_state(boss, "2026-0001") == State.SUBMITTED, "submitted", at
            )

            # The manager records the receipt; the operator's register view shows the entry.
            await show(o, "register")
            reg = floor.screen.query_one(RegisterList)
            lst_m = boss.screen.query_one(InstructionList)
            await until(m, lambda: lst_m.selected is not None and lst_m.selected.number == "2026-0001")
            await m.press("a")
            await fill(m, custodian="広聴課")
            await answer(m, PinPrompt, *"1111", "enter")
            await answer(m, ConfirmModal, "enter")
            await until(m, lambda: instruction_state(boss, "2026-0001") == State.RECEIVED, what="received")
            at = time.monotonic()
            took["receipt"] = await seen_within(o, lambda: reg.row_count == 1, "register entry", at)

            # The manager issues a purge; the operator's retention view offers it, runs it; the
            # manager's calls view loses the deleted calls.
            await show(o, "retention")
            await show(m, "retention")
            view_o = floor.screen.query_one(RetentionView)
            await m.press("i")
            await answer(m, ConfirmModal, "enter")
            await answer(m, PinPrompt, *"1111", "enter")
            await until(m, lambda: "指示済み" in screen_text(boss), what="purge issued")
            at = time.monotonic()
            took["purge instruction"] = await seen_within(
                o, lambda: "p で実行" in screen_text(floor), "purge instruction", at
            )
            await show(m, "calls")
            calls_m = call_list(boss)
            await until(o, lambda: view_o.preview is not None and view_o.preview.purgeable.count)
            n = view_o.preview.purgeable.count
            await o.press("p")
            await answer(o, ConfirmModal, *str(n), "enter")
            await answer(o, PinPrompt, *"2222", "enter")
            await until(
                o, lambda: "完了" in " ".join(m for _, m in said_o.messages), timeout=20, what="purged"
            )
            at = time.monotonic()
            took["purge"] = await seen_within(  # kept as tombstones, shown deleted
                m, lambda: purged_shown(calls_m) == n, "purged calls shown deleted", at
            )

            # A new recording: the leading indexer writes it, both lists show it.
            await until(o, lambda: floor.screen.id == "main", what="progress closed")
            await show(o, "calls")
            calls_o = call_list(floor)
            rows = calls_o.row_count
            record(spool, "live.1")
            at = time.monotonic()
            await until(
                o,
                lambda: calls_o.row_count == rows + 1 and calls_m.row_count == rows + 1,
                timeout=WITHIN + 3,
                what="new recording in both",
            )
            took["recording"] = time.monotonic() - at
            assert took["recording"] <= WITHIN

            # The leader's console quits: the other console's indexer takes over.
            leader, follower = (boss, floor) if ws_m.indexer.health.role == "leader" else (floor, boss)
            survivor_ws = ws_o if leader is boss else ws_m
            survivor_pilot = o if leader is boss else m
            await leader.shutdown(0, "quit", "operator")
            at = time.monotonic()
            await until(
                survivor_pilot,
                lambda: survivor_ws.indexer.health.role == "leader",
                timeout=10,
                what="the other indexer takes over",
            )
            took["take over"] = time.monotonic() - at
            survivor_list = call_list(follower)
            rows = survivor_list.row_count
            record(spool, "live.2")
            await until(
                survivor_pilot,
                lambda: survivor_list.row_count == rows + 1,
                timeout=10,
                what="indexed by the new leader",
            )
            assert follower.is_running
    finally:
        await ws_m.close()
        await ws_o.close()
    errors = said_m.errors() + said_o.errors()
    assert errors == [], errors
    assert not any("locked" in m for _, m in said_m.messages + said_o.messages)
    with_dupes = await ws.db.scalar("SELECT count(*) - count(DISTINCT path) FROM calls")
    assert with_dupes == 0
    print("two consoles, seconds:", {k: round(v, 2) for k, v in took.items()})
    await assert_intact_ws(ws, fingerprint(spool))
