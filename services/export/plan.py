"""What goes on which medium: the volumes of an export and the files on each.

Every volume is self-contained: its recordings under recordings/<their path in the spool>, the
forms, README.txt, manifest.json and SHA256SUMS. Calls are packed in the order they were recorded; a
volume's size is first estimated, then measured exactly by laying out the image with pycdlib.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any

from services.calls import Call
from services.core import units
from services.core.config import Centre
from services.core.errors import CallrecError
from services.export import forms, iso, manifest
from services.export.media import SECTOR, sectors
from services.export.streams import FileSpec
from services.instructions.store import Instruction
from services.retention.rules import output_kept_through

RECORDINGS = "recordings"
README = "README.txt"
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
FORM1_TXT = "様式第1号_通話出力データ作成指示書.txt"
FORM1_HTML = "様式第1号_通話出力データ作成指示書.html"
FORM2_TXT = "様式第2号_出力データ提出書.txt"
FORM2_HTML = "様式第2号_出力データ提出書.html"
_ISO_HINTS = {
    FORM1_TXT: "FORM1.TXT",
    FORM1_HTML: "FORM1.HTM",
    FORM2_TXT: "FORM2.TXT",
    FORM2_HTML: "FORM2.HTM",
    MANIFEST: "MANIFEST.JSN",
    SUMS: "SHA256.SUM",
}

# Estimates used only to pack volumes; each volume is then measured exactly.
_FIXED_BYTES = 1 << 20  # descriptors, UDF anchors and partition, path tables, root folders
_PER_CALL_DOCS = 6 * 1024  # the call's share of the forms and manifests
_PER_FILE_META = SECTOR + 640  # a UDF file entry, and records in three directory trees
_MARGIN_SECTORS = 32  # room for the final audit head and export id in the documents


class TargetKind(StrEnum):
    IMAGE = "image"  # an ISO file (--out)
    DEVICE = "device"  # burnt with xorriso (--device; stdio:FILE pseudo-drives too)
    FOLDER = "folder"  # a folder, e.g. a mounted USB stick (--dir)


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    location: str

    def volume_location(self, label_folder: str, seq: int, count: int) -> str:
        if self.kind is TargetKind.IMAGE and count > 1:
            p = Path(self.location)
            return str(p.with_name(f"{p.stem}-{seq}of{count}{p.suffix or '.iso'}"))
        if self.kind is TargetKind.FOLDER:
            return str(Path(self.location) / label_folder)
        if self.kind is TargetKind.DEVICE and count > 1 and "{n}" in self.location:
            return self.location.replace("{n}", str(seq))
        return self.location


@dataclass(frozen=True)
class Volume:
    seq: int
    count: int
    label: str  # the image's volume id (16 characters at most, for Joliet)
    folder: str  # the folder name on a USB target
    location: str  # image file, device or folder this volume goes to
    calls: tuple[Call, ...]
    files: tuple[FileSpec, ...]  # empty in a plan: made again, final, when the export runs
    size: int  # bytes: the image (discs) or the files (folders)
    file_sizes: tuple[int, ...] = ()
    names: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)

    def outline(self) -> Volume:
        """The volume without its files' contents: what a plan keeps (the documents are made
        again with the export's id and audit head when it runs)."""
        return replace(self, files=(), names={})


@dataclass(frozen=True)
class Documents:
    """Everything the documents of an export depend on besides the calls of a volume."""

    instruction: Instruction
    calls: tuple[Call, ...]  # all calls of the export
    centre: Centre
    tz: tzinfo
    written_on: date
    audit_head: str
    export: dict[str, Any]
    is_disc: bool
    spool: Path

    @property
    def kept_through(self) -> date:
        return output_kept_through(self.written_on)


def labels(number: str, seq: int, count: int) -> tuple[str, str]:
    digits = number.replace("-", "")
    if count == 1:
        return f"CALLREC_{digits}"[:16], f"callrec-{number}"
    return f"{digits}_{seq}OF{count}"[:16], f"callrec-{number}-{seq}of{count}"


def recording_path(call: Call) -> str:
    return f"{RECORDINGS}/{call.path}"


def _generated(path: str, data: bytes) -> FileSpec:
    return FileSpec(
        path, len(data), hashlib.sha256(data).hexdigest(), data=data, iso_hint=_ISO_HINTS.get(path)
    )


def volume_files(
    docs: Documents, calls: Sequence[Call], seq: int, count: int, label: str, summary: list[dict[str, Any]]
) -> tuple[list[FileSpec], dict[str, dict[str, str]]]:
    """The files of one volume and, for a disc, each file's names in the image's trees."""
    recs = [
        FileSpec(
            recording_path(c),
            c.size,
            c.sha256 or "",
            source=docs.spool / c.path,
            spool=docs.spool,
            call_id=c.id,
        )
        for c in calls
    ]
    media_note = f"{count}枚のうち{seq}枚目" if count > 1 else ""
    form1 = forms.FormContext(docs.instruction, docs.calls, docs.centre, docs.tz)
    form2 = forms.FormContext(docs.instruction, calls, docs.centre, docs.tz, docs.written_on, media_note)
    documents = [
        _generated(FORM1_TXT, forms.form1_text(form1).encode()),
        _generated(FORM1_HTML, forms.form1_html(form1).encode()),
        _generated(FORM2_TXT, forms.form2_text(form2).encode()),
        _generated(FORM2_HTML, forms.form2_html(form2).encode()),
        _generated(
            README,
            manifest.readme(
                number=docs.instruction.number,
                volume=seq,
                volumes=count,
                calls=len(calls),
                written_on=docs.written_on.isoformat(),
                kept_through=docs.kept_through.isoformat(),
                audit_head=docs.audit_head,
                forms=[FORM1_TXT, FORM1_HTML, FORM2_TXT, FORM2_HTML],
            ),
        ),
    ]
    placeholder = [*documents, _generated(MANIFEST, b""), _generated(SUMS, b""), *recs]
    names: dict[str, dict[str, str]] = {}
    if docs.is_disc:
        namer, _ = iso.name_files(placeholder)
        for f in placeholder:
            n = namer.get(f.path)
            names[f.path] = {"rock_ridge": n.rr, "udf": n.udf, "joliet": n.joliet, "iso9660": n.iso}
    call_entries = []
    for c, spec in zip(calls, recs, strict=True):
        entry = manifest.call_entry(c, spec.path, docs.tz)
        if names:
            entry["names"] = names[spec.path]
        call_entries.append(entry)
    manifest_file = _generated(
        MANIFEST,
        manifest.manifest(
            instruction=docs.instruction,
            export=docs.export,
            volume={
                "seq": seq,
                "count": count,
                "label": label,
                "written_on": docs.written_on.isoformat(),
                "kept_through": docs.kept_through.isoformat(),
            },
            calls=call_entries,
            documents={d.path: d.sha256 for d in documents},
            audit_head=docs.audit_head,
            all_volumes=summary,
        ),
    )
    covered = [*documents, manifest_file, *recs]
    sums = _generated(SUMS, manifest.sha256sums([(f.path, f.sha256) for f in covered]))
    return [*documents, manifest_file, sums, *recs], names


def estimate(call: Call) -> int:
    return sectors(call.size) * SECTOR + _PER_FILE_META + 4 * len(call.path.encode()) + _PER_CALL_DOCS


def pack(calls: Sequence[Call], capacity: int) -> list[list[Call]]:
    """Calls in recording order, cut into volumes whose estimated image fits `capacity`."""
    room = capacity - _FIXED_BYTES - _MARGIN_SECTORS * SECTOR
    volumes: list[list[Call]] = [[]]
    used = 0
    for call in calls:
        need = estimate(call)
        if need > room:
            raise CallrecError(
                f"call {call.id} alone takes {units.size(need)}, more than one medium holds"
                f" ({units.size(capacity)}); it cannot be written to this medium",
                code="call_too_large",
                call_id=call.id,
                needed=need,
                capacity=capacity,
            )
        if volumes[-1] and used + need > room:
            volumes.append([])
            used = 0
        volumes[-1].append(call)
        used += need
    return volumes


def plan_volumes(docs: Documents, target: Target, capacity: int | None) -> list[Volume]:
    """Volumes for `docs.calls`: one, unless a disc's capacity forces more.

    Each disc volume is measured exactly; one that turns out too large gives its last call to the
    next volume, and all are laid out again (the documents say "volume i of n")."""
    groups = pack(docs.calls, capacity) if capacity is not None else [list(docs.calls)]
    limit = None if capacity is None else capacity - _MARGIN_SECTORS * SECTOR
    while True:
        volumes = volumes_for(docs, target, groups)
        over = next((v for v in volumes if limit is not None and docs.is_disc and v.size > limit), None)
        if over is None:
            return volumes
        group = groups[over.seq - 1]
        if len(group) == 1:
            raise CallrecError(
                f"call {group[0].id} needs an image of {units.size(over.size)}, more than one medium"
                f" holds ({units.size(capacity or 0)})",
                code="call_too_large",
                call_id=group[0].id,
            )
        if over.seq == len(groups):
            groups.append([])
        groups[over.seq].insert(0, group.pop())


def volumes_for(docs: Documents, target: Target, groups: Sequence[Sequence[Call]]) -> list[Volume]:
    """The volumes for a given grouping of the calls."""
    count = len(groups)
    summary = [
        {"seq": i + 1, "label": labels(docs.instruction.number, i + 1, count)[0], "calls": [c.id for c in g]}
        for i, g in enumerate(groups)
    ]
    out = []
    for i, group in enumerate(groups):
        label, folder = labels(docs.instruction.number, i + 1, count)
        files, names = volume_files(docs, group, i + 1, count, label, summary)
        size = iso.image_size(files, label) if docs.is_disc else sum(f.size for f in files)
        out.append(
            Volume(
                i + 1,
                count,
                label,
                folder,
                target.volume_location(folder, i + 1, count),
                tuple(group),
                tuple(files),
                size,
                tuple(f.size for f in files),
                names,
            )
        )
    return out
