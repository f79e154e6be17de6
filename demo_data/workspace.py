"""The demo workspace: everything `callrec --demo` needs, built without any configuration.

A folder (temporary unless given) holding its own config.toml, the sample spool re-dated over the
three months up to today, the database with the index built, demo PINs (manager 1111, operator
2222) and a few instructions. Nothing outside that folder is read or written.

The output data is real: one instruction is executed to a folder (a `usb` medium inside the
workspace) and received into the register, another is executed and awaits receipt; one call past its
date is held, so every view has something to show.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

from demo_data.recorder import simulate_recorder
from demo_data.redate import JST, build_demo_spool
from services.access import Duty, Role
from services.calls import CallFilter
from services.core import CallrecError, Config
from services.core import config as config_mod
from services.instructions import Criteria
from services.workspace import Workspace

MARKER = ".callrec-demo"
DEMO_PINS = {Role.MANAGER: "1111", Role.OPERATOR: "2222"}
RECORDER_INTERVAL = 6.0
SETTLE_SECONDS = 2.0


async def _issue_instructions(ws: Workspace) -> None:
    """Some open instructions (export and purge) and one cancelled, so the view has content."""
    manager = await ws.auth.authorize(Role.MANAGER, DEMO_PINS[Role.MANAGER], Duty.ISSUE_INSTRUCTION)
    recent = await ws.calls.page(CallFilter(states=("complete",)), limit=40)
    with_number = [c for c in recent if c.other_number]
    today = ws.clock.now().date()
    if len(with_number) >= 4:
        await ws.instructions.issue_export(
            manager,
            purpose="undue-pressure",
            medium="dvd-r",
            call_ids=[c.id for c in with_number[:3]],
            note="窓口への同一人物からの繰り返しの要求について、事実確認のため",
        )
        cancelled = await ws.instructions.issue_export(
            manager,
            purpose="proper-conduct",
            medium="cd-r",
            call_ids=[with_number[3].id],
            note="案内内容の確認",
        )
        await ws.instructions.cancel(manager, cancelled.id, reason="対象通話の誤り")
    # A description the operator can resolve: the last fortnight's calls with one caller.
    caller = next(
        (
            c.other_number
            for c in with_number
            if (today - c.started_at.astimezone(ws.config.tz).date()).days <= 14
        ),
        None,
    )
    await ws.instructions.issue_export(
        manager,
        purpose="crime-prevention",
        medium="usb",
        criteria=Criteria.parse(
            (today - timedelta(days=14)).isoformat(),
            today.isoformat(),
            other=caller or "090-0000-0000",
            tz=ws.config.tz,
        ),
        note="警察からの照会に関連する通話（運営受託者が特定して確認する）",
    )
    await ws.instructions.issue_purge(manager, note="保存期間（翌月末）を過ぎた通話録音データの削除")


async def _deliver_output_data(ws: Workspace, media: Path) -> None:
    """Two exports really written to folders: one received into the register, one awaiting receipt."""
    manager = await ws.auth.authorize(Role.MANAGER, DEMO_PINS[Role.MANAGER], Duty.ISSUE_INSTRUCTION)
    operator = await ws.auth.authorize(Role.OPERATOR, DEMO_PINS[Role.OPERATOR], Duty.EXECUTE_INSTRUCTION)
    receiver = await ws.auth.authorize(Role.MANAGER, DEMO_PINS[Role.MANAGER], Duty.RECEIVE_OUTPUT)
    month_ago = ws.clock.now().date() - timedelta(days=30)
    older = await ws.calls.page(CallFilter(states=("complete",), date_to=month_ago), limit=40)
    with_number = [c for c in older if c.other_number]
    notes = ["職員への暴言を含む通話の記録（人事課と共有）", "説明内容についての苦情の事実確認"]
    for n, (calls, note) in enumerate(zip((with_number[:2], with_number[2:3]), notes, strict=True)):
        if not calls:
            return
        ins = await ws.instructions.issue_export(
            manager,
            purpose="undue-pressure" if n == 0 else "proper-conduct",
            medium="usb",
            call_ids=[c.id for c in calls],
            note=note,
        )
        folder = media / f"usb-{ins.number}"
        folder.mkdir(parents=True)
        plan = await ws.exports.prepare(operator, ins.id, ws.exports.target(folder=str(folder)))
        await ws.exports.run(operator, plan)
        if n == 0:
            await ws.register.receive(receiver, ins.id, custodian="広聴課 書庫キャビネットB（施錠）")


async def _hold_one(ws: Workspace) -> None:
    """A call past its date kept under a hold (a request for disclosure is being handled)."""
    async for call in ws.retention.purgeable_calls(limit=1):
        manager = await ws.auth.authorize(Role.MANAGER, DEMO_PINS[Role.MANAGER], Duty.HOLD)
        await ws.holds.set(manager, call.id, "情報公開請求（受付第118号）の対象のため、決定まで削除しない")


async def build(
    root: Path, *, today: date | None = None, now: datetime | None = None, calls: int = 150
) -> Config:
    """Build a fresh demo workspace in `root` (an empty or new folder)."""
    now = (now or datetime.now(JST)).astimezone(JST)
    today = today or now.date()
    root.mkdir(parents=True, exist_ok=True)
    spool = root / "spool"
    build_demo_spool(spool, today, now=now, calls=calls)
    path = root / "config.toml"
    config_mod.write(
        Config(spool=spool, data=root / "data", kiosk=False, settle_seconds=SETTLE_SECONDS), path
    )
    cfg = config_mod.load(path)
    ws = await Workspace.open(cfg, create=True)
    try:
        for role, pin in DEMO_PINS.items():
            await ws.auth.set_pin(role, pin, by="demo")
        await ws.indexer.scan()
        await _issue_instructions(ws)
        await _deliver_output_data(ws, root / "media")
        await _hold_one(ws)
    finally:
        await ws.close()
    (root / MARKER).write_text("callrec demo workspace\n", encoding="utf-8")
    return cfg


async def prepare(root: Path) -> Config:
    """The demo workspace in `root`: reused when it is one already, else built there."""
    if (root / MARKER).exists():
        return config_mod.load(root / "config.toml")
    if root.exists() and any(root.iterdir()):
        raise CallrecError(
            f"{root}: not empty and not a demo workspace; give a new folder",
            code="demo_folder_busy",
            path=str(root),
        )
    return await build(root)


def recorder_for(cfg: Config) -> Callable[[asyncio.Event], Awaitable[None]]:
    """The simulated recorder, writing a new call into the demo spool every few seconds."""

    def start(stop: asyncio.Event) -> Awaitable[None]:
        return simulate_recorder(cfg.spool, interval=RECORDER_INTERVAL, tz=JST, stop=stop)

    return start


@contextmanager
def demo_session(
    root: Path | None,
    announce: Callable[[Path], None] | None = None,
) -> Iterator[tuple[Config, Callable[[asyncio.Event], Awaitable[None]]]]:
    """(configuration, recorder) of a demo workspace; a temporary one is removed afterwards."""
    temporary = root is None
    base = Path(tempfile.mkdtemp(prefix="callrec-demo-")) if root is None else root.resolve()
    if announce:
        announce(base)
    try:
        cfg = asyncio.run(prepare(base))
        yield cfg, recorder_for(cfg)
    finally:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
