"""A purge never leaves the spool: a day folder replaced by a symlink, a file replaced by another
of a different size or by something that is not a file, is kept and the purge says why (issue 11,
item 2)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from retention_support import make_calls, manager, operator, states

from services.duties import Duty
from services.errors import StorageError
from services.workspace import Workspace


async def issue_purge(ws: Workspace) -> int:
    return (await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))).id


async def test_a_day_folder_replaced_by_a_symlink_is_not_followed(ws: Workspace, spool: Path,
                                                                 tmp_path: Path) -> None:
    old, _ = make_calls(spool, expired=3)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    assert plan.count == 3
    # The day folder of the first recording becomes a symlink to an unrelated folder holding a
    # file of the same name (and size).
    day = old[0].parent
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(day, elsewhere)
    shutil.rmtree(day)
    day.symlink_to(elsewhere, target_is_directory=True)
    outside = {p.name: p.read_bytes() for p in elsewhere.iterdir()}

    with pytest.raises(StorageError, match="symbolic link"):
        await ws.purge.execute(await operator(ws), plan, typed_count=3)
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == outside  # nothing deleted there
    st = await states(ws)
    assert st[old[0].relative_to(spool).as_posix()] != "purged"  # not recorded as deleted
    assert (await ws.audit.verify()).ok


async def test_a_file_not_the_indexed_one_is_kept(ws: Workspace, spool: Path) -> None:
    old, _ = make_calls(spool, expired=2)
    await ws.indexer.scan()
    plan = await ws.purge.plan(await issue_purge(ws))
    victim = old[0]
    victim.write_bytes(victim.read_bytes() + b"another recording now")  # replaced, other size
    replaced = victim.read_bytes()
    other = old[1]
    other.unlink()
    os.mkfifo(other)  # not a file any more

    with pytest.raises(StorageError, match="kept"):
        await ws.purge.execute(await operator(ws), plan, typed_count=2)
    assert victim.read_bytes() == replaced
    assert stat.S_ISFIFO(os.lstat(other).st_mode)
    st = await states(ws)
    assert st[victim.relative_to(spool).as_posix()] != "purged"

