"""Everything a face (console or CLI) needs, opened from one configuration."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from services.access import identity
from services.access.audit import SYSTEM, Action, AuditLog
from services.access.auth import Auth
from services.access.clock_ack import ClockAck
from services.calls import CallStore
from services.core import keys
from services.core.clock import Clock, SystemClock
from services.core.config import Config
from services.core.db import Database
from services.core.errors import CallrecError, SpoolError, StorageError
from services.core.lease import Lease
from services.core.text import visible
from services.export import Exports
from services.export.register import Register
from services.indexing.indexer import Indexer
from services.indexing.layouts import make_layout
from services.indexing.rederive import rederive
from services.instructions.store import Instructions
from services.reports import Reports
from services.retention.deletion_record import DeletionRecords
from services.retention.engine import Purge
from services.retention.holds import Holds
from services.retention.journal import ReconcileReport
from services.retention.status import RetentionStatus

FOLLOWER_RETRY_SECONDS = 2.0
_log = logging.getLogger(__name__)


@dataclass
class Workspace:
    config: Config
    clock: Clock
    db: Database
    audit: AuditLog
    auth: Auth
    calls: CallStore
    indexer: Indexer
    indexer_lease: Lease
    instructions: Instructions
    reports: Reports
    holds: Holds
    retention: RetentionStatus
    purge: Purge
    deletions: DeletionRecords
    reconciled: ReconcileReport  # what the start-up reconcile of a killed purge did
    exports: Exports
    register: Register
    clock_ack: ClockAck

    @classmethod
    async def open(cls, config: Config, *, clock: Clock | None = None, create: bool = False) -> Workspace:
        """Open this installation's data folder. `create` (callrec init, the demo): make the
        database when there is none. Nothing is written before the database and the key files
        are known to belong together (services/access/identity.py)."""
        clock = clock or SystemClock()  # Japan time, whatever the recorder's names are read in
        store = await asyncio.to_thread(identity.peek, config.database, create=create)
        if create:
            init_data_folder(config, new_keys=store is None)  # never a new key for a chain
        keys.check_folder(config.keys_dir)
        key_files = {name: keys.load_key(config.keys_dir, name) for name in keys.KEY_NAMES}
        if store is not None:
            identity.check(store, key_files, config.keys_dir, config.database)
        db = await Database.open(config.database, create=store is None)
        try:
            audit = AuditLog(db, key_files["audit"])
            if store is None or not store.fingerprints:
                await identity.record(db, audit, clock, key_files, adopted=store is not None)
            auth = Auth(db, audit, key_files["pepper"], clock, lock_path=config.data / "pin.lock")
            await note_config_change(db, audit, config, clock)
        except BaseException:
            await db.close()
            raise
        indexer = Indexer(
            db=db,
            audit=audit,
            layout=make_layout(config.layout, config.pattern, config.tz, config.numbers),
            spool=config.spool,
            tz=config.tz,
            settle_seconds=config.settle_seconds,
            clock=clock,
            poll=config.watch == "poll",
        )
        lease = Lease(config.data / "indexer.lock")
        instructions = Instructions(db, audit, clock)
        calls = CallStore(db, clock.tz)
        exports = Exports(db, audit, clock, calls, instructions, config)
        with contextlib.suppress(sqlite3.OperationalError):  # read-only for now: on a later open
            await rederive(db, audit, indexer.layout, clock, exports.rendered_form1)
        register = Register(db, audit, clock, instructions, exports)
        holds = Holds(db, audit, clock)
        retention = RetentionStatus(db, clock, config.raw_grace_days, register=register)
        purge = Purge(
            db,
            audit,
            instructions,
            retention,
            spool=config.spool,
            lock_path=config.data / "purge.lock",
            grace_days=config.raw_grace_days,
            clock=SystemClock(),
        )
        return cls(
            config,
            clock,
            db,
            audit,
            auth,
            calls,
            indexer,
            lease,
            instructions,
            reports=Reports(db, audit, clock),
            holds=holds,
            retention=retention,
            purge=purge,
            deletions=DeletionRecords(db, audit, clock, config),
            reconciled=await purge.reconcile_at_start(),
            exports=exports,
            register=register,
            clock_ack=ClockAck(db, audit, clock),
        )

    async def close(self) -> None:
        self.indexer_lease.release()
        await asyncio.to_thread(self.indexer.close)
        await asyncio.to_thread(self.purge.close)
        await asyncio.to_thread(self.exports.close)
        await self.db.close()

    async def run_indexer(self, stop: asyncio.Event, on_change: Callable[[], None] | None = None) -> None:
        """Lead the indexing while this process holds the lease; otherwise follow and retry,
        taking over when the other indexer stops."""
        health = self.indexer.health
        while not stop.is_set():
            if not self.indexer_lease.try_acquire():
                health.role = "follower"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), FOLLOWER_RETRY_SECONDS)
                continue
            health.role = "leader"
            try:
                # The watcher is set up before the scan, so nothing written meanwhile is missed.
                await self.indexer.follow(stop, on_change, scan_first=True)
            except (CallrecError, sqlite3.Error, OSError) as exc:
                # Spool gone, database busy for too long, disk full...: say so, retry shortly.
                self._indexer_failed(
                    exc.message if isinstance(exc, CallrecError) else str(exc),
                    exc
                    if isinstance(exc, CallrecError)
                    else StorageError(str(exc))
                    if isinstance(exc, sqlite3.Error)
                    else SpoolError(str(exc)),
                )
            except Exception as exc:  # a bug must not end live indexing silently: say it, retry
                why = visible(f"{type(exc).__name__}: {exc}")
                self._indexer_failed(why, CallrecError(why, code="indexer_fault"))
            else:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FOLLOWER_RETRY_SECONDS)
        health.role = "stopped"
        self.indexer_lease.release()

    def _indexer_failed(self, message: str, problem: CallrecError) -> None:
        again = message == self.indexer.health.last_error  # said already: once is enough
        _log.log(
            logging.DEBUG if again else logging.ERROR,
            "indexing stopped (%s): %s; retrying every %g s",
            problem.code,
            message,
            FOLLOWER_RETRY_SECONDS,
        )
        health = self.indexer.health
        health.errors += 1
        health.last_error = message
        health.problem = problem


def _settings(config: Config) -> dict[str, Any]:
    """The configuration's values as the audit log records them."""
    values = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "source"}
    values["centre"] = asdict(config.centre)
    recorded: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return recorded


async def note_config_change(db: Database, audit: AuditLog, config: Config, clock: Clock) -> None:
    """Record a configuration changed since the last time this data folder was opened (the file
    is edited by hand), naming each setting that changed. The first one seen is the baseline."""
    if config.source is None:
        return
    settings = _settings(config)
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
    if await db.scalar("SELECT value FROM meta WHERE key = 'config'") == text:
        return
    async with db.transaction() as conn:
        cur = await conn.execute("SELECT value FROM meta WHERE key = 'config'")
        row = await cur.fetchone()
        if row is not None and row[0] == text:
            return  # another process recorded it first
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES ('config', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (text,),
        )
        if row is None:
            return
        before = json.loads(row[0])
        changed = {k: {"was": before.get(k), "now": v} for k, v in settings.items() if before.get(k) != v}
        await audit.append(
            conn,
            at=clock.now(),
            actor=SYSTEM,
            action=Action.CONFIG_CHANGED,
            subject=str(config.source),
            detail={"changed": changed},
        )


def init_data_folder(config: Config, *, new_keys: bool = True) -> None:
    """Create the data folder layout and (`new_keys`, for a new database) any key file missing;
    a key is never overwritten."""
    try:
        config.data.mkdir(parents=True, exist_ok=True)
        os.chmod(config.data, 0o750)
        for sub in (config.exports_dir, config.journals_dir):
            sub.mkdir(exist_ok=True)
        if new_keys:
            keys.create_keys(config.keys_dir)
    except OSError as exc:
        raise StorageError(f"{config.data}: {exc.strerror}", path=str(config.data)) from exc


def data_folder_exists(path: Path) -> bool:
    return (path / "callrec.db").exists()
