"""SQLite through aiosqlite: WAL, forward migrations, one serialised writer per connection.

Each Database holds two connections: one for writes, whose transactions are serialised by a lock so
that concurrent tasks never share one, and one for reads, which in WAL mode sees committed data only
(a read that must see this process's own latest commit asks for a `fresh` one, made on the writer).
Other processes (a second console, the CLI) wait on busy_timeout instead of failing.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from services.core.errors import StorageError
from services.core.schema import MIGRATIONS

T = TypeVar("T")

BUSY_TIMEOUT_MS = 15000


async def _open(path: Path, *, readonly: bool = False) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
        else:
            await conn.execute("PRAGMA query_only = ON")
    except BaseException:
        await conn.close()  # else its worker thread keeps the process alive
        raise
    return conn


class Database:
    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, create: bool = False) -> Database:
        if not create and not path.exists():
            raise StorageError(f"{path}: no database (run `callrec init`)", code="db_missing", path=str(path))
        opened: list[aiosqlite.Connection] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            opened.append(await _open(path))
            await migrate(opened[0])
            opened.append(await _open(path, readonly=True))
        except (sqlite3.Error, OSError) as exc:
            for conn in opened:  # an open connection's thread would keep the process alive
                with suppress(sqlite3.Error, ValueError):
                    await conn.close()
            raise storage_error(path, exc) from exc
        writer, reader = opened
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._lock:
            for conn in (self._reader, self._writer):
                with suppress(sqlite3.Error, ValueError):
                    await conn.close()

    @asynccontextmanager
    async def transaction(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the writer; rolled back on any exception.

        durable: the commit is on disk (the WAL fsynced) before this returns, not merely safe
        from a killed process: for a record that must outlive a power cut because the caller acts
        on it outside the database next (a purge marks calls, then deletes their files)."""
        async with self._lock:
            conn = self._writer
            if durable:
                await conn.execute("PRAGMA synchronous = FULL")
            try:
                try:
                    await _to_the_end(conn.execute("BEGIN IMMEDIATE"))
                except sqlite3.OperationalError as exc:
                    raise _write_error(self.path, exc) from exc
                except asyncio.CancelledError:
                    if conn.in_transaction:  # the BEGIN ran: undo it, or the writer stays in it
                        with suppress(sqlite3.Error):
                            await _to_the_end(conn.execute("ROLLBACK"))
                    raise
                try:
                    yield conn
                    await _to_the_end(conn.execute("COMMIT"))
                except BaseException as exc:
                    if conn.in_transaction:
                        with suppress(sqlite3.Error):
                            await _to_the_end(conn.execute("ROLLBACK"))
                    if isinstance(exc, sqlite3.OperationalError):
                        # Busy past the timeout, read-only, full: one line saying which.
                        raise _write_error(self.path, exc) from exc
                    raise
            finally:
                if durable:
                    with suppress(sqlite3.Error, ValueError):
                        await conn.execute("PRAGMA synchronous = NORMAL")

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *, fresh: bool = False
    ) -> list[Any]:
        """Rows from the reader; `fresh`: see `fetchone`."""
        if fresh:
            async with self._lock, self._writer.execute(sql, params) as cur:
                return list(await cur.fetchall())
        async with self._reader.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = (), *, fresh: bool = False
    ) -> Any:
        """One row from the reader, which may not see a commit just made: a statement of another
        task still stepping on it (a list being fetched) keeps its older snapshot open, and every
        read on that connection shares it. A read that must see what this process has just
        written passes `fresh`: it is made on the writer, between transactions (never inside
        one: the writer's lock is not re-entrant)."""
        if fresh:
            async with self._lock, self._writer.execute(sql, params) as cur:
                return await cur.fetchone()
        async with self._reader.execute(sql, params) as cur:
            return await cur.fetchone()

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def stream(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> AsyncGenerator[Any, None]:
        async with self._reader.execute(sql, params) as cur:
            async for row in cur:
                yield row

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def backup_to(self, target: Path) -> None:
        """An online, consistent copy (SQLite's backup API; safe while others write)."""
        dest = await aiosqlite.connect(target)
        try:
            await self._reader.backup(dest)
        finally:
            await dest.close()

    async def integrity_ok(self) -> bool:
        result: str | None = await self.scalar("PRAGMA integrity_check")
        return result == "ok"


def _write_error(path: Path, exc: sqlite3.OperationalError) -> StorageError:
    """A write that failed: another process holding the database too long, or the data folder."""
    if any(word in str(exc).lower() for word in ("locked", "busy")):
        return StorageError(
            f"{path}: the database is in use by another process (waited"
            f" {BUSY_TIMEOUT_MS / 1000:g} s); try again",
            code="db_busy",
            path=str(path),
        )
    return storage_error(path, exc, doing="cannot write to the database")


def storage_error(path: Path, exc: BaseException, *, doing: str = "cannot open the database") -> StorageError:
    """One line that says what is wrong with the data folder, not just SQLite's words."""
    try:
        st = os.statvfs(path.parent)
        readonly = bool(st.f_flag & os.ST_RDONLY)
        full = st.f_bavail * st.f_frsize < 256 * 1024
    except OSError:
        readonly = full = False
    if readonly or getattr(exc, "errno", None) == errno.EROFS:
        return StorageError(
            f"{path.parent}: the data folder is read-only", code="data_readonly", path=str(path)
        )
    if full or "full" in str(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
        return StorageError(f"{path.parent}: the data folder is full", code="data_full", path=str(path))
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StorageError(f"{path}: {doing}: {reason}", path=str(path))


async def _to_the_end(statement: Awaitable[T]) -> T:
    """Await a statement on the connection's thread; if the task is cancelled meanwhile, let the
    statement finish first (it runs regardless), so the transaction state is known afterwards."""
    future = asyncio.ensure_future(statement)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with suppress(BaseException):
            await future
        raise


async def migrate(conn: aiosqlite.Connection) -> None:
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with conn.execute("SELECT name FROM migrations") as cur:
            done = {row[0] for row in await cur.fetchall()}
        known = [name for name, _ in MIGRATIONS]
        unknown = done - set(known)
        if unknown:
            raise StorageError(
                f"the database is newer than this program (migrations {sorted(unknown)})",
                code="db_newer",
            )
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))
        await conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """Split a script into statements (sqlite3.complete_statement handles trigger bodies)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
