"""What each medium says about itself: SHA256SUMS, manifest.json and README.txt."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.calls import Call
from services.core.version import VERSION
from services.export.forms import call_end
from services.instructions.store import PURPOSES, Instruction

FORMAT = "callrec-output-data/1"


def _sums_line(digest: str, path: str) -> str:
    """One line as `sha256sum` writes it; names with \\, newline or CR are escaped its way."""
    if any(ch in path for ch in "\\\n\r"):
        escaped = path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{digest}  {escaped}\n"
    return f"{digest}  {path}\n"


def sha256sums(entries: Sequence[tuple[str, str]]) -> bytes:
    """(path, sha256) pairs -> a file `sha256sum -c SHA256SUMS` accepts at the volume's root."""
    return "".join(_sums_line(digest, path) for path, digest in entries).encode()


def call_entry(call: Call, file: str, tz: Any) -> dict[str, Any]:
    end = call_end(call, tz)
    return {
        "id": call.id,
        "file": file,
        "spool_path": call.path,
        "started_at": call.started_at.astimezone(tz).isoformat(timespec="seconds"),
        "ended_at": end.isoformat(timespec="seconds") if end else None,
        "type": call.type,
        "city_number": call.city_number,
        "other_number": call.other_number,
        "caller_id": call.caller_id,
        "format": call.fmt,
        "size": call.size,
        "duration_s": call.duration_s,
        "sha256": call.sha256,
    }


def manifest(
    *,
    instruction: Instruction,
    export: dict[str, Any],
    volume: dict[str, Any],
    calls: list[dict[str, Any]],
    documents: dict[str, str],
    audit_head: str,
    all_volumes: list[dict[str, Any]],
) -> bytes:
    doc = {
        "format": FORMAT,
        "callrec": VERSION,
        "guideline": "さいたまコールセンター通話録音装置等の運用に関する取扱要領 第4条第3項・第5条",
        "instruction": {
            "number": instruction.number,
            "issued_at": instruction.issued_at.isoformat(timespec="seconds"),
            "purpose": instruction.purpose,
            "purpose_ja": PURPOSES.get(instruction.purpose or "", ""),
            "medium": instruction.medium,
            "note": instruction.note,
            "criteria": instruction.criteria,
        },
        "export": export,
        "volume": volume,
        "volumes": all_volumes,
        "audit_head": audit_head,
        "calls": calls,
        "documents": documents,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode()


def readme(
    *,
    number: str,
    volume: int,
    volumes: int,
    calls: int,
    written_on: str,
    kept_through: str,
    audit_head: str,
    forms: Sequence[str],
) -> bytes:
    part = f"（{volumes}枚のうち{volume}枚目 / volume {volume} of {volumes}）" if volumes > 1 else ""
    lines = [
        f"出力データ 指示番号 {number}{part}",
        "",
        "この記録媒体は、さいたまコールセンター通話録音装置等の運用に関する取扱要領第5条に基づき作成した",
        "出力データです。通話録音データは記録されたときの状態のまま（第4条第3項）、ファイル名も変えずに",
        "recordings/ フォルダに収めています。出力データは公文書・行政情報に当たり（第4条第4項）、",
        "聴取は第1条の目的のため運用責任者及び運営受託者のみが行います（第4条第5項）。",
        f"保存期間: {kept_through}まで（作成日 {written_on} の属する年度の翌年度末、第4条第6項(2)）。",
        "",
        f"Output data for instruction {number}{f' (volume {volume} of {volumes})' if volumes > 1 else ''}:"
        f" {calls} recording(s), bit-exact, under their own names in recordings/.",
        "",
        "確認方法 / How to check: in this folder run",
        "    sha256sum -c SHA256SUMS",
        "Every line must say OK. manifest.json lists each call, its ingest SHA-256 and the names the",
        "image gives it in every tree (Rock Ridge and UDF carry the full names; Joliet shortens",
        "names longer than 64 bytes).",
        "",
        "書類 / Documents:",
        *(f"    {f}" for f in forms),
        "",
        f"監査ログの先頭 / Audit chain head at export: {audit_head}",
        "    (callrec audit verify --anchor <this> proves no entry up to it was changed or removed)",
        "",
    ]
    return "\n".join(lines).encode()
