"""The audit log: append-only, each entry chained to the one before by an HMAC.

mac(n) = HMAC-SHA256(key, mac(n-1) || canonical JSON of entry n). The key lives outside the
database, so an entry edited (even with the triggers dropped), removed or inserted breaks the chain
from that entry on. Removing the newest entries is caught against an anchor (seq:mac) printed earlier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import aiosqlite

from services.core.db import Database
from services.core.errors import CallrecError

GENESIS = "0" * 64
SYSTEM = "system"


@dataclass(frozen=True)
class Head:
    seq: int
    mac: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.mac}"

    @classmethod
    def parse(cls, text: str) -> Head:
        seq, _, mac = text.partition(":")
        if not seq.isdigit() or len(mac) != 64:
            raise CallrecError(f"not an anchor: {text!r} (expected SEQ:MAC)", code="bad_anchor")
        return cls(int(seq), mac.lower())


class Entry(NamedTuple):
    at: datetime
    actor: str
    action: str
    subject: str = ""
    # a mapping, or its canonical() text already made (a caller writing thousands of entries
    # of one shape may lay the text out itself; tests hold it to canonical())
    detail: Mapping[str, Any] | str | None = None


def canonical(detail: Mapping[str, Any] | None) -> str:
    """An entry's detail as stored and chained: sorted keys, no spaces, UTF-8 as is."""
    return _DETAIL.encode(dict(detail or {}))


@dataclass(frozen=True)
class Backstep:
    """An entry stamped earlier than the one before it: the clock went back between them."""

    seq: int
    at: str  # as stored
    before: str  # the entry before it (seq - 1), as stored


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    head: Head | None
    first_bad: int | None = None
    problem: str = ""
    backwards: tuple[Backstep, ...] = ()  # warnings: the chain may verify all the same


# Made once: json.dumps with keyword arguments builds a new encoder on every call.
_BODY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DETAIL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
# How _BODY writes a string (ensure_ascii=False): the C function when the build has it.
_quote = json.encoder.encode_basestring


def _mac(key: bytes, prev: str, seq: int, ts: str, actor: str, action: str, subject: str, detail: str) -> str:
    body = _BODY.encode([seq, ts, actor, action, subject, detail])
    return hmac.new(key, prev.encode() + body.encode(), hashlib.sha256).hexdigest()


def opens_chain(key: bytes, first: Sequence[Any]) -> bool:
    """Whether the first entry (seq, ts, actor, action, subject, detail, mac) was sealed with `key`."""
    seq, ts, actor, action, subject, detail, mac = first
    return seq == 1 and hmac.compare_digest(_mac(key, GENESIS, seq, ts, actor, action, subject, detail), mac)


def _earlier(ts: str, before: str) -> bool:
    """Whether the stored time `ts` is earlier than `before` (text compares when the offsets agree)."""
    if ts[-6:] == before[-6:] and len(ts) == len(before):
        return ts < before
    try:
        return datetime.fromisoformat(ts) < datetime.fromisoformat(before)
    except ValueError:
        return False


class _Chainer:
    """The same MAC as `_mac`, computed faster for long runs of entries (a purge writes one per
    deleted call): the key's HMAC pads are hashed once (RFC 2104, as hmac does internally), and
    the body is laid out the way _BODY lays out a list of one int and five strings."""

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def pads(self) -> tuple[Any, Any]:
        """The inner and outer hashes with the key's pads in: copy each, then update."""
        return self._inner, self._outer

    def mac(self, prev: str, seq: int, ts: str, actor: str, action: str, subject: str, detail: str) -> str:
        q = _quote
        try:
            body = f"[{seq:d},{q(ts)},{q(actor)},{q(action)},{q(subject)},{q(detail)}]"
        except TypeError:  # not all strings: lay it out the slow way, exactly as _mac does
            body = _BODY.encode([seq, ts, actor, action, subject, detail])
        inner = self._inner.copy()
        inner.update(prev.encode())
        inner.update(body.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_log = logging.getLogger(__name__)
_HEAD_SQL = "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1"
_INSERT_SQL = "INSERT INTO audit (seq, ts, actor, action, subject, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?)"


class AuditLog:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self._key = key
        self._chainer = _Chainer(key)

    async def append(
        self,
        conn: aiosqlite.Connection,
        *,
        at: datetime,
        actor: str,
        action: str,
        subject: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> Head:
        """Add an entry inside the caller's write transaction (so the action and its entry commit
        together). Never pass a PIN in detail."""
        head = await self.append_many(conn, [Entry(at, actor, action, subject, detail)])
        assert head is not None
        return head

    async def append_many(self, conn: aiosqlite.Connection, entries: Sequence[Entry]) -> Head | None:
        """Add several entries, in order, inside the caller's write transaction in one round trip
        (a purge writes one entry per deleted call)."""
        if not entries:
            return None
        rows, head = self.seal(await self.head_in(conn), entries)
        await self.insert_sealed(conn, rows)
        return head

    async def head_in(self, conn: aiosqlite.Connection) -> Head:
        """The newest entry as the caller's write transaction sees it (GENESIS when empty)."""
        async with conn.execute(_HEAD_SQL) as cur:
            row = await cur.fetchone()
        return Head(row[0], row[1]) if row else Head(0, GENESIS)

    @staticmethod
    def head_sync(conn: sqlite3.Connection) -> Head:
        """head_in on a plain sqlite3 connection (a purge writes from a thread of its own)."""
        row = conn.execute(_HEAD_SQL).fetchone()
        return Head(row[0], row[1]) if row else Head(0, GENESIS)

    def seal(self, head: Head, entries: Sequence[Entry]) -> tuple[list[tuple[Any, ...]], Head]:
        """Chain entries onto `head`: the rows to insert and the new head. Pure computation, so a
        caller may do it while its transaction's other statements run."""
        seq, mac = head.seq, head.mac
        rows = []
        at: datetime | None = None
        ts = ""
        chain = self._chainer.mac
        for e in entries:
            seq += 1
            if e.at is not at:
                at, ts = e.at, e.at.isoformat(timespec="seconds")
            detail_text = e.detail if isinstance(e.detail, str) else canonical(e.detail)
            level = logging.DEBUG if e.action in _QUIET else logging.INFO
            _log.log(level, "audit %d %s by %s: %s %s", seq, e.action, e.actor, e.subject, detail_text)
            mac = chain(mac, seq, ts, e.actor, e.action, e.subject, detail_text)
            rows.append((seq, ts, e.actor, e.action, e.subject, detail_text, mac))
        return rows, Head(seq, mac)

    def seal_uniform(
        self, head: Head, at: datetime, actor: str, action: str, items: Sequence[tuple[str, str]]
    ) -> tuple[list[tuple[Any, ...]], Head]:
        """`seal` for many entries of one time, actor and action, given as (subject, detail)
        pairs with the detail as canonical() text: the same rows, made faster (a purge writes
        one entry per deleted call)."""
        ts = at.isoformat(timespec="seconds")
        if not all(isinstance(v, str) for v in (actor, action)):
            return self.seal(head, [Entry(at, actor, action, s, d) for s, d in items])
        q = _quote
        middle = f",{q(ts)},{q(actor)},{q(action)},"
        inner0, outer0 = self._chainer.pads()
        new_inner, new_outer = inner0.copy, outer0.copy
        seq, mac = head.seq, head.mac
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        for subject, detail in items:
            seq += 1
            inner = new_inner()
            inner.update(f"{mac}[{seq:d}{middle}{q(subject)},{q(detail)}]".encode())
            outer = new_outer()
            outer.update(inner.digest())
            mac = outer.hexdigest()
            append((seq, ts, actor, action, subject, detail, mac))
        return rows, Head(seq, mac)

    async def insert_sealed(self, conn: aiosqlite.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows from `seal`, in the same transaction whose head they were chained onto."""
        await conn.executemany(_INSERT_SQL, rows)

    @staticmethod
    def insert_sealed_sync(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """insert_sealed on a plain sqlite3 connection."""
        conn.executemany(_INSERT_SQL, rows)

    async def record(self, **entry: Any) -> Head:
        """Append an entry in a transaction of its own."""
        async with self.db.transaction() as conn:
            return await self.append(conn, **entry)

    async def head(self) -> Head | None:
        row = await self.db.fetchone("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1")
        return Head(row[0], row[1]) if row else None

    async def latest_time(self) -> datetime | None:
        """The latest time any entry carries. Not merely the last entry's: checking a PIN appends
        an entry stamped by the (possibly wrong) clock just before the action is checked. Entries
        before the manager's latest acknowledgement of a clock correction (services/access/clock_ack.py)
        do not count: they were stamped by the clock that was wrong."""
        ack = await self.db.scalar(_LAST_ACK_SQL)
        if ack is None:
            ts = await self.db.scalar("SELECT max(ts) FROM audit")
        else:
            ts = await self.db.scalar(
                "SELECT ts FROM audit INDEXED BY audit_ts WHERE seq >= ? ORDER BY ts DESC LIMIT 1", (ack,)
            )
        return datetime.fromisoformat(ts) if ts else None

    async def clock_behind(self, now: datetime) -> datetime | None:
        """The latest audit time when `now` is earlier than it, else None."""
        latest = await self.latest_time()
        return latest if latest is not None and now < latest.replace(microsecond=0) else None

    async def check_clock(self, now: datetime) -> None:
        """Refuse destructive work when the clock reads earlier than the newest audit entry:
        retention is judged by the clock, so a clock set back must not delete anything."""
        latest = await self.clock_behind(now)
        if latest is not None:
            raise CallrecError(
                f"the clock ({now:%Y-%m-%d %H:%M:%S}) is earlier than the newest audit entry"
                f" ({latest:%Y-%m-%d %H:%M:%S}); fix the clock, or if it was set right, the"
                " manager acknowledges it (callrec clock ack)",
                code="clock_behind",
                now=now.isoformat(),
                latest=latest.isoformat(),
            )

    async def verify(self, anchor: Head | None = None) -> VerifyResult:
        rows = self.db.stream("SELECT seq, ts, actor, action, subject, detail, mac FROM audit ORDER BY seq")
        async with aclosing(rows):
            return await self._walk(rows, anchor)

    async def _walk(self, rows: AsyncIterator[Any], anchor: Head | None) -> VerifyResult:
        prev = GENESIS
        expected = 1
        count = 0
        anchor_seen = anchor is None
        last: Head | None = None
        before = ""
        backwards: list[Backstep] = []
        async for seq, ts, actor, action, subject, detail, mac in rows:
            if seq != expected:
                return VerifyResult(False, count, last, expected, f"entry {expected} is missing")
            good = _mac(self._key, prev, seq, ts, actor, action, subject, detail)
            if not hmac.compare_digest(good, mac):
                return VerifyResult(False, count, last, seq, f"entry {seq} does not match")
            if anchor is not None and seq == anchor.seq:
                if not hmac.compare_digest(mac, anchor.mac):
                    return VerifyResult(False, count, last, seq, f"entry {seq} differs from the anchor")
                anchor_seen = True
            if ts != before and before and _earlier(ts, before):
                backwards.append(Backstep(seq, ts, before))
            prev, before = mac, ts
            last = Head(seq, mac)
            expected += 1
            count += 1
        if not anchor_seen:
            assert anchor is not None
            return VerifyResult(
                False,
                count,
                last,
                count + 1,
                f"entries after {count} up to the anchor {anchor.seq} were removed",
                tuple(backwards),
            )
        return VerifyResult(True, count, last, backwards=tuple(backwards))


class Action:
    """Every audit action name, in one place (reports count these)."""

    CONFIG_WRITTEN = "config.written"
    CONFIG_CHANGED = "config.changed"
    PIN_SET = "pin.set"
    PIN_CHANGED = "pin.changed"
    PIN_RESET = "pin.reset"
    PIN_OK = "pin.ok"
    PIN_FAILED = "pin.failed"
    PIN_LOCKOUT = "pin.lockout"
    CALL_MISSING = "call.missing"
    CALL_CHANGED = "call.changed"
    CALL_REAPPEARED = "call.reappeared"
    CALL_ANOMALY = "call.anomaly"  # a name's date not believed: kept from the latest date
    INDEX_UNKNOWN = "index.unknown"  # audio no layout reads, indexed as unknown
    CALLS_REDERIVED = "calls.rederived"  # an upgrade re-read the parties from the names
    INDEX_SKIPPED = "index.skipped"
    NUMBER_REVEALED = "number.revealed"
    SESSION_UNLOCKED = "session.unlocked"
    SESSION_LOCKED = "session.locked"
    SESSION_QUIT = "session.quit"
    INSTRUCTION_ISSUED = "instruction.issued"
    INSTRUCTION_CANCELLED = "instruction.cancelled"
    INSTRUCTION_STARTED = "instruction.started"
    INSTRUCTION_REOPENED = "instruction.reopened"
    INSTRUCTION_SUBMITTED = "instruction.submitted"
    INSTRUCTION_RECEIVED = "instruction.received"
    INSTRUCTION_DONE = "instruction.done"
    EXPORT_STARTED = "export.started"
    EXPORT_FINISHED = "export.finished"
    EXPORT_FAILED = "export.failed"
    EXPORT_CANCELLED = "export.cancelled"
    REGISTER_CREATED = "register.created"
    REGISTER_EXTENDED = "register.extended"
    REGISTER_DISPOSED = "register.disposed"
    HOLD_SET = "hold.set"
    HOLD_RELEASED = "hold.released"
    PURGE_STARTED = "purge.started"
    PURGE_DELETED = "purge.deleted"
    PURGE_FINISHED = "purge.finished"
    PURGE_INTERRUPTED = "purge.interrupted"
    PURGE_KEPT = "purge.kept"  # a file not provably its call's recording: kept, the call marked
    REPORT_PRODUCED = "report.produced"
    STORE_ADOPTED = "store.adopted"
    CLOCK_ACKNOWLEDGED = "clock.acknowledged"


# The partial index audit_clock_ack (migration 0008_store) answers this without a scan.
# Entries too many to log one by one at the usual level (a purge writes one per call deleted).
_QUIET = frozenset({Action.PURGE_DELETED})
_LAST_ACK_SQL = f"SELECT max(seq) FROM audit WHERE action = '{Action.CLOCK_ACKNOWLEDGED}'"
