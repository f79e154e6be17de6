"""Role PINs: slow salted peppered hashes, lockout that holds across processes and restarts."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from services.access.audit import Action
from services.access.auth import Auth, normalize_pin
from services.access.duties import Duty, Role
from services.core import keys
from services.core.clock import JST, FixedClock
from services.core.config import Config
from services.core.errors import KeyFileError, LockedOut, NotFound, NotPermitted, PinError, WrongPin
from services.workspace import Workspace
from tests.support.workspace import ROOT

SECRET = "97531864"
START = datetime(2026, 11, 20, 9, 0, tzinfo=JST)


@pytest.fixture
async def fixed(cfg: Config) -> Workspace:
    """A workspace on a clock that only moves when told to, manager PIN SECRET."""
    ws = await Workspace.open(cfg, clock=FixedClock(START), create=True)
    await ws.auth.set_pin(Role.MANAGER, SECRET)
    await ws.auth.set_pin(Role.OPERATOR, "2222")
    yield ws
    await ws.close()


def clock(ws: Workspace) -> FixedClock:
    assert isinstance(ws.clock, FixedClock)
    return ws.clock


async def fail(ws: Workspace, times: int, role: Role = Role.MANAGER) -> None:
    for _ in range(times):
        with pytest.raises((WrongPin, LockedOut)):
            await ws.auth.verify(role, "00000000")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("1234", "1234"), ("123456789012", "123456789012"), ("１２３４５", "12345"), (" 4321 ", "4321")],
)
def test_pin_format(typed: str, stored: str) -> None:
    assert normalize_pin(typed) == stored


@pytest.mark.parametrize("typed", ["123", "1234567890123", "12a4", "", "12 34", "-1234"])
def test_pin_format_refused(typed: str) -> None:
    with pytest.raises(PinError) as info:
        normalize_pin(typed)
    assert typed.strip() not in info.value.message or not typed.strip()


async def test_full_width_pin_works_both_ways(fixed: Workspace) -> None:
    await fixed.auth.set_pin(Role.OPERATOR, "２４６８０")
    assert (await fixed.auth.verify(Role.OPERATOR, "24680")).role is Role.OPERATOR
    await fixed.auth.set_pin(Role.OPERATOR, "13579")
    assert (await fixed.auth.verify(Role.OPERATOR, "１３５７９")).role is Role.OPERATOR


async def test_the_two_roles_pins_differ(fixed: Workspace) -> None:
    with pytest.raises(PinError) as info:
        await fixed.auth.set_pin(Role.OPERATOR, SECRET)
    assert info.value.code == "pin_same"
    with pytest.raises(PinError):
        await fixed.auth.set_pin(Role.MANAGER, "２２２２")


async def test_stored_only_as_a_peppered_scrypt_hash(fixed: Workspace) -> None:
    row = await fixed.db.fetchone("SELECT hash, salt, params FROM pins WHERE role = 'manager'")
    assert len(row["salt"]) == 16 and len(row["hash"]) == 32
    assert json.loads(row["params"])["n"] >= 2**14
    # The same PIN under another pepper (a database copied without its key file) does not match.
    other = Auth(fixed.db, fixed.audit, b"\x00" * 32, fixed.clock)
    with pytest.raises(WrongPin):
        await other.verify(Role.MANAGER, SECRET)
    assert (await fixed.auth.verify(Role.MANAGER, SECRET)).role is Role.MANAGER


async def test_pin_never_in_clear(fixed: Workspace) -> None:
    await fail(fixed, 2)
    await fixed.auth.verify(Role.MANAGER, SECRET)
    await fixed.auth.set_pin(Role.MANAGER, "86420975", by="cli")
    with pytest.raises(WrongPin) as info:
        await fixed.auth.verify(Role.MANAGER, SECRET)
    assert SECRET not in info.value.message and SECRET not in json.dumps(info.value.params)
    entries = await fixed.db.fetchall("SELECT * FROM audit")
    assert {e["action"] for e in entries} >= {
        Action.PIN_SET,
        Action.PIN_CHANGED,
        Action.PIN_OK,
        Action.PIN_FAILED,
    }
    for e in entries:
        assert SECRET not in " ".join(str(v) for v in tuple(e))
        assert "86420975" not in " ".join(str(v) for v in tuple(e))
    await fixed.db.close()
    for path in fixed.config.data.iterdir():
        if path.is_file():
            data = path.read_bytes()
            for pin in (SECRET, "86420975"):
                assert pin.encode() not in data, path
                assert pin.encode("utf-16-le") not in data, path


def test_key_files_are_private(cfg: Config) -> None:
    keys.create_keys(cfg.keys_dir)
    assert stat.S_IMODE(cfg.keys_dir.stat().st_mode) == 0o700
    pepper = keys.key_path(cfg.keys_dir, "pepper")
    assert stat.S_IMODE(pepper.stat().st_mode) == 0o600
    before = pepper.read_bytes()
    keys.create_keys(cfg.keys_dir)  # never overwritten
    assert pepper.read_bytes() == before
    os.chmod(pepper, 0o644)
    with pytest.raises(KeyFileError) as info:
        keys.load_key(cfg.keys_dir, "pepper")
    assert info.value.code == "keyfile_mode"
    pepper.unlink()
    with pytest.raises(KeyFileError, match="missing"):
        keys.load_key(cfg.keys_dir, "pepper")


async def test_lockout_after_five_failures_doubling(fixed: Workspace) -> None:
    auth = fixed.auth
    for left in (4, 3, 2, 1):
        with pytest.raises(WrongPin) as info:
            await auth.verify(Role.MANAGER, "00000000")
        assert info.value.params["remaining"] == left
    with pytest.raises(LockedOut) as locked:
        await auth.verify(Role.MANAGER, "00000000")
    assert locked.value.params["until"] == (START + timedelta(minutes=5)).isoformat()
    with pytest.raises(LockedOut):  # even the right PIN, and it is not counted
        await auth.verify(Role.MANAGER, SECRET)
    assert (await auth.verify(Role.OPERATOR, "2222")).role is Role.OPERATOR  # per role
    clock(fixed).advance(minutes=5)
    await fail(fixed, 5)  # again, without a success in between: twice as long
    state = await auth.lock_state(Role.MANAGER)
    assert state.locked_until == START + timedelta(minutes=5 + 10)
    clock(fixed).advance(minutes=9, seconds=59)
    with pytest.raises(LockedOut):
        await auth.verify(Role.MANAGER, SECRET)
    clock(fixed).advance(seconds=1)
    await fail(fixed, 5)
    assert (await auth.lock_state(Role.MANAGER)).locked_until == START + timedelta(minutes=35)
    clock(fixed).advance(minutes=20)
    assert (await auth.verify(Role.MANAGER, SECRET)).role is Role.MANAGER  # success resets
    await fail(fixed, 5)
    assert (await auth.lock_state(Role.MANAGER)).locked_until == START + timedelta(minutes=40)
    lockouts = await fixed.db.fetchall("SELECT detail FROM audit WHERE action = ?", (Action.PIN_LOCKOUT,))
    assert [json.loads(r[0])["lockouts"] for r in lockouts] == [1, 2, 3, 1]


async def test_lockout_survives_a_restart(cfg: Config) -> None:
    ws = await Workspace.open(cfg, clock=FixedClock(START), create=True)
    await ws.auth.set_pin(Role.MANAGER, SECRET)
    await fail(ws, 5)
    await ws.close()
    again = await Workspace.open(cfg, clock=FixedClock(START + timedelta(minutes=4)))
    try:
        with pytest.raises(LockedOut):
            await again.auth.verify(Role.MANAGER, SECRET)
    finally:
        await again.close()


ATTEMPTS = """
import asyncio, sys
from services.core import config
from services.workspace import Workspace
from services.core.errors import PinError

async def main():
    ws = await Workspace.open(config.load(config.resolve_path(sys.argv[1])))
    out = []
    for pin in sys.argv[2:]:
        try:
            await ws.auth.verify("manager", pin)
            out.append("ok")
        except PinError as exc:
            out.append(exc.code)
    await ws.close()
    print(" ".join(out))

asyncio.run(main())
"""


def attempts(cfg: Config, *pins: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", ATTEMPTS, str(cfg.source), *pins], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


async def test_lockout_holds_across_two_processes(cfg: Config) -> None:
    ws = await Workspace.open(cfg, create=True)
    await ws.auth.set_pin(Role.MANAGER, SECRET)
    await ws.close()
    wrong = ["11111111", "22222222", "33333333", "44444444"]
    first, second = attempts(cfg, *wrong), attempts(cfg, *wrong)  # 8 guesses at the same time
    out = [p.communicate(timeout=60)[0].split() for p in (first, second)]
    results = out[0] + out[1]
    assert results.count("pin_wrong") == 4 and results.count("pin_locked") == 4, results
    (third,) = [attempts(cfg, SECRET)]
    assert third.communicate(timeout=60)[0].split() == ["pin_locked"]
    ws = await Workspace.open(cfg)
    try:
        failed = await ws.db.scalar("SELECT count(*) FROM audit WHERE action = ?", (Action.PIN_FAILED,))
        assert failed == 5  # exactly five guesses were checked, whatever the interleaving
        assert (await ws.audit.verify()).ok
    finally:
        await ws.close()


async def test_duty_is_checked_before_the_pin(fixed: Workspace) -> None:
    with pytest.raises(NotPermitted):
        await fixed.auth.authorize(Role.OPERATOR, "0000", Duty.ISSUE_INSTRUCTION)
    assert (await fixed.auth.lock_state(Role.OPERATOR)).failures == 0
    actor = await fixed.auth.authorize(Role.MANAGER, SECRET, Duty.ISSUE_INSTRUCTION)
    assert actor.role is Role.MANAGER and actor.verified_at == START
    with pytest.raises(NotPermitted):
        actor.require(Duty.EXECUTE_INSTRUCTION)


async def test_unset_pin(cfg: Config) -> None:
    ws = await Workspace.open(cfg, create=True)
    try:
        with pytest.raises(NotFound) as info:
            await ws.auth.verify(Role.OPERATOR, "1234")
        assert info.value.code == "pin_unset"
    finally:
        await ws.close()


async def test_parallel_checks_in_one_process_are_counted_exactly(fixed: Workspace) -> None:
    results = await asyncio.gather(
        *(fixed.auth.verify(Role.MANAGER, "00000000") for _ in range(8)), return_exceptions=True
    )
    kinds = [type(r).__name__ for r in results]
    assert kinds.count("WrongPin") == 4 and kinds.count("LockedOut") == 4
