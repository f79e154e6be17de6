"""The output-data actions of the console, each one PIN + confirmation + service call:

    issue     manager  様式第1号 from calls picked in the calls view, or described by time and numbers
    cancel    manager  an instruction not yet executed
    execute   operator writes the output data (progress, cancel), 様式第2号 kept
    receive   manager  records receipt: an entry of the output-data register
    extend / dispose   manager, on a register entry
    form1 / form2      the printed forms, on screen and as A4 pages

Call them from a worker (`@work` method of a view): they wait for modals. Duties are checked by the
services (the PIN prompt only offers the roles entitled to the duty); the views show only the keys of
the session's role (`may`), and say why when another role's key is pressed (`entitled`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TypeVar

from console.i18n import t, tr_error
from screens.duty_keys import entitled
from screens.exports.dialogs import FieldsForm, FieldSpec, TextViewer
from screens.host import ConsoleHost
from screens.widgets import text as fmt
from screens.widgets.progress import Job
from services.access import Actor, Duty
from services.core import CallrecError, DestinationError, NeedsSplit, signed_minutes
from services.export import (
    Cancelled,
    CancelToken,
    ExportPlan,
    Progress,
    RegisterEntry,
    Target,
    TargetKind,
    forms,
)
from services.instructions import MEDIA, PURPOSES, Criteria, Instruction, Kind, State, closest_first

T = TypeVar("T")

NOTE_CELLS = 56  # the progress dialog's line: the file name is cut to fit, not wrapped


async def _form(
    app: ConsoleHost, title: str, lines: Sequence[str], fields: list[FieldSpec], error: str = ""
) -> dict[str, str] | None:
    return await app.push_screen_wait(FieldsForm(title, lines, fields, error=error))


def _kept(fields: list[FieldSpec], values: dict[str, str]) -> list[FieldSpec]:
    """The same fields, holding what was typed (asked again after a mistake)."""
    return [replace(f, value=values.get(f.key, f.value)) for f in fields]


async def _ask_until_valid(
    app: ConsoleHost,
    title: str,
    lines: Sequence[str],
    fields: list[FieldSpec],
    parse: Callable[[dict[str, str]], T],
) -> tuple[dict[str, str], T] | None:
    """Ask with the form until `parse` takes what was typed: its complaint (a CallrecError) is said
    on the form, asked again with what was typed kept. The values and what `parse` made of them;
    None when cancelled."""
    error = ""
    while True:
        values = await _form(app, title, lines, fields, error)
        if values is None:
            return None
        try:
            return values, parse(values)
        except CallrecError as exc:
            error, fields = tr_error(exc), _kept(fields, values)


# -- 様式第1号: the manager instructs --------------------------------------------------------------


async def issue(app: ConsoleHost, call_ids: Sequence[int]) -> Instruction | None:
    """An export instruction for the picked calls (or, with none picked, described ones)."""
    if not entitled(app, Duty.ISSUE_INSTRUCTION):
        return None
    ids = sorted(set(call_ids))
    fields = [
        FieldSpec("purpose", "export.issue.purpose", options=[(t(f"purpose.{p}"), p) for p in PURPOSES]),
        FieldSpec("medium", "export.issue.medium", "dvd-r", options=[(t(f"medium.{m}"), m) for m in MEDIA]),
    ]
    if ids:
        shown = ", ".join(str(i) for i in ids[:12]) + (" …" if len(ids) > 12 else "")
        lines = [t("export.issue.calls", n=len(ids), ids=shown)]
    else:
        lines = [t("export.issue.described")]
        fields += [
            FieldSpec("from", "export.issue.from", placeholder=t("export.issue.from_hint")),
            FieldSpec("to", "export.issue.to", placeholder=t("export.issue.to_hint")),
            FieldSpec("city", "export.issue.city", placeholder=t("export.issue.number_hint")),
            FieldSpec("other", "export.issue.other", placeholder=t("export.issue.number_hint")),
        ]
    fields.append(FieldSpec("note", "export.issue.note"))

    def parse(values: dict[str, str]) -> Criteria | None:
        if values["purpose"] not in PURPOSES:
            raise CallrecError("purpose", code="bad_purpose")
        if values["medium"] not in MEDIA:
            raise CallrecError("medium", code="bad_medium")
        return (
            None
            if ids
            else Criteria.parse(
                values["from"], values["to"], city=values["city"], other=values["other"], tz=app.ws.clock.tz
            )
        )

    answer = await _ask_until_valid(app, t("export.issue.title"), lines, fields, parse)
    if answer is None:
        return None
    values, criteria = answer
    actor = await app.ask_pin(Duty.ISSUE_INSTRUCTION, t("export.issue.why"))
    if actor is None:
        return None
    body = [
        t(
            "export.issue.confirm_body",
            purpose=t(f"purpose.{values['purpose']}"),
            medium=t(f"medium.{values['medium']}"),
        ),
        *lines,
    ]
    if criteria is not None:
        body += [f"{label}　{value}" for label, value in forms.describe_criteria(criteria, app.ws.clock.tz)]
    if values["note"].strip():
        body.append(t("export.issue.confirm_note", note=values["note"].strip()))
    if not await app.confirm(t("export.issue.confirm_title"), body):
        return None
    try:
        ins = await app.ws.instructions.issue_export(
            actor,
            purpose=values["purpose"],
            medium=values["medium"],
            call_ids=ids,
            criteria=criteria,
            note=values["note"],
        )
    except CallrecError as exc:
        app.say_error(exc)
        return None
    app.say(t("export.issue.done", number=ins.number))
    return ins


async def cancel(app: ConsoleHost, ins: Instruction) -> bool:
    """Cancel an instruction that has not been executed (export or purge), with a reason."""
    if not entitled(app, Duty.CANCEL_INSTRUCTION):
        return False
    if ins.state == State.IN_PROGRESS:
        # perhaps only because the export running it was killed: recovered as `x` recovers it
        await app.recover_exports()
        ins = await app.ws.instructions.get(ins.id, fresh=True)
    if ins.state != State.ISSUED:
        app.say(
            t("export.cancel.not_cancellable", number=ins.number, state=t(f"ins.state.{ins.state}")),
            severity="warning",
        )
        return False
    what = t(
        "export.cancel.what",
        number=ins.number,
        kind=t(f"ins.kind.{ins.kind}"),
        issued=fmt.moment(ins.issued_at, seconds=False),
    )
    values = await _form(
        app,
        t("export.cancel.title", number=ins.number),
        [what],
        [FieldSpec("reason", "export.cancel.reason", placeholder=t("export.cancel.reason_hint"))],
    )
    if values is None:
        return False
    actor = await app.ask_pin(Duty.CANCEL_INSTRUCTION, t("export.cancel.why", number=ins.number))
    if actor is None:
        return False
    body = [what]
    if values["reason"].strip():
        body.append(t("export.cancel.confirm_reason", reason=values["reason"].strip()))
    if not await app.confirm(
        t("export.cancel.confirm_title", number=ins.number), body, action=t("export.cancel.go"), danger=True
    ):
        return False
    try:
        await app.ws.instructions.cancel(actor, ins.id, values["reason"].strip())
    except CallrecError as exc:
        app.say_error(exc)
        return False
    app.say(t("export.cancel.done", number=ins.number))
    return True


# -- execution: the operator writes the output data -------------------------------------------


def _target_fields(app: ConsoleHost, ins: Instruction) -> list[FieldSpec]:
    if ins.medium == "usb":
        return [FieldSpec("where", "export.run.location", placeholder=t("export.run.folder_hint"))]
    kinds = [
        (t("export.run.device"), TargetKind.DEVICE.value),
        (t("export.run.image"), TargetKind.IMAGE.value),
    ]
    per_kind = {
        TargetKind.DEVICE.value: (app.ws.config.media_device, t("export.run.device_hint")),
        TargetKind.IMAGE.value: ("", t("export.run.image_hint", number=ins.number)),
    }
    return [
        FieldSpec("kind", "export.run.target", TargetKind.DEVICE.value, options=kinds),
        FieldSpec("where", "export.run.location", follows="kind", per_choice=per_kind),
    ]


def _target(app: ConsoleHost, ins: Instruction, values: dict[str, str]) -> Target:
    where = values.get("where", "").strip()
    if not where:
        raise DestinationError("say where the output data goes", code="destination_empty")
    if ins.medium == "usb":
        return app.ws.exports.target(folder=where)
    if values.get("kind") == TargetKind.IMAGE.value:
        return app.ws.exports.target(out=where)
    return app.ws.exports.target(device=where)


def plan_lines(plan: ExportPlan) -> list[str]:
    medium = t(f"medium.{plan.medium.code}")
    lines = [
        t(
            "export.run.confirm_calls" if plan.medium.is_disc else "export.run.confirm_calls_folder",
            n=fmt.count(len(plan.calls)),
            bytes=fmt.size(plan.recordings_bytes),
            medium=medium,
            volumes=len(plan.volumes),
            total=fmt.size(plan.total_bytes),
        ),
        t("export.run.confirm_target", target=fmt.fit_tail(plan.target.location, 48)),
    ]
    if plan.described:
        lines.append(t("export.run.confirm_described"))
    described = plan.instruction.described
    # Described calls closest to the time the manager described first, each with its difference,
    # for the operator to check against the description.
    ranked = closest_first(described, plan.calls) if described else [(c, None) for c in plan.calls]
    for c, off in ranked[:8]:
        # The number the manager described is shown whole (it is in the instruction): the
        # operator checks the calls against it. Any other stays masked.
        shown = described is not None and described.other is not None and (c.other_number == described.other)
        other = fmt.number(c.other_number, masked=not shown, caller=c.caller_id)
        line = f"{c.id:>6}  {c.started_at:%Y-%m-%d %H:%M}  {fmt.fit(fmt.number(c.city_number), 12)}  {other}"
        lines.append(line if off is None else f"{line}  {t('when.difference', minutes=signed_minutes(off))}")
    if len(plan.calls) > 8:
        lines.append(t("ins.detail.more", n=len(plan.calls) - 8))
    return lines


async def _prepare(app: ConsoleHost, actor: Actor, ins: Instruction, target: Target) -> ExportPlan | None:
    """The plan, asking first whether to split an export that needs several discs (None: the
    operator would not). Raises CallrecError for anything else."""
    exports = app.ws.exports
    try:
        return await exports.prepare(actor, ins.id, target, can_change_medium=True)
    except NeedsSplit as exc:
        question = t(
            "export.run.split_body",
            needed=fmt.size(exc.params["needed"]),
            medium=t(f"medium.{ins.medium}"),
            capacity=fmt.size(exc.params["capacity"]),
            volumes=exc.params["volumes"],
        )
        if not await app.confirm(t("export.run.split_title"), [question], action=t("export.run.split_go")):
            return None
    return await exports.prepare(actor, ins.id, target, split=True, can_change_medium=True)


async def _plan(app: ConsoleHost, ins: Instruction) -> tuple[Actor, ExportPlan] | None:
    """Where to, the operator's PIN (asked once), and the plan; a destination that will not do
    is said on the form, which is asked again with what was typed."""
    fields, error = _target_fields(app, ins), ""
    actor: Actor | None = None
    while True:
        values = await _form(app, t("export.run.title", number=ins.number), [], fields, error)
        if values is None:
            return None
        fields = _kept(fields, values)
        try:
            target = _target(app, ins, values)
            if actor is None:
                actor = await app.ask_pin(Duty.EXECUTE_INSTRUCTION, t("export.run.why", number=ins.number))
                if actor is None:
                    return None
            plan = await _prepare(app, actor, ins, target)
        except DestinationError as exc:  # said on the form, asked again
            error = tr_error(exc)
            continue
        except CallrecError as exc:
            app.say_error(exc)
            return None
        return None if plan is None else (actor, plan)


async def execute(app: ConsoleHost, ins: Instruction) -> bool:
    """Write the output data of an open export instruction, with progress and cancel."""
    if not entitled(app, Duty.EXECUTE_INSTRUCTION):
        return False
    if ins.kind != Kind.EXPORT:
        app.say(t("export.run.not_export"), severity="warning")
        return False
    if ins.state == State.IN_PROGRESS:
        # perhaps only because the process running it died a moment ago: cleaned up at once
        # here rather than at the next periodic round
        await app.recover_exports()
        ins = await app.ws.instructions.get(ins.id, fresh=True)
    if ins.state != State.ISSUED:
        app.say(
            t("export.run.not_open", number=ins.number, state=t(f"ins.state.{ins.state}")), severity="warning"
        )
        return False
    planned = await _plan(app, ins)
    if planned is None:
        return False
    actor, plan = planned
    if not await app.confirm(
        t("export.run.confirm_title", number=ins.number),
        plan_lines(plan),
        action=t("export.run.go"),
        typed=ins.number,
    ):
        return False

    async def change_medium(seq: int, count: int, device: str) -> bool:
        return await app.confirm(
            t("export.run.change_title"),
            [t("export.run.change_body", seq=seq, count=count, device=device)],
            action=t("export.run.change_go"),
        )

    async def work(job: Job) -> object:
        def progress(p: Progress) -> None:
            volume = f"{p.volume}/{p.volumes}" if p.volumes > 1 else ""
            phase = t(f"export.phase.{p.phase.value}")
            room = NOTE_CELLS - fmt.width_of(t("export.run.note", phase=phase, volume=volume, file=""))
            job.update(
                p.done,
                p.total,
                note=t(
                    "export.run.note",
                    phase=phase,
                    volume=volume,
                    file=fmt.fit(p.current.rpartition("/")[2], room),
                ),
            )

        return await app.ws.exports.run(
            actor,
            plan,
            progress=progress,
            cancel=CancelToken(when=job.cancelled.is_set),
            change_medium=change_medium,
        )

    try:
        await app.run_job(t("export.run.job", number=ins.number), work, unit="bytes")
    except Cancelled:
        app.say(t("export.run.cancelled"), severity="warning")
        return False
    except CallrecError as exc:
        app.say_error(exc)
        return False
    app.say(t("export.run.done", number=ins.number))
    return True


# -- the forms --------------------------------------------------------------------------------


async def form1(app: ConsoleHost, ins: Instruction) -> None:
    if ins.kind != Kind.EXPORT:
        return
    try:
        text = await app.ws.exports.form1(ins)
        page = await app.ws.exports.form1(ins, html=True)
    except CallrecError as exc:
        app.say_error(exc)
        return

    def save() -> Path:
        return app.ws.exports.save_form(ins, "form1", page)

    await app.push_screen_wait(TextViewer(forms.FORM1_TITLE, text, save=save))


async def form2(app: ConsoleHost, ins: Instruction) -> None:
    try:
        text = await app.ws.exports.submission_form(ins.id)
        page = await app.ws.exports.submission_form(ins.id, html=True)
    except CallrecError as exc:
        app.say_error(exc)
        return

    def save() -> Path:
        return app.ws.exports.save_form(ins, "form2", page)

    await app.push_screen_wait(TextViewer(forms.FORM2_TITLE, text, save=save))


# -- receipt and the register: the manager ----------------------------------------------------


async def receive(app: ConsoleHost, ins: Instruction) -> RegisterEntry | None:
    if not entitled(app, Duty.RECEIVE_OUTPUT):
        return None
    try:
        _, export = await app.ws.register.awaiting_receipt(ins.id)
    except CallrecError as exc:
        app.say_error(exc)
        return None
    assert export.written_on is not None and export.kept_through is not None
    media = t(
        "export.receive.media",
        medium=t(f"medium.{export.medium}"),
        count=len(export.media),
        labels=", ".join(m.label for m in export.media),
    )
    what = [media, t("export.receive.calls", calls=fmt.count(export.calls))]
    values = await _form(
        app,
        t("export.receive.title", number=ins.number),
        what,
        [FieldSpec("custodian", "export.receive.custodian", placeholder=t("export.receive.custodian_hint"))],
    )
    if values is None:
        return None
    actor = await app.ask_pin(Duty.RECEIVE_OUTPUT, t("export.receive.why"))
    if actor is None:
        return None
    body = [
        *what,
        t("export.receive.kept", kept=export.kept_through.isoformat(), written=export.written_on.isoformat()),
    ]
    if values["custodian"].strip():
        body.append(t("export.receive.confirm_custodian", custodian=values["custodian"].strip()))
    if not await app.confirm(t("export.receive.confirm_title", number=ins.number), body):
        return None
    try:
        entry = await app.ws.register.receive(actor, ins.id, custodian=values["custodian"])
    except CallrecError as exc:
        app.say_error(exc)
        return None
    app.say(t("export.receive.done", id=entry.id, kept=entry.kept_through.isoformat()))
    return entry


def _day(text: str, default: date | None = None) -> date:
    raw = text.strip()
    if not raw and default is not None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CallrecError(raw, code="bad_datetime", value=raw) from None


async def extend(app: ConsoleHost, entry: RegisterEntry) -> RegisterEntry | None:
    if not entitled(app, Duty.EXTEND_RETENTION):
        return None
    try:
        app.ws.register.check_extendable(entry)
    except CallrecError as exc:
        app.say_error(exc)
        return None
    fields = [
        FieldSpec("until", "export.extend.until", placeholder=t("export.extend.until_hint")),
        FieldSpec("reason", "export.extend.reason", placeholder=t("export.extend.reason_hint")),
    ]
    answer = await _ask_until_valid(
        app, t("export.extend.title", id=entry.id), [], fields, lambda values: _day(values["until"])
    )
    if answer is None:
        return None
    values, until = answer
    actor = await app.ask_pin(Duty.EXTEND_RETENTION, t("export.extend.why"))
    if actor is None:
        return None
    body = [
        t(
            "export.extend.confirm_body",
            kept=entry.kept_through.isoformat(),
            until=until.isoformat(),
            reason=values["reason"],
        )
    ]
    if not await app.confirm(t("export.extend.confirm_title", id=entry.id), body):
        return None
    try:
        done = await app.ws.register.extend(actor, entry.id, until=until, reason=values["reason"])
    except CallrecError as exc:
        app.say_error(exc)
        return None
    app.say(t("export.extend.done", id=done.id, until=done.kept_through.isoformat()))
    return done


async def dispose(app: ConsoleHost, entry: RegisterEntry) -> RegisterEntry | None:
    if not entitled(app, Duty.DISPOSE_OUTPUT):
        return None
    try:  # not due yet, or disposed of already: said before the form is filled in
        app.ws.register.check_disposable(entry)
    except CallrecError as exc:
        app.say_error(exc)
        return None
    today = app.ws.clock.now().date()
    fields = [
        FieldSpec("on", "export.dispose.on", today.isoformat()),
        FieldSpec("method", "export.dispose.method", placeholder=t("export.dispose.method_hint")),
        FieldSpec("witness", "export.dispose.witness"),
    ]
    answer = await _ask_until_valid(
        app, t("export.dispose.title", id=entry.id), [], fields, lambda values: _day(values["on"], today)
    )
    if answer is None:
        return None
    values, on = answer
    actor = await app.ask_pin(Duty.DISPOSE_OUTPUT, t("export.dispose.why"))
    if actor is None:
        return None
    body = [
        t(
            "export.dispose.confirm_body",
            media=entry.media_label,
            number=entry.number,
            on=on.isoformat(),
            method=values["method"],
            witness=values["witness"],
        )
    ]
    if not await app.confirm(
        t("export.dispose.confirm_title", id=entry.id), body, typed=str(entry.id), danger=True
    ):
        return None
    try:
        done = await app.ws.register.dispose(
            actor, entry.id, method=values["method"], witness=values["witness"], on=on
        )
    except CallrecError as exc:
        app.say_error(exc)
        return None
    app.say(t("export.dispose.done", id=done.id))
    return done
