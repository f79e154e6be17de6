"""The purge's fast paths hold to the slow, obvious ones: audit MACs, entry details, the helper
process that deletes the files; and the journal settles what an earlier design left behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.access.audit import GENESIS, Entry, Head, _Chainer, _mac, canonical
from services.access.duties import Duty
from services.core.clock import JST
from services.core.errors import StorageError
from services.retention import deleter as purge_files
from services.retention.deleter import FileDeleter
from services.retention.journal import Marked, deleted_detail
from services.retention.unlinker import after_deletion
from services.workspace import Workspace
from tests.support.purge import check_agreement
from tests.support.retention import files_on_disk, make_calls, manager, operator, states

clean = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ['a"b\\c', "\n\t\x00\x1f", "\u2028\u2029", "日本語", ""]
)
text = clean | st.just("\udcff")  # a lone surrogate (an undecodable file name) too


@settings(max_examples=300, deadline=None)
@given(
    key=st.binary(max_size=100),
    seq=st.integers(1, 2**62),
    ts=text,
    actor=text,
    action=text,
    subject=text,
    detail=text,
)
def test_the_fast_mac_is_the_mac(
    key: bytes, seq: int, ts: str, actor: str, action: str, subject: str, detail: str
) -> None:
    prev = "ab" * 32

    def outcome(fn: Callable[[], str]) -> str:
        try:
            return fn()
        except UnicodeEncodeError as exc:  # a lone surrogate: neither can chain it
            return type(exc).__name__

    assert outcome(lambda: _Chainer(key).mac(prev, seq, ts, actor, action, subject, detail)) == outcome(
        lambda: _mac(key, prev, seq, ts, actor, action, subject, detail)
    )


@settings(max_examples=50, deadline=None)
@given(items=st.lists(st.tuples(clean, clean), max_size=20), actor=clean)
def test_uniform_sealing_makes_the_same_rows(items: list[tuple[str, str]], actor: str) -> None:
    from services.access.audit import AuditLog

    log = AuditLog(None, b"k" * 32)  # type: ignore[arg-type]
    at = datetime(2026, 4, 1, 0, 0, 1, tzinfo=JST)
    head = Head(7, "cd" * 32)
    fast = log.seal_uniform(head, at, actor, "purge.deleted", items)
    slow = log.seal(head, [Entry(at, actor, "purge.deleted", s, d) for s, d in items])
    assert fast == slow
    assert (
        log.seal(Head(0, GENESIS), [Entry(at, "x", "y", "z", {"b": 1, "a": "é"})])[0][0][5]
        == canonical({"a": "é", "b": 1})
        == '{"a":"é","b":1}'
    )


@pytest.mark.parametrize("absent", [False, True])
@pytest.mark.parametrize("reconciled", [False, True])
@pytest.mark.parametrize("number", ["2026-0001", 'odd "number" 日本'])
def test_deleted_details_are_canonical(absent: bool, reconciled: bool, number: str) -> None:
    expected = {"call_id": 12, "instruction": number, "run": 3, "size": 2048}
    if absent:
        expected["absent"] = True
    if reconciled:
        expected["reconciled"] = True
    text = deleted_detail(
        12, json.dumps(number, ensure_ascii=False), 3, 2048, absent=absent, reconciled=reconciled
    )
    assert text == canonical(expected)


@pytest.mark.parametrize("reconciled", [False, True])
def test_the_purges_audit_rows_are_the_ordinary_ones(reconciled: bool) -> None:
    """deleted_rows lays the details out itself, fast: the rows are those AuditLog.seal makes
    of the same entries with their details as mappings."""
    from services.access.audit import AuditLog
    from services.retention.journal import Outcome, Run, deleted_rows

    log = AuditLog(None, b"k" * 32)  # type: ignore[arg-type]
    run = Run(7, 3, '2026-%d "0001"', "operator")
    outcome = Outcome(
        gone=[Marked(1, "a/1.wav", 10), Marked(2, 'a/"2".wav', 20)], absent=[Marked(3, "a/3.wav", 30)]
    )
    at = datetime(2026, 5, 1, 9, 0, tzinfo=JST)
    rows = deleted_rows(log, Head(4, "ef" * 32), run, outcome, at, "operator", reconciled)
    entries = []
    for m in (*outcome.gone, *outcome.absent):
        detail: dict[str, object] = {"call_id": m.id, "instruction": run.number, "run": 7, "size": m.size}
        if m in outcome.absent:
            detail["absent"] = True
        if reconciled:
            detail["reconciled"] = True
        entries.append(Entry(at, "operator", "purge.deleted", m.path, detail))
    assert rows == log.seal(Head(4, "ef" * 32), entries)[0]


def identified(spool: Path, i: int, path: str) -> Marked:
    """A call as a purge marks it: the identity of the file indexed at its path."""
    file = spool / path
    if not file.is_file():
        return Marked(i, path, 1)
    st = file.stat()
    return Marked(
        i,
        path,
        st.st_size,
        st.st_mtime_ns,
        hashlib.sha256(file.read_bytes()).hexdigest(),
        st.st_dev,
        st.st_ino,
    )


async def test_the_helper_deletes_and_answers(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/1.wav", "a/2.wav", "3.wav"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a" / "stuck.wav").mkdir()
    (tmp_path / "a" / "stuck.wav" / "f").write_bytes(b"x")  # not the recording: refused
    marked = [
        identified(tmp_path, i, p)
        for i, p in enumerate(["a/1.wav", "a/gone.wav", "a/stuck.wav", "3.wav", "a/2.wav"])
    ]
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "new.wav").write_bytes(b"x")  # a recording arrived: d is not removed
    (tmp_path / "x.db-wal").write_bytes(b"frames")
    deleter = FileDeleter(tmp_path, journal=tmp_path / "x.db-wal")
    assert await deleter.start()
    try:
        deleter.send(marked[:2])  # two batches handed over at once: answered in order
        deleter.send(marked[2:])
        first = await deleter.receive(marked[:2])
        out = await deleter.receive(marked[2:])
        assert [m.path for m in first.gone] == ["a/1.wav"]
        assert [m.path for m in first.absent] == ["a/gone.wav"]
        assert [m.path for m in out.gone] == ["3.wav", "a/2.wav"]
        assert out.kept == [] and [(m.path, why) for m, why in out.refused] == [
            ("a/stuck.wav", "not_regular")
        ]
        assert (await deleter.delete([])).gone == []
    finally:
        await deleter.close()
    assert not deleter.running
    removed = after_deletion(str(tmp_path), ["a", ""], ["b/c", "d", "a"])
    assert removed == ["b/c"]  # a: a folder files were deleted from now is left to the end
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "a",
        "a/stuck.wav",
        "a/stuck.wav/f",
        "b",
        "d",
        "d/new.wav",
        "x.db-wal",
    ]


async def test_a_purge_without_its_helper_deletes_in_a_thread(
    ws: Workspace, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(purge_files, "HELPER", spool / "no-such-helper.py")
    make_calls(spool, expired=5, current=1)
    await ws.indexer.scan()
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    plan = await ws.purge.plan(ins.id)
    result = await ws.purge.execute(await operator(ws), plan, typed_count=5)
    assert (result.state, result.deleted) == ("finished", 5)
    await check_agreement(ws, spool, files_on_disk(spool))


async def test_the_helper_killed_midway_stops_the_purge_cleanly(
    ws: Workspace, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the helper dies, what it did is read from the disk: the batches it had are settled as
    far as it went, nothing else is deleted, and the instruction is open again."""
    make_calls(spool, expired=12)
    await ws.indexer.scan()
    ws.purge.batch_size = 4
    real_send = FileDeleter.send
    sent: list[list[Marked]] = []

    def send(self: FileDeleter, marked: list[Marked]) -> None:
        sent.append(list(marked))
        if len(sent) == 2:  # killed as the second batch is handed over: it never gets it
            assert self._proc is not None
            os.kill(self._proc.pid, signal.SIGKILL)
        real_send(self, marked)

    monkeypatch.setattr(FileDeleter, "send", send)
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    plan = await ws.purge.plan(ins.id)
    with pytest.raises(StorageError, match="the deleting process"):
        await ws.purge.execute(await operator(ws), plan, typed_count=12)
    st = await states(ws)
    second = {m.path for m in sent[1]}
    assert all(st[p] == "complete" for p in second)  # its files were never touched
    assert list(st.values()).count("purged") <= 4  # the first batch, as far as it went
    await check_agreement(ws, spool, second)
    assert (await ws.instructions.get(ins.id)).state == "issued"


async def test_calls_left_purging_by_the_earlier_design_are_settled(ws: Workspace, spool: Path) -> None:
    """A database from before the journal: a killed purge left calls 'purging' (file deleted or
    not) and its run 'running'. The next start settles them like any other pending batch."""
    old, _ = make_calls(spool, expired=4)
    await ws.indexer.scan()
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    ids = {r["path"]: r["id"] for r in await ws.db.fetchall("SELECT id, path FROM calls")}
    rel = [p.relative_to(spool).as_posix() for p in old]
    async with ws.db.transaction() as conn:
        await conn.execute("UPDATE instructions SET state = 'in_progress' WHERE id = ?", (ins.id,))
        await conn.execute(
            "INSERT INTO purge_runs (instruction_id, state, actor, pid, started_at, grace_days,"
            " planned, planned_bytes) VALUES (?, 'running', 'operator', 1, 0, 0, 4, 0)",
            (ins.id,),
        )
        await conn.execute(
            "UPDATE calls SET state = 'purging', purge_instruction_id = ? WHERE id IN (?, ?)",
            (ins.id, ids[rel[0]], ids[rel[1]]),
        )
    old[0].unlink()  # deleted before the kill; rel[1] was not
    report = await ws.purge.reconcile()
    assert (report.deleted, report.restored) == (1, 1)
    st = await states(ws)
    assert st[rel[0]] == "purged" and st[rel[1]] == "complete"
    tomb = await ws.db.fetchone("SELECT purged_by, purged_at FROM calls WHERE id = ?", (ids[rel[0]],))
    assert tomb["purged_by"] == "operator" and tomb["purged_at"]
    await check_agreement(ws, spool, set(rel[1:]))


async def test_a_pending_call_cannot_be_held(ws: Workspace, spool: Path) -> None:
    """While its deletion is pending the tombstone already stands; a hold is refused, saying so."""
    make_calls(spool, expired=1)
    await ws.indexer.scan()
    call_id = (await ws.db.fetchone("SELECT id FROM calls"))["id"]
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    async with ws.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO purge_runs (id, instruction_id, state, actor, pid,"
            " started_at, grace_days, planned, planned_bytes) VALUES"
            " (9, ?, 'running', 'operator', 1, 0, 0, 1, 0)",
            (ins.id,),
        )
        await conn.execute("UPDATE calls SET state = 'purged' WHERE id = ?", (call_id,))
        await conn.execute(
            "INSERT INTO purge_journal (run_id, calls, marked_at) VALUES (9, ?, 0)", (json.dumps([call_id]),)
        )
    with pytest.raises(Exception, match="being deleted by a purge right now"):
        await ws.holds.set(await manager(ws), call_id, "too late")


def test_the_helper_runs_without_the_project_installed() -> None:
    """It is started with -E -S: the standard library and its own folder only."""
    source = purge_files.HELPER.read_text()
    imports = {
        line.split()[1]
        for line in source.splitlines()
        if line.startswith(("import ", "from ")) and "__future__" not in line
    }
    assert imports <= {
        "errno",
        "hashlib",
        "json",
        "os",
        "stat",
        "sys",
        "time",
        "typing",
        "collections.abc",
        "services.core",
        "beneath",
        "testpoints",
    }  # the standard library only
