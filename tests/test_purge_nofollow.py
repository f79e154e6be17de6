"""A purge never leaves the spool, and deletes a file only while it is the indexed recording
(issue 11, item 2): a day folder replaced by a symlink, a file that is a symlink, another file
under the name, or something that is not a file is kept, the call marked (calls.purge_kept), one
purge.kept entry audited, and the purge goes on with the rest. A file provably the recording by
its bytes (a spool restored from a backup: new inodes and times) is deleted."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from services import status
from services.access.duties import Duty
from services.workspace import Workspace
from tests.support.retention import make_calls, manager, operator, states


async def issue_purge(ws: Workspace) -> int:
    return (await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))).id


def rel(spool: Path, p: Path) -> str:
    return p.relative_to(spool).as_posix()


async def kept_marks(ws: Workspace) -> dict[str, str]:
    rows = await ws.db.fetchall("SELECT path, purge_kept FROM calls WHERE purge_kept IS NOT NULL")
    return {r["path"]: r["purge_kept"] for r in rows}


async def kept_entries(ws: Workspace) -> dict[str, str]:
    rows = await ws.db.fetchall("SELECT subject, detail FROM audit WHERE action = 'purge.kept'")
    return {r["subject"]: json.loads(r["detail"])["reason"] for r in rows}


async def purge_all(ws: Workspace, count: int):  # type: ignore[no-untyped-def]
    plan = await ws.purge.plan(await issue_purge(ws))
    assert plan.count == count
    return await ws.purge.execute(await operator(ws), plan, typed_count=count)


async def test_a_day_folder_replaced_by_a_symlink_is_not_followed(
    ws: Workspace, spool: Path, tmp_path: Path
) -> None:
    old, _ = make_calls(spool, expired=30)
    await ws.indexer.scan()
    # The day folder of the first recording becomes a symlink to an unrelated folder holding
    # files of the same names and sizes.
    day = old[0].parent
    in_day = {rel(spool, p) for p in old if p.parent == day}
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(day, elsewhere)
    shutil.rmtree(day)
    day.symlink_to(elsewhere, target_is_directory=True)
    outside = {p.name: p.read_bytes() for p in elsewhere.iterdir()}

    result = await purge_all(ws, 30)

    assert result.state == "finished" and result.refused == len(in_day)
    assert result.deleted == 30 - len(in_day)
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == outside  # nothing deleted there
    st = await states(ws)
    assert {p for p, s in st.items() if s != "purged"} == in_day  # not recorded as deleted
    assert await kept_marks(ws) == dict.fromkeys(in_day, "symlink")
    assert await kept_entries(ws) == dict.fromkeys(in_day, "symlink")
    assert (await status.flagged_counts(ws.db))[2] == len(in_day)
    assert (await ws.audit.verify()).ok
    today = ws.clock.now().date()
    report = await ws.reports.build(await manager(ws, Duty.REPORT), today, today)
    assert report.sections["anomalies"]["kept_by_purges"] == len(in_day)


async def test_files_that_are_not_the_indexed_ones_are_kept(
    ws: Workspace, spool: Path, tmp_path: Path
) -> None:
    old, _ = make_calls(spool, expired=5)
    await ws.indexer.scan()
    longer, same_size, fifo, link, fine = old
    longer.write_bytes(longer.read_bytes() + b"another recording now")  # another size
    body = same_size.read_bytes()
    same_size.unlink()
    same_size.write_bytes(bytes(b ^ 0xFF for b in body))  # another file, the same size
    fifo.unlink()
    os.mkfifo(fifo)  # not a file any more
    target = tmp_path / "outside.wav"
    shutil.copy(link, target)
    link.unlink()
    link.symlink_to(target)  # the name now points out of the spool, at the same bytes

    result = await purge_all(ws, 5)

    assert result.state == "finished" and result.deleted == 1 and result.refused == 4
    assert not fine.exists()
    assert longer.exists() and same_size.read_bytes() == bytes(b ^ 0xFF for b in body)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and target.exists() and link.is_symlink()
    want = {
        rel(spool, longer): "size",
        rel(spool, same_size): "other_file",
        rel(spool, fifo): "not_regular",
        rel(spool, link): "symlink",
    }
    assert await kept_marks(ws) == want and await kept_entries(ws) == want
    assert {p for p, s in (await states(ws)).items() if s == "purged"} == {rel(spool, fine)}
    assert (await ws.audit.verify()).ok


async def test_a_restored_recording_is_recognised_by_its_bytes(ws: Workspace, spool: Path) -> None:
    """Restored from a backup: a new inode and modification time, the same bytes."""
    old, _ = make_calls(spool, expired=2)
    await ws.indexer.scan()
    for p in old:
        body = p.read_bytes()
        p.unlink()
        p.write_bytes(body)
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))

    result = await purge_all(ws, 2)

    assert result.state == "finished" and result.deleted == 2 and result.refused == 0
    assert not any(p.exists() for p in old)


async def test_calls_indexed_before_identities_are_checked_by_their_bytes(ws: Workspace, spool: Path) -> None:
    """Calls indexed by an earlier release have no device and inode recorded."""
    old, _ = make_calls(spool, expired=2)
    await ws.indexer.scan()
    async with ws.db.transaction() as conn:
        await conn.execute("UPDATE calls SET dev = NULL, ino = NULL")
    same, other = old
    other.write_bytes(bytes(b ^ 0xFF for b in other.read_bytes()))

    result = await purge_all(ws, 2)

    assert result.deleted == 1 and result.refused == 1
    assert not same.exists() and other.exists()
    assert await kept_marks(ws) == {rel(spool, other): "other_file"}
