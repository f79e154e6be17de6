"""Two purges at once (two consoles, or a console and the CLI): one runs, the other is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from console.exits import Exit
from services.access.duties import Duty
from services.core.errors import Conflict
from services.core.lease import Lease
from services.instructions.store import Instruction
from services.workspace import Workspace
from tests.support.faults import start_cli
from tests.support.purge import check_agreement, start_purge, wait_for
from tests.support.retention import files_on_disk, make_calls, manager
from tests.support.workspace import CliRunner


async def paused_purge(
    ws: Workspace, spool: Path, tmp_path: Path
) -> tuple[Instruction, Instruction, Path, subprocess.Popen[str]]:
    """Ten expired calls and two purge instructions; the first purge runs in another process,
    stopped at its testpoint after marking a batch until `flag` is removed."""
    make_calls(spool, expired=10)
    await ws.indexer.scan()
    boss = await manager(ws, Duty.ISSUE_INSTRUCTION)
    first = await ws.instructions.issue_purge(boss)
    second = await ws.instructions.issue_purge(boss)
    flag = tmp_path / "paused"
    proc = start_purge(ws.config.source, str(first.id), "after_mark", flag)  # type: ignore[arg-type]
    wait_for(flag, proc)
    return first, second, flag, proc


async def test_a_second_purge_is_refused_while_one_runs(
    ws: Workspace, spool: Path, tmp_path: Path, cli: CliRunner
) -> None:
    first, second, flag, proc = await paused_purge(ws, spool, tmp_path)
    try:
        for ref in (second.id, first.id):
            other = cli("purge", str(ref), "--yes", "--pin-stdin", input="2222\n")
            assert other.returncode == Exit.REFUSED
            assert f"another purge is running (process {proc.pid})" in other.stderr
            assert other.stderr.count("\n") == 1
        # Another command meanwhile (its start-up reconcile) leaves the running purge's calls alone.
        cli("index", check=True)
        assert len(await ws.purge.journal.pending_ids()) == 4
        assert (await ws.purge.reconcile()).busy
    finally:
        flag.unlink()  # let the first purge go on
    proc.wait(timeout=60)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err
    assert "deleted 10 recordings" in out
    assert (await ws.instructions.get(second.id)).state == "issued"
    await check_agreement(ws, spool, set())
    assert files_on_disk(spool) == set()


async def test_two_purges_started_together_delete_once(ws: Workspace, spool: Path) -> None:
    make_calls(spool, expired=30)
    await ws.indexer.scan()
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    args = ("--lang", "en", "purge", str(ins.id), "--yes", "--pin-stdin", "--json")
    procs = [start_cli(ws.config.source, *args, stdin="2222\n") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, Exit.REFUSED], results
    ok = next(out for (out, _), p in zip(results, procs, strict=True) if p.returncode == 0)
    refused = next(err for (_, err), p in zip(results, procs, strict=True) if p.returncode == Exit.REFUSED)
    assert json.loads(ok)["deleted"] == 30
    assert any(why in refused for why in ("another purge is running", "is in_progress", "is done"))
    await check_agreement(ws, spool, set())
    assert await ws.db.scalar("SELECT count(*) FROM purge_runs") == 1
    assert await ws.db.scalar("SELECT count(*) FROM audit WHERE action = 'purge.deleted'") == 30


async def test_previews_and_plans_never_touch_the_purge_lease(
    ws: Workspace, spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a purge runs in another process, a console can still preview (and the purge is never
    held up by it); planning a second purge is refused at once, naming the running one."""
    _first, second, flag, proc = await paused_purge(ws, spool, tmp_path)
    try:

        def no_lease(self: Lease) -> bool:
            raise AssertionError("a preview or a plan took the purge lease")

        monkeypatch.setattr(Lease, "try_acquire", no_lease)
        preview = await ws.retention.preview()
        assert preview.purgeable.count == 6  # the marked batch is deleted already as far as
        #                                      the index says (tombstones, their deletion pending)
        with pytest.raises(Conflict, match=f"another purge is running \\(process {proc.pid}\\)"):
            await ws.purge.plan(second.id)
        monkeypatch.undo()
    finally:
        flag.unlink()
    proc.wait(timeout=60)
    assert proc.returncode == 0
    plan = await ws.purge.plan(second.id)  # the run is over: nothing left to refuse for
    assert plan.count == 0
