"""Whether a database is this installation's, decided before anything in it is read or written.

Only `callrec init` creates a database, and only where none is. Every other open refuses one that
is missing, emptied (SQLite would take a 0-byte file for a new database, and holds, lockouts, PINs
and the audit log would be gone without a word), not callrec's, or made with other keys: the
database keeps a fingerprint of each key file (meta `key.pepper`, `key.audit`), compared with the
files before any PIN is checked or entry sealed. A swapped pepper would count correct PINs as
failures; a replaced audit key would seal entries the chain can never verify.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.access.audit import SYSTEM, Action, AuditLog, opens_chain
from services.core import keys
from services.core.clock import Clock
from services.core.db import BUSY_TIMEOUT_MS, Database, storage_error
from services.core.errors import KeyFileError, StorageError

_META = {f"key.{name}": name for name in keys.KEY_NAMES}
_MARKS = ", ".join("?" * len(_META))


@dataclass(frozen=True)
class Store:
    """What identifies an existing database."""

    fingerprints: dict[str, str]  # key name -> fingerprint; empty when made before fingerprints
    first_entry: tuple[Any, ...] | None  # the first audit entry (seq, ts, ..., mac)


def peek(path: Path, *, create: bool = False) -> Store | None:
    """The database at `path` read without changing it; None when there is none and `create`.
    Refuses (StorageError) a missing one unless `create`, an empty file, or not callrec's."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        if create:
            return None
        raise StorageError(
            f"{path}: no database (run `callrec init`)", code="db_missing", path=str(path)
        ) from None
    except OSError as exc:
        raise StorageError(f"{path}: cannot open the database: {exc.strerror}", path=str(path)) from None
    if size == 0:
        raise StorageError(
            f"{path}: the database file is empty, so it is not this installation's"
            " (restore it from the backup; nothing was changed)",
            code="db_empty",
            path=str(path),
        )
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
        with closing(conn):
            return _read(conn, path)
    except sqlite3.OperationalError as exc:  # cannot open it (a read-only data folder...), busy
        raise storage_error(path, exc) from None
    except sqlite3.DatabaseError as exc:  # not an SQLite file
        raise _foreign(path, str(exc)) from None


def _read(conn: sqlite3.Connection, path: Path) -> Store:
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('migrations', 'meta', 'audit')"
        )
    }
    if len(tables) != 3:
        raise _foreign(path, "no callrec tables")
    recorded = {
        _META[k]: v
        for k, v in conn.execute(f"SELECT key, value FROM meta WHERE key IN ({_MARKS})", list(_META))
    }
    first = conn.execute(
        "SELECT seq, ts, actor, action, subject, detail, mac FROM audit WHERE seq = 1"
    ).fetchone()
    return Store(recorded, tuple(first) if first else None)


def _foreign(path: Path, why: str) -> StorageError:
    return StorageError(
        f"{path}: not a callrec database ({why}); nothing was changed", code="db_foreign", path=str(path)
    )


def check(store: Store, key_files: Mapping[str, bytes], keys_dir: Path, database: Path) -> None:
    """Refuse key files that are not the ones this database was made with, naming which."""
    if not store.fingerprints:  # made before fingerprints: the audit key must open its chain
        if store.first_entry and not opens_chain(key_files["audit"], store.first_entry):
            raise _mismatch("audit", keys_dir)
        return
    found = {name: keys.fingerprint(key_files[name]) for name in keys.KEY_NAMES}
    wrong = [name for name in keys.KEY_NAMES if store.fingerprints.get(name) != found[name]]
    if wrong and sorted(found.values()) == sorted(store.fingerprints.values()):
        paths = " / ".join(str(keys.key_path(keys_dir, name)) for name in wrong)
        raise KeyFileError(
            f"{paths}: the key files are swapped (put each back under its own"
            " name); nothing was checked or written",
            code="keys_swapped",
            path=paths,
        )
    if len(wrong) == len(keys.KEY_NAMES):
        raise StorageError(
            f"{database}: the database belongs to another installation (neither"
            " key file is the one it was made with); nothing was changed",
            code="db_other_installation",
            path=str(database),
        )
    if wrong:
        raise _mismatch(wrong[0], keys_dir)


def _mismatch(name: str, keys_dir: Path) -> KeyFileError:
    path = keys.key_path(keys_dir, name)
    return KeyFileError(
        f"{path}: not the key file this database was made with (put the right"
        " one back from the backup); nothing was checked or written",
        code="key_mismatch",
        path=str(path),
        key=name,
    )


async def record(
    db: Database, audit: AuditLog, clock: Clock, key_files: Mapping[str, bytes], *, adopted: bool
) -> None:
    """Keep the keys' fingerprints in a database that has none: a new one, or (`adopted`, which
    the audit log records) one made before fingerprints."""
    async with db.transaction() as conn:
        cur = await conn.execute(f"SELECT count(*) FROM meta WHERE key IN ({_MARKS})", list(_META))
        row = await cur.fetchone()
        assert row is not None  # count(*) has a row
        if row[0]:
            return  # another process recorded them first
        await conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [(f"key.{name}", keys.fingerprint(key_files[name])) for name in keys.KEY_NAMES],
        )
        if adopted:
            await audit.append(
                conn,
                at=clock.now(),
                actor=SYSTEM,
                action=Action.STORE_ADOPTED,
                subject=str(db.path),
                detail={"keys": list(keys.KEY_NAMES)},
            )
