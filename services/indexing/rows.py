"""What the index already knows about parts of the spool: the lookups the indexer makes, each
served by an index (path, dir) so that none reads the whole calls table at 1,000,000 calls."""

from __future__ import annotations

import json
from collections.abc import Iterable

from services.calls import PRESENT_STATES
from services.core.db import Database
from services.indexing.plan import Known
from services.indexing.writer import json_list, storable

_PRESENT = ", ".join(f"'{s}'" for s in PRESENT_STATES)
_KNOWN = "SELECT id, path, size, mtime_ns, state, sha256 FROM calls"


class IndexRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def known_in(self, rel_dir: str) -> dict[str, Known]:
        """The calls in one folder, by path."""
        rows = await self.db.fetchall(f"{_KNOWN} WHERE dir = ?", (storable(rel_dir),))
        return {r[1]: Known(r[0], r[2], r[3], r[4], r[5]) for r in rows}

    async def known_paths(self, rels: Iterable[str]) -> dict[str, Known]:
        """The calls at these paths, by path."""
        rows = await self.db.fetchall(
            f"{_KNOWN} WHERE path IN (SELECT value FROM json_each(?))", (json_list(rels),)
        )
        return {r[1]: Known(r[0], r[2], r[3], r[4], r[5]) for r in rows}

    async def present_at_or_under(self, paths: list[str]) -> list[tuple[int, str]]:
        """(id, path) of present calls at these paths, or inside them taken as folders."""
        if not paths:
            return []
        exact = await self.db.fetchall(
            f"SELECT id, path FROM calls WHERE path IN (SELECT value FROM json_each(?))"
            f" AND state IN ({_PRESENT})",
            (json_list(paths),),
        )
        found = [(r[0], r[1]) for r in exact]
        matched = {path for _, path in found}
        folders = json_list(p for p in paths if p not in matched)
        if folders != "[]":
            # A folder's own calls, then those of its sub-folders: dir in [f + '/', f + '0').
            rows = await self.db.fetchall(
                f"SELECT c.id, c.path, c.dir, g.value FROM json_each(?1) g JOIN calls c"
                f" ON c.dir = g.value WHERE c.state IN ({_PRESENT})"
                f" UNION ALL SELECT c.id, c.path, c.dir, g.value FROM json_each(?1) g JOIN calls c"
                f" ON c.dir >= g.value || '/' AND c.dir < g.value || '0'"
                f" WHERE c.state IN ({_PRESENT})",
                (folders,),
            )
            found += [(r[0], r[1]) for r in rows if r[2] == r[3] or r[2].startswith(r[3] + "/")]
        return found

    async def present_in_dirs(self, dirs: list[str]) -> list[tuple[int, str]]:
        rows = await self.db.fetchall(
            f"SELECT id, path FROM calls WHERE dir IN (SELECT value FROM json_each(?))"
            f" AND state IN ({_PRESENT})",
            (json.dumps(dirs, ensure_ascii=False),),
        )
        return [(r[0], r[1]) for r in rows]

    async def dirs_under(self, top: str) -> list[str]:
        """The folders the index has calls in, at or under `top` (a skip-scan of calls_dir:
        one index probe per folder, not a read of every call)."""
        if not top:
            rows = await self.db.fetchall(
                "WITH RECURSIVE d(dir) AS (SELECT min(dir) FROM calls UNION ALL"
                " SELECT (SELECT min(dir) FROM calls WHERE dir > d.dir) FROM d"
                " WHERE d.dir IS NOT NULL) SELECT dir FROM d WHERE dir IS NOT NULL"
            )
            return [r[0] for r in rows]
        rows = await self.db.fetchall(
            "WITH RECURSIVE d(dir) AS (SELECT min(dir) FROM calls WHERE dir >= ?1 AND dir < ?2"
            " UNION ALL SELECT (SELECT min(dir) FROM calls WHERE dir > d.dir AND dir < ?2) FROM d"
            " WHERE d.dir IS NOT NULL) SELECT dir FROM d WHERE dir IS NOT NULL",
            (storable(top), storable(top) + "0"),
        )
        return [r[0] for r in rows if r[0] == top or r[0].startswith(top + "/")]

    async def recording(self) -> list[tuple[str, int, int]]:
        """(path, size, mtime_ns) of every call still recording."""
        rows = await self.db.fetchall("SELECT path, size, mtime_ns FROM calls WHERE state = 'recording'")
        return [(r[0], r[1], r[2]) for r in rows]

    async def skipped_paths(self, *, more_than: int) -> list[str]:
        """Every path in the skipped list, or [] when it holds no more than `more_than`."""
        if await self.db.scalar("SELECT count(*) FROM skipped") <= more_than:
            return []
        return [r[0] for r in await self.db.fetchall("SELECT path FROM skipped")]

    async def forget_skipped(self, paths: list[str]) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM skipped WHERE path IN (SELECT value FROM json_each(?))",
                (json.dumps(paths, ensure_ascii=False),),
            )
