"""Role PINs: slow salted hashes with a pepper kept outside the database, and lockout.

Five consecutive failures lock a role out for five minutes, doubling on each repeat; the lock lives
in the database, so it holds across processes and restarts. A PIN is never stored, logged or put in
a message. Every action asks for the acting role's PIN and gets an Actor back: services take an
Actor, which only this module mints, so no service runs for a role whose PIN was not just checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from services.access.audit import SYSTEM, Action, AuditLog
from services.access.duties import Duty, Role, require
from services.core.clock import Clock, from_epoch, to_epoch
from services.core.db import Database
from services.core.errors import LockedOut, NotFound, PinError, StorageError, WrongPin

MAX_FAILURES = 5
LOCK_SECONDS = 300
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_PIN_RE = re.compile(r"\d{4,12}")
_MINT = object()


@dataclass(frozen=True)
class Actor:
    """A role whose PIN was verified at `verified_at`."""

    role: Role
    verified_at: datetime
    _mint: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._mint is not _MINT:
            raise TypeError("Actor is issued by Auth only")

    def require(self, duty: Duty) -> None:
        require(self.role, duty)


def normalize_pin(pin: str) -> str:
    """Full-width digits become ASCII; anything but 4-12 digits is refused."""
    text = unicodedata.normalize("NFKC", pin).strip()
    if not _PIN_RE.fullmatch(text):
        raise PinError("a PIN is 4 to 12 digits", code="pin_format")
    return text


def _hash(pin: str, salt: bytes, pepper: bytes, params: dict[str, int]) -> bytes:
    password = hmac.new(pepper, pin.encode(), hashlib.sha256).digest()
    return hashlib.scrypt(password, salt=salt, maxmem=64 * 1024 * 1024, **params)


@dataclass(frozen=True)
class LockState:
    failures: int
    locked_until: datetime | None
    lockouts: int


class Auth:
    def __init__(
        self, db: Database, audit: AuditLog, pepper: bytes, clock: Clock, lock_path: Path | None = None
    ) -> None:
        """lock_path: a file whose flock serialises PIN checks across processes (the data folder's
        pin.lock), so parallel guesses cannot all start before the lockout is written."""
        self.db = db
        self.audit = audit
        self._pepper = pepper
        self.clock = clock
        self._lock_path = lock_path
        self._local = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _one_check_at_a_time(self) -> AsyncIterator[None]:
        async with self._local:
            if self._lock_path is None:
                yield
                return
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StorageError(f"{self._lock_path}: {exc.strerror}", path=str(self._lock_path)) from None
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.01)  # another process is checking a PIN
                yield
            finally:
                os.close(fd)  # releases the lock

    async def is_set(self, role: Role) -> bool:
        return bool(await self.db.scalar("SELECT 1 FROM pins WHERE role = ?", (role.value,)))

    async def _matches(self, role: Role, pin: str) -> bool:
        row = await self.db.fetchone("SELECT hash, salt, params FROM pins WHERE role = ?", (role.value,))
        if row is None:
            return False
        digest = await asyncio.to_thread(_hash, pin, row["salt"], self._pepper, json.loads(row["params"]))
        return hmac.compare_digest(digest, row["hash"])

    async def set_pin(self, role: Role, pin: str, *, by: str = SYSTEM, reset: bool = False) -> None:
        pin = normalize_pin(pin)
        other = Role.OPERATOR if role is Role.MANAGER else Role.MANAGER
        if await self._matches(other, pin):
            raise PinError("the manager's and the operator's PINs must differ", code="pin_same")
        salt = secrets.token_bytes(16)
        digest = await asyncio.to_thread(_hash, pin, salt, self._pepper, _SCRYPT)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            existed = await (
                await conn.execute("SELECT 1 FROM pins WHERE role = ?", (role.value,))
            ).fetchone()
            await conn.execute(
                "INSERT INTO pins (role, hash, salt, params, set_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (role) DO UPDATE SET hash = excluded.hash, salt = excluded.salt,"
                " params = excluded.params, set_at = excluded.set_at",
                (role.value, digest, salt, json.dumps(_SCRYPT), to_epoch(now)),
            )
            await conn.execute("DELETE FROM pin_attempts WHERE role = ?", (role.value,))
            action = Action.PIN_RESET if reset else (Action.PIN_CHANGED if existed else Action.PIN_SET)
            await self.audit.append(conn, at=now, actor=by, action=action, subject=role.value)

    async def lock_state(self, role: Role) -> LockState:
        row = await self.db.fetchone(
            "SELECT failures, locked_until, lockouts FROM pin_attempts WHERE role = ?",
            (role.value,),
        )
        if row is None:
            return LockState(0, None, 0)
        until = from_epoch(row["locked_until"], self.clock.tz) if row["locked_until"] else None
        return LockState(row["failures"], until, row["lockouts"])

    async def verify(self, role: Role | str, pin: str) -> Actor:
        """Check a role's PIN. Raises WrongPin (with attempts left) or LockedOut (with until)."""
        role = Role(role)
        async with self._one_check_at_a_time():
            return await self._verify(role, pin)

    async def _verify(self, role: Role, pin: str) -> Actor:
        now = self.clock.now()
        state = await self.lock_state(role)
        if state.locked_until and now < state.locked_until:
            raise self._locked(role, state.locked_until)
        if not await self.is_set(role):
            raise NotFound(
                f"no PIN is set for the {role} (run `callrec pin set {role}`)",
                code="pin_unset",
                role=role.value,
            )
        try:
            pin = normalize_pin(pin)
            ok = await self._matches(role, pin)
        except PinError:
            ok = False
        if ok:
            async with self.db.transaction() as conn:
                await conn.execute("DELETE FROM pin_attempts WHERE role = ?", (role.value,))
                await self.audit.append(
                    conn, at=now, actor=role.value, action=Action.PIN_OK, subject=role.value
                )
            return Actor(role, now, _MINT)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "SELECT failures, locked_until, lockouts FROM pin_attempts WHERE role = ?",
                (role.value,),
            )
            row = await cur.fetchone()
            failures, lockouts = (row["failures"], row["lockouts"]) if row else (0, 0)
            failures += 1
            locked_until = None
            if failures >= MAX_FAILURES:
                locked_until = now + timedelta(seconds=LOCK_SECONDS * 2**lockouts)
                lockouts += 1
                failures = 0
            await conn.execute(
                "INSERT INTO pin_attempts (role, failures, locked_until, lockouts)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (role) DO UPDATE SET failures = excluded.failures,"
                " locked_until = excluded.locked_until, lockouts = excluded.lockouts",
                (role.value, failures, to_epoch(locked_until) if locked_until else None, lockouts),
            )
            await self.audit.append(
                conn, at=now, actor=role.value, action=Action.PIN_FAILED, subject=role.value
            )
            if locked_until:
                await self.audit.append(
                    conn,
                    at=now,
                    actor=SYSTEM,
                    action=Action.PIN_LOCKOUT,
                    subject=role.value,
                    detail={"until": locked_until.isoformat(timespec="seconds"), "lockouts": lockouts},
                )
        if locked_until:
            raise self._locked(role, locked_until)
        left = MAX_FAILURES - failures
        raise WrongPin(f"wrong PIN for the {role} ({left} attempts left)", role=role.value, remaining=left)

    async def authorize(self, role: Role | str, pin: str, duty: Duty) -> Actor:
        """The duty is checked before the PIN, so a role never spends an attempt on a refusal."""
        role = Role(role)
        require(role, duty)
        return await self.verify(role, pin)

    def _locked(self, role: Role, until: datetime) -> LockedOut:
        local = until.astimezone(self.clock.tz)
        return LockedOut(
            f"the {role} is locked out until {local:%H:%M:%S} after repeated wrong PINs",
            role=role.value,
            until=local.isoformat(timespec="seconds"),
        )
