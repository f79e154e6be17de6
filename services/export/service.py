"""Executing an export instruction (第3条6, 第4条2-3, 第5条): plan, confirm, write, verify, submit.

The operator's face calls `prepare` (checks duties, the instruction, the calls, the medium and the
destination; writes nothing) and shows the plan for confirmation, then `run` with a progress
callback and a cancel token. `run` moves the instruction to in progress, writes every volume with
each recording hashed as it is written, reads every volume back, and marks the instruction
submitted with its 提出書 kept. Any failure or cancellation removes what was written, returns the
instruction to issued and is audited. An export whose process died is found by its lease and
cleaned up the same way (`recover_interrupted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pycdlib.pycdlibexception import PyCdlibException

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.calls import Call, CallState, CallStore
from services.core import units
from services.core.clock import Clock, local_day, to_epoch
from services.core.config import Config
from services.core.db import Database
from services.core.errors import CallrecError, Conflict, DestinationError, NeedsSplit, NotFound, StorageError
from services.core.lease import Lease
from services.core.text import visible
from services.export import destination, forms, writer
from services.export.media import MEDIA_SPECS, MediumSpec
from services.export.plan import Documents, Target, TargetKind, Volume, plan_volumes, volumes_for
from services.export.progress import CANCELLED, Cancelled, Meter, ProgressCallback
from services.export.records import (
    RECORD_COLUMNS,
    ExportPlan,
    ExportRecord,
    MediumRecord,
    load_record,
)
from services.export.writer import ChangeMedium
from services.instructions.store import Instruction, Instructions, Kind, State
from services.jobs import Cancelled as JobCancelled
from services.jobs import CancelToken

T = TypeVar("T")

SOFTWARE = "callrec 0.1.0"


class Exports:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        calls: CallStore,
        instructions: Instructions,
        config: Config,
        media_specs: dict[str, MediumSpec] | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.calls = calls
        self.instructions = instructions
        self.config = config
        self.media_specs = media_specs or MEDIA_SPECS
        # One thread does all the blocking work of exports, one at a time: the image layout, the
        # writing, the cleanup. (Memory freed there is reused there, not spread over threads.)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="callrec-export")

    async def _blocking(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, func, *args)

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    # -- 様式第1号 --------------------------------------------------------------------------------

    async def form1(self, ins: Instruction, *, html: bool = False) -> str:
        """An export instruction's 様式第1号: as kept when an upgrade changed its calls' parties,
        else from the calls as indexed."""
        kept = await self.db.fetchone(
            "SELECT form_text, form_html FROM issued_forms WHERE instruction_id = ?", (ins.id,)
        )
        if kept is not None:
            return str(kept[1] if html else kept[0])
        calls = await self.calls.get_many(list(ins.call_ids)) if ins.call_ids else []
        ctx = forms.FormContext(ins, calls, self.config.centre, self.config.tz)
        return forms.form1_html(ctx) if html else forms.form1_text(ctx)

    async def rendered_form1(self, instruction_id: int) -> tuple[str, str]:
        """(text, page) of an instruction's 様式第1号 as it reads now (services/indexing/rederive.py)."""
        ins = await self.instructions.get(instruction_id)
        return await self.form1(ins), await self.form1(ins, html=True)

    # -- what there is to do -------------------------------------------------------------------

    async def pending(self) -> list[Instruction]:
        """Open export instructions, oldest first: what the operator has to execute."""
        return await self.instructions.list(kind=Kind.EXPORT, open_only=True)

    def target(
        self, *, out: str | None = None, device: str | None = None, folder: str | None = None
    ) -> Target:
        """The destination from exactly one of: an image file, a device ("" = the configured one),
        a folder."""
        given = [x for x in (out, device, folder) if x is not None]
        if len(given) != 1:
            raise DestinationError(
                "give exactly one destination: an image file, a device or a folder", code="destination_choice"
            )
        if out is not None:
            return Target(TargetKind.IMAGE, self._outside_our_folders(out))
        if folder is not None:
            return Target(TargetKind.FOLDER, self._outside_our_folders(folder))
        dev = device or self.config.media_device
        if dev.startswith("stdio:"):
            dev = "stdio:" + self._outside_our_folders(dev.removeprefix("stdio:"))
        return Target(TargetKind.DEVICE, dev)

    def _outside_our_folders(self, given: str) -> str:
        """An absolute destination, refused when it is, by its real path, inside the spool (the
        next index would take the copies for new calls, and a purge would delete them) or the
        data folder."""
        path = Path(given).expanduser().absolute()
        real = Path(os.path.realpath(path))
        for name, folder in (("spool", self.config.spool), ("data", self.config.data)):
            if real.is_relative_to(os.path.realpath(folder)):
                raise DestinationError(
                    f"{visible(str(path))}: inside the {name} folder ({visible(str(folder))});"
                    " output data goes elsewhere",
                    code="destination_inside",
                    path=str(path),
                    folder=str(folder),
                    which=name,
                )
        return str(path)

    # -- planning --------------------------------------------------------------------------------

    async def prepare(
        self,
        actor: Actor,
        ref: str | int,
        target: Target,
        *,
        split: bool = False,
        can_change_medium: bool = False,
    ) -> ExportPlan:
        """Everything checked, nothing written: the plan to confirm (calls, medium, size)."""
        actor.require(Duty.EXECUTE_INSTRUCTION)
        await self.recover_interrupted()
        ins = await self.instructions.get(ref)
        self._check_executable(ins)
        medium = self._medium(ins)
        self._check_target_fits_medium(medium, target)
        calls, described = await self._calls_of(ins)
        docs = self._documents(
            ins, calls, self.clock.now(), "0:" + "0" * 64, {"id": 0}, is_disc=medium.is_disc
        )
        capacity = medium.capacity if medium.is_disc else None
        volumes = [v.outline() for v in await self._blocking(plan_volumes, docs, target, capacity)]
        if len(volumes) > 1 and not split:
            assert capacity is not None
            raise NeedsSplit(
                f"the export needs {units.size(sum(v.size for v in volumes))} on {medium.label}, which"
                f" holds {units.size(capacity)} per disc: use --split to write {len(volumes)} discs"
                f" ({len(volumes)} × {medium.label}), or ask the manager for a larger medium",
                code="needs_split",
                needed=sum(v.size for v in volumes),
                capacity=capacity,
                volumes=len(volumes),
            )
        if (
            len(volumes) > 1
            and target.kind is TargetKind.DEVICE
            and not can_change_medium
            and "{n}" not in target.location
        ):
            raise DestinationError(
                f"{len(volumes)} discs must be changed in the drive one after the other:"
                " run this where someone can change them",
                code="needs_medium_change",
            )
        free = await self._blocking(self._check_destination, target, volumes)
        return ExportPlan(ins, tuple(calls), target, medium, capacity, free, tuple(volumes), described)

    def _check_executable(self, ins: Instruction) -> None:
        if ins.kind != Kind.EXPORT:
            raise CallrecError(
                f"instruction {ins.number} is not an export instruction", code="not_export", number=ins.number
            )
        if ins.state == State.IN_PROGRESS:
            raise Conflict(
                f"instruction {ins.number} is being executed already",
                code="instruction_running",
                number=ins.number,
            )
        if ins.state != State.ISSUED:
            raise Conflict(
                f"instruction {ins.number} is {ins.state}: only an open instruction is executed (第3条6)",
                code="instruction_not_open",
                number=ins.number,
                state=ins.state,
            )

    def _medium(self, ins: Instruction) -> MediumSpec:
        spec = self.media_specs.get(ins.medium or "")
        if spec is None:
            raise CallrecError(f"instruction {ins.number} names no known medium", code="bad_medium")
        return spec

    def _check_target_fits_medium(self, medium: MediumSpec, target: Target) -> None:
        if medium.is_disc and target.kind is TargetKind.FOLDER:
            raise DestinationError(
                f"the instruction names a {medium.label}: write an image (--out) or"
                " burn it (--device), not a folder",
                code="target_medium",
            )
        if not medium.is_disc and target.kind is not TargetKind.FOLDER:
            raise DestinationError(
                "the instruction names a USB medium: write to its folder (--dir)", code="target_medium"
            )

    async def _calls_of(self, ins: Instruction) -> tuple[list[Call], bool]:
        described = ins.described
        if described is not None:
            ids = await self.instructions.resolve_described(ins)
            if not ids:
                raise NotFound(
                    f"no call in the index matches the description of {ins.number}",
                    code="no_match",
                    number=ins.number,
                )
        else:
            ids = list(ins.call_ids)
        calls = await self.calls.get_many(ids)
        for c in calls:
            if c.state != CallState.COMPLETE or not c.sha256:
                raise Conflict(
                    f"call {c.id} is {c.state}: only complete recordings are exported",
                    code="call_not_complete",
                    call_id=c.id,
                    state=c.state,
                )
        return calls, described is not None

    def _documents(
        self,
        ins: Instruction,
        calls: Sequence[Call],
        now: datetime,
        head: str,
        export: dict[str, Any],
        *,
        is_disc: bool,
    ) -> Documents:
        written_on = local_day(now)  # the day 第4条6(2) counts from: Japan's
        return Documents(
            ins,
            tuple(calls),
            self.config.centre,
            self.config.tz,
            written_on,
            head,
            export,
            is_disc,
            self.config.spool,
        )

    def _check_destination(self, target: Target, volumes: Sequence[Volume]) -> int | None:
        """Refuse a destination that is missing, read-only, taken or too small; return the bytes
        free there (None for a drive). Of several discs only the one in the drive can be checked
        now; each next one is checked when it is put in."""
        if target.kind is TargetKind.DEVICE:
            scratch = self.config.exports_dir
            destination.writable_folder(scratch)
            destination.check_room(scratch, max(v.size for v in volumes))
            for v in volumes if "{n}" in target.location else volumes[:1]:
                writer.check_medium(v.location, v.size)
            return None
        if target.kind is TargetKind.IMAGE:
            folder = Path(target.location).parent
            need = sum(v.size for v in volumes)
        else:
            folder = Path(target.location)
            block = destination.block_size(folder) if folder.is_dir() else 4096
            need = sum(-(-size // block) * block for v in volumes for size in v.file_sizes)
            need += destination.DIR_ALLOWANCE * len(volumes)
        destination.writable_folder(folder)
        for v in volumes:
            destination.absent(Path(v.location))
        destination.check_room(folder, need)
        return destination.free_bytes(folder)

    # -- execution -------------------------------------------------------------------------------

    async def run(
        self,
        actor: Actor,
        plan: ExportPlan,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        change_medium: ChangeMedium | None = None,
    ) -> ExportRecord:
        """Write, verify and submit. Progress is reported on the event loop's thread."""
        actor.require(Duty.EXECUTE_INSTRUCTION)
        cancel = cancel or CancelToken()
        now = self.clock.now()
        await self.audit.check_clock(now)
        ins = await self.instructions.get(plan.instruction.id)
        self._check_executable(ins)
        calls, described = await self._calls_of(ins)
        if [(c.id, c.sha256, c.size) for c in calls] != [(c.id, c.sha256, c.size) for c in plan.calls]:
            raise Conflict(
                f"the calls of {ins.number} changed since the plan was made; look again",
                code="plan_stale",
                number=ins.number,
            )
        await self._blocking(self._check_destination, plan.target, plan.volumes)
        lease = Lease(self.config.exports_dir / f"export-{ins.id}.lock")
        if not lease.try_acquire():
            raise Conflict(
                f"instruction {ins.number} is being executed elsewhere",
                code="instruction_running",
                number=ins.number,
            )
        try:
            return await self._run_leased(
                actor, plan, ins, calls, described, now, cancel, progress, change_medium
            )
        finally:
            lease.release()

    async def _run_leased(
        self,
        actor: Actor,
        plan: ExportPlan,
        ins: Instruction,
        calls: list[Call],
        described: bool,
        now: datetime,
        cancel: CancelToken,
        progress: ProgressCallback | None,
        change_medium: ChangeMedium | None,
    ) -> ExportRecord:
        loop = asyncio.get_running_loop()
        target = plan.target
        outputs = writer.outputs(target, plan.volumes)
        async with self.db.transaction() as conn:
            await self.instructions.transition(
                conn,
                ins,
                State.IN_PROGRESS,
                actor.role.value,
                Action.INSTRUCTION_STARTED,
                {"target": target.kind.value, "destination": target.location},
            )
            if described:
                await self.instructions.set_calls(conn, ins, [c.id for c in calls])
            cur = await conn.execute(
                "INSERT INTO exports (instruction_id, state, target, destination, medium, volumes,"
                " calls, bytes, started_at, started_by, outputs) VALUES (?, 'running', ?, ?, ?, ?,"
                " ?, ?, ?, ?, ?)",
                (
                    ins.id,
                    target.kind.value,
                    target.location,
                    plan.medium.code,
                    len(plan.volumes),
                    len(calls),
                    plan.recordings_bytes,
                    to_epoch(now),
                    actor.role.value,
                    json.dumps(outputs),
                ),
            )
            export_id = cur.lastrowid
            assert export_id is not None
            head = await self.audit.append(
                conn,
                at=now,
                actor=actor.role.value,
                action=Action.EXPORT_STARTED,
                subject=ins.number,
                detail={
                    "export": export_id,
                    "target": target.kind.value,
                    "destination": target.location,
                    "medium": plan.medium.code,
                    "volumes": len(plan.volumes),
                    "calls": [c.id for c in calls],
                    "bytes": plan.recordings_bytes,
                },
            )
        running = replace(ins, state=State.IN_PROGRESS.value)
        export_info = {
            "id": export_id,
            "target": target.kind.value,
            "medium": plan.medium.code,
            "started_at": now.isoformat(timespec="seconds"),
            "executed_by": actor.role.value,
            "software": SOFTWARE,
        }
        try:
            docs = self._documents(running, calls, now, str(head), export_info, is_disc=plan.medium.is_disc)
            groups = [list(v.calls) for v in plan.volumes]
            volumes = await self._blocking(volumes_for, docs, target, groups)
            limit = plan.capacity
            for v in volumes:
                if limit is not None and v.size > limit:
                    raise CallrecError(
                        f"volume {v.seq} came to {units.size(v.size)}, more than a"
                        f" {plan.medium.label} holds ({units.size(limit)})",
                        code="medium_overflow",
                    )

            def report(p: Any) -> None:
                if progress is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(progress, p)

            meter = Meter(writer.work_bytes(target, volumes), report if progress else None, cancel)
            media = await self._in_thread(
                lambda: writer.write_volumes(
                    export_id=export_id,
                    target=target,
                    volumes=volumes,
                    meter=meter,
                    scratch=self.config.exports_dir,
                    clock=self.clock,
                    loop=loop,
                    change_medium=change_medium,
                ),
                cancel,
            )
        except BaseException as exc:
            await self._abort(export_id, running, outputs, exc, actor.role.value)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                raise
            raise self._one_line(exc) from exc
        return await self._finish(export_id, running, docs, calls, media, actor.role.value)

    async def _in_thread(self, work: Callable[[], Any], cancel: CancelToken) -> Any:
        """Run blocking work in a thread; if the awaiting task is cancelled, stop the work and
        wait for it to stop before going on (so cleanup never races the writer)."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._worker, work)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancel.cancel()
            with contextlib.suppress(BaseException):  # the cancellation is what is reported
                await fut
            raise

    async def _finish(
        self,
        export_id: int,
        ins: Instruction,
        docs: Documents,
        calls: list[Call],
        media: list[MediumRecord],
        actor: str,
    ) -> ExportRecord:
        count = len(media)
        note = f"{self._medium(ins).label} {count}枚" if count > 1 else ""
        ctx = forms.FormContext(ins, calls, docs.centre, docs.tz, docs.written_on, note)
        # Kept compressed: the forms of a large export are megabytes of Japanese text.
        text = zlib.compress(forms.form2_text(ctx).encode())
        page = zlib.compress(forms.form2_html(ctx).encode())
        at = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE exports SET state = 'finished', finished_at = ?, written_on = ?,"
                " audit_head = ?, form_text = ?, form_html = ?, outputs = '[]' WHERE id = ?",
                (to_epoch(at), docs.written_on.isoformat(), docs.audit_head, text, page, export_id),
            )
            await conn.executemany(
                "INSERT INTO media (export_id, seq, count, label, location, size, files, calls,"
                " image_sha256, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        export_id,
                        m.seq,
                        m.count,
                        m.label,
                        m.location,
                        m.size,
                        m.files,
                        m.calls,
                        m.image_sha256,
                        to_epoch(m.written_at),
                    )
                    for m in media
                ],
            )
            await self.instructions.transition(
                conn,
                ins,
                State.SUBMITTED,
                actor,
                Action.INSTRUCTION_SUBMITTED,
                {"export": export_id, "media": count},
            )
            await self.audit.append(
                conn,
                at=at,
                actor=actor,
                action=Action.EXPORT_FINISHED,
                subject=ins.number,
                detail={
                    "export": export_id,
                    "media": [m.to_json() for m in media],
                    "written_on": docs.written_on.isoformat(),
                    "kept_through": docs.kept_through.isoformat(),
                },
            )
        return await self.get(export_id, fresh=True)

    async def _abort(
        self, export_id: int, ins: Instruction, outputs: list[str], exc: BaseException, actor: str
    ) -> None:
        """Remove what was written, record why, and give the instruction back (issued)."""
        cancelled = isinstance(exc, JobCancelled | asyncio.CancelledError | KeyboardInterrupt)
        removal = [
            *outputs,
            *(str(p) for p in self.config.exports_dir.glob(f".export-{export_id}-*.iso.partial")),
        ]
        await asyncio.shield(self._blocking(writer.remove_all, removal))
        error = self._one_line(exc)
        detail: dict[str, Any] = {"export": export_id, "code": error.code, "reason": error.message}
        for key in ("call_id", "expected", "actual", "path"):
            if key in error.params:
                detail[key] = error.params[key]
        await asyncio.shield(
            self._record_end(
                export_id,
                ins,
                "cancelled" if cancelled else "failed",
                Action.EXPORT_CANCELLED if cancelled else Action.EXPORT_FAILED,
                detail,
                actor,
            )
        )

    async def _record_end(
        self, export_id: int, ins: Instruction, state: str, action: str, detail: dict[str, Any], actor: str
    ) -> None:
        at = self.clock.now()
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE exports SET state = ?, finished_at = ?, error = ?, outputs = '[]' WHERE id = ?",
                (state, to_epoch(at), detail.get("reason", ""), export_id),
            )
            await self.instructions.transition(
                conn, ins, State.ISSUED, actor, Action.INSTRUCTION_REOPENED, {"export": export_id}
            )
            await self.audit.append(
                conn, at=at, actor=actor, action=action, subject=ins.number, detail=detail
            )

    @staticmethod
    def _one_line(exc: BaseException) -> CallrecError:
        if isinstance(exc, Cancelled):
            return exc
        if isinstance(exc, JobCancelled | asyncio.CancelledError | KeyboardInterrupt):
            return Cancelled(CANCELLED)
        if isinstance(exc, CallrecError):
            return exc
        if isinstance(exc, OSError):
            return destination.storage_error(exc, exc.filename or "the destination")
        if isinstance(exc, PyCdlibException):
            return CallrecError(f"the image could not be built: {exc}", code="image_failed")
        return CallrecError(f"the export failed: {type(exc).__name__}: {exc}", code="export_failed")

    async def recover_interrupted(self) -> int:
        """Exports left running by a process that died: clean up, reopen, audit. Returns how many."""
        rows = await self.db.fetchall("SELECT * FROM exports WHERE state = 'running'")
        recovered = 0
        for row in rows:
            lease = Lease(self.config.exports_dir / f"export-{row['instruction_id']}.lock")
            if not lease.try_acquire():
                continue  # still running in another process
            try:
                ins = await self.instructions.get(row["instruction_id"])
                outputs = [
                    *json.loads(row["outputs"]),
                    *(str(p) for p in self.config.exports_dir.glob(f".export-{row['id']}-*.iso.partial")),
                ]
                await self._blocking(writer.remove_all, outputs)
                at = self.clock.now()
                detail = {
                    "export": row["id"],
                    "code": "export_interrupted",
                    "reason": "the export's process stopped before it finished",
                }
                async with self.db.transaction() as conn:
                    cur = await conn.execute(
                        "UPDATE exports SET state = 'failed', finished_at = ?, error = ?,"
                        " outputs = '[]' WHERE id = ? AND state = 'running'",
                        (to_epoch(at), detail["reason"], row["id"]),
                    )
                    if cur.rowcount != 1:
                        continue
                    if ins.state == State.IN_PROGRESS:
                        await self.instructions.transition(
                            conn, ins, State.ISSUED, "system", Action.INSTRUCTION_REOPENED, detail
                        )
                    await self.audit.append(
                        conn,
                        at=at,
                        actor="system",
                        action=Action.EXPORT_FAILED,
                        subject=ins.number,
                        detail=detail,
                    )
                recovered += 1
            finally:
                lease.release()
        return recovered

    # -- what was done ---------------------------------------------------------------------------

    async def get(self, export_id: int, *, fresh: bool = False) -> ExportRecord:
        """`fresh` right after this process wrote it (services/core/db.py)."""
        row = await self.db.fetchone(
            f"SELECT {RECORD_COLUMNS} FROM exports WHERE id = ?", (export_id,), fresh=fresh
        )
        if row is None:
            raise NotFound(f"no export {export_id}", code="export_unknown")
        return await self._load(row, fresh=fresh)

    async def _load(self, row: Any, *, fresh: bool = False) -> ExportRecord:
        media = await self.db.fetchall(
            "SELECT * FROM media WHERE export_id = ? ORDER BY seq", (row["id"],), fresh=fresh
        )
        return load_record(row, media, self.config.tz)

    async def history(self, ref: str | int) -> list[ExportRecord]:
        ins = await self.instructions.get(ref)
        rows = await self.db.fetchall(
            f"SELECT {RECORD_COLUMNS} FROM exports WHERE instruction_id = ? ORDER BY id", (ins.id,)
        )
        return [await self._load(r) for r in rows]

    async def submitted(self, ref: str | int) -> ExportRecord:
        """The finished export of an instruction: its media and its 提出書 (様式第2号)."""
        ins = await self.instructions.get(ref)
        row = await self.db.fetchone(
            f"SELECT {RECORD_COLUMNS} FROM exports WHERE instruction_id = ? AND state = 'finished'"
            " ORDER BY id DESC LIMIT 1",
            (ins.id,),
        )
        if row is None:
            raise NotFound(
                f"instruction {ins.number} has no finished export yet",
                code="not_submitted",
                number=ins.number,
            )
        return await self._load(row)

    async def submission_form(self, ref: str | int, *, html: bool = False) -> str:
        """The 提出書 (様式第2号) as submitted with the output data, to print again."""
        record = await self.submitted(ref)
        column = "form_html" if html else "form_text"
        data = await self.db.scalar(f"SELECT {column} FROM exports WHERE id = ?", (record.id,))
        return zlib.decompress(data).decode() if data else ""

    def save_form(self, ins: Instruction, form: str, page: str) -> Path:
        """Write a form's print-ready A4 page (`form`: "form1", "form2") into the data folder's
        forms: NUMBER-FORM.html."""
        path = self.config.data / "forms" / f"{ins.number}-{form}.html"
        try:
            path.parent.mkdir(exist_ok=True)
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise StorageError(f"{exc.filename}: {exc.strerror}", path=str(exc.filename)) from None
        return path
