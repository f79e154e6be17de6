"""The deletion record (削除記録): the recordings a purge deleted in a period, for the manager.

Built from the tombstones (state 'purged': metadata and hash kept) and the purge runs, as plain text
and as a print-ready A4 HTML page. The word is 削除 / "deleted": a purge removes the file from the
device's file system, and the record says exactly that and nothing more.
"""

from __future__ import annotations

import html
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from services.access.audit import Action, AuditLog, Head
from services.access.auth import Actor
from services.access.duties import Duty
from services.core import units
from services.core.clock import Clock, from_epoch, to_epoch
from services.core.config import Config
from services.core.db import Database
from services.core.errors import CallrecError, StorageError
from services.core.phone import display, masked
from services.core.text import visible
from services.retention.holds import PENDING_IDS

_CALLER_ID = {"withheld": "非通知", "unavailable": "通知不可"}
_RUN_STATE = {
    "running": "実行中",
    "finished": "完了",
    "cancelled": "中止",
    "failed": "失敗",
    "interrupted": "中断",
}
MEANING = (
    "「削除」は、録音ファイルを装置のファイルシステムから削除（unlink）したことを示します。"
    "各通話のメタデータと SHA-256 は、この記録のために索引に残しています。"
)


@dataclass(frozen=True)
class DeletedCall:
    id: int
    started_at: datetime
    type: str
    city_number: str | None
    other_number: str | None
    caller_id: str
    uniqueid: str
    size: int
    duration_s: float | None
    sha256: str | None
    raw_retention_until: date
    purged_at: datetime
    purged_by: str
    instruction: str

    @property
    def other_shown(self) -> str:
        return masked(self.other_number) if self.other_number else _CALLER_ID.get(self.caller_id, "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "type": self.type,
            "city_number": self.city_number,
            "other_number_masked": masked(self.other_number) if self.other_number else None,
            "caller_id": self.caller_id,
            "uniqueid": self.uniqueid,
            "size": self.size,
            "duration_s": self.duration_s,
            "sha256": self.sha256,
            "raw_retention_until": self.raw_retention_until.isoformat(),
            "deleted_at": self.purged_at.isoformat(timespec="seconds"),
            "deleted_by": self.purged_by,
            "instruction": self.instruction,
        }


@dataclass(frozen=True)
class RunSummary:
    id: int
    instruction: str
    state: str
    actor: str
    started_at: datetime
    ended_at: datetime | None
    grace_days: int
    planned: int
    deleted: int
    deleted_bytes: int
    skipped: int
    problem: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "instruction": self.instruction,
            "state": self.state,
            "actor": self.actor,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "ended_at": self.ended_at.isoformat(timespec="seconds") if self.ended_at else None,
            "grace_days": self.grace_days,
            "planned": self.planned,
            "deleted": self.deleted,
            "deleted_bytes": self.deleted_bytes,
            "skipped": self.skipped,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class DeletionRecord:
    date_from: date
    date_to: date
    produced_at: datetime
    produced_by: str
    centre: str
    grace_days: int
    calls: list[DeletedCall]
    runs: list[RunSummary]
    audit_head: Head | None

    @property
    def total_bytes(self) -> int:
        return sum(c.size for c in self.calls)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "produced_at": self.produced_at.isoformat(timespec="seconds"),
            "produced_by": self.produced_by,
            "centre": self.centre,
            "grace_days": self.grace_days,
            "count": len(self.calls),
            "bytes": self.total_bytes,
            "runs": [r.to_json() for r in self.runs],
            "calls": [c.to_json() for c in self.calls],
            "audit_head": str(self.audit_head) if self.audit_head else None,
        }

    def _header_lines(self) -> list[str]:
        lines = [
            f"期間: {self.date_from:%Y年%m月%d日} から {self.date_to:%Y年%m月%d日} まで",
            f"作成: {self.produced_at:%Y年%m月%d日 %H:%M} ({self.produced_by})",
            "保存期間: 録音した月の翌月末まで（第4条第6項第1号）",
        ]
        if self.grace_days:
            lines.append(f"装置の削除予定による猶予: {self.grace_days}日（同号ただし書）")
        lines.append(f"削除した通話録音データ: {len(self.calls)}件 {units.size(self.total_bytes)}")
        return lines

    def text(self) -> str:
        out = [f"削除記録（通話録音データ） — {visible(self.centre)}", *self._header_lines(), ""]
        out.append("実行 (purge runs):")
        if not self.runs:
            out.append("  なし")
        for r in self.runs:
            ended = f"{r.ended_at:%Y-%m-%d %H:%M}" if r.ended_at else "-"
            out.append(
                f"  指示 {r.instruction}  {_RUN_STATE.get(r.state, r.state)}  実行者 {r.actor}"
                f"  {r.started_at:%Y-%m-%d %H:%M} - {ended}  削除 {r.deleted}件"
                f" {units.size(r.deleted_bytes)}  対象外 {r.skipped}件"
                + (f"  ({visible(r.problem)})" if r.problem else "")
            )
        out += [
            "",
            "削除した録音 (deleted recordings):",
            "  No.  通話日時            種別      市役所側番号    相手方番号        "
            "サイズ      削除日時          指示       SHA-256",
        ]
        for n, c in enumerate(self.calls, 1):
            out.append(
                f"  {n:>4} {c.started_at:%Y-%m-%d %H:%M:%S} {c.type:<8}  {display(c.city_number):<15}"
                f" {visible(c.other_shown):<16} {units.size(c.size):>10}  {c.purged_at:%Y-%m-%d %H:%M}"
                f"  {c.instruction:<9}  {c.sha256 or '-'}"
            )
        out += ["", MEANING]
        if self.audit_head:
            out.append(f"監査ログ (audit head): {self.audit_head}")
        return "\n".join(out) + "\n"

    def html(self) -> str:
        e = html.escape
        runs = (
            "".join(
                "<tr>"
                + "".join(
                    f"<td>{e(str(v))}</td>"
                    for v in (
                        r.instruction,
                        _RUN_STATE.get(r.state, r.state),
                        r.actor,
                        f"{r.started_at:%Y-%m-%d %H:%M}",
                        f"{r.ended_at:%Y-%m-%d %H:%M}" if r.ended_at else "-",
                        f"{r.deleted}",
                        units.size(r.deleted_bytes),
                        f"{r.skipped}",
                        visible(r.problem),
                    )
                )
                + "</tr>"
                for r in self.runs
            )
            or '<tr><td colspan="9">なし</td></tr>'
        )
        rows = (
            "".join(
                "<tr>"
                + "".join(
                    f"<td>{e(str(v))}</td>"
                    for v in (
                        n,
                        f"{c.started_at:%Y-%m-%d %H:%M:%S}",
                        c.type,
                        display(c.city_number),
                        visible(c.other_shown),
                        units.size(c.size),
                        f"{c.purged_at:%Y-%m-%d %H:%M}",
                        c.instruction,
                    )
                )
                + f'<td class="hash">{e(c.sha256 or "-")}</td></tr>'
                for n, c in enumerate(self.calls, 1)
            )
            or '<tr><td colspan="9">この期間に削除した録音はありません。</td></tr>'
        )
        header = "".join(f"<p>{e(line)}</p>" for line in self._header_lines())
        head = f'<p class="anchor">監査ログ: {e(str(self.audit_head))}</p>' if self.audit_head else ""
        return f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>削除記録 {self.date_from} - {self.date_to}</title>
<style>
@page {{ size: A4; margin: 15mm 12mm; }}
body {{ font-family: "Noto Sans CJK JP", "IPAexGothic", sans-serif; font-size: 9pt; }}
h1 {{ font-size: 15pt; margin: 0 0 4mm; }}
p {{ margin: 0 0 1.5mm; }}
table {{ border-collapse: collapse; width: 100%; margin: 3mm 0; }}
th, td {{ border: 0.3pt solid #444; padding: 0.8mm 1.2mm; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
thead {{ display: table-header-group; }}
tr {{ page-break-inside: avoid; }}
td.hash {{ font-family: monospace; font-size: 6pt; word-break: break-all; }}
.anchor {{ font-family: monospace; font-size: 7pt; word-break: break-all; }}
.sign {{ margin-top: 10mm; }}
</style></head><body>
<h1>削除記録（通話録音データ） <small>Deletion record</small></h1>
<p>{e(visible(self.centre))}</p>
{header}
<h2>実行</h2>
<table><thead><tr><th>指示番号</th><th>状態</th><th>実行者</th><th>開始</th><th>終了</th><th>削除件数</th>
<th>容量</th><th>対象外</th><th>備考</th></tr></thead><tbody>{runs}</tbody></table>
<h2>削除した録音</h2>
<table><thead><tr><th>No.</th><th>通話日時</th><th>種別</th><th>市役所側電話番号</th><th>通話相手方電話番号</th>
<th>サイズ</th><th>削除日時</th><th>指示番号</th><th>SHA-256</th></tr></thead><tbody>{rows}</tbody></table>
<p>{e(MEANING)}</p>
{head}
<p class="sign">確認（運用責任者）: ＿＿＿＿＿＿＿＿＿＿＿＿　　日付: ＿＿＿＿＿＿</p>
</body></html>
"""


class DeletionRecords:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock, config: Config) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.config = config

    @property
    def tz(self) -> tzinfo:
        return self.clock.tz

    def _bounds(self, date_from: date, date_to: date) -> tuple[int, int]:
        if date_to < date_from:
            raise CallrecError("the period ends before it starts", code="bad_period")
        start = datetime.combine(date_from, time(0), self.tz)
        end = datetime.combine(date_to + timedelta(days=1), time(0), self.tz)
        return to_epoch(start), to_epoch(end)

    async def build(self, actor: Actor, date_from: date, date_to: date) -> DeletionRecord:
        """The record for a period (days in Japan time, both included); audited as a report."""
        actor.require(Duty.REPORT)
        lo, hi = self._bounds(date_from, date_to)
        rows = await self.db.fetchall(
            "SELECT c.id, c.started_at, c.type, c.city_number, c.other_number, c.caller_id,"
            " c.uniqueid, c.size, c.duration_s, c.sha256, c.raw_retention_until, c.purged_at,"
            " c.purged_by, coalesce(i.number, '') AS number FROM calls c"
            " LEFT JOIN instructions i ON i.id = c.purge_instruction_id"
            " WHERE c.purged_at >= ? AND c.purged_at < ? AND c.state = 'purged'"
            f" AND c.id NOT IN ({PENDING_IDS})"  # a running purge's, not yet confirmed deleted
            " ORDER BY c.purged_at, c.started_at, c.id",
            (lo, hi),
        )
        runs = await self.db.fetchall(
            "SELECT r.*, i.number FROM purge_runs r JOIN instructions i ON i.id = r.instruction_id"
            " WHERE r.started_at < ? AND coalesce(r.ended_at, r.started_at) >= ? ORDER BY r.id",
            (hi, lo),
        )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            head = await self.audit.append(
                conn,
                at=now,
                actor=actor.role.value,
                action=Action.REPORT_PRODUCED,
                subject="deletion_record",
                detail={"from": date_from.isoformat(), "to": date_to.isoformat(), "count": len(rows)},
            )
        return DeletionRecord(
            date_from=date_from,
            date_to=date_to,
            produced_at=now,
            produced_by=actor.role.value,
            centre=self.config.centre.name,
            grace_days=self.config.raw_grace_days,
            calls=[self._call(r) for r in rows],
            runs=[self._run(r) for r in runs],
            audit_head=head,
        )

    def save(self, record: DeletionRecord, path: Path | None = None) -> Path:
        """Write the record's print-ready A4 page: to `path`, or into the data folder's reports
        (deletion-record-FROM-TO.html, where the console saves the report too)."""
        if path is None:
            path = (
                self.config.data / "reports" / (f"deletion-record-{record.date_from}-{record.date_to}.html")
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(record.html(), encoding="utf-8")
        except OSError as exc:
            raise StorageError(
                f"{path}: {exc.strerror or exc}", code="write_failed", path=str(path)
            ) from None
        return path

    def _call(self, r: sqlite3.Row) -> DeletedCall:
        return DeletedCall(
            id=r["id"],
            started_at=from_epoch(r["started_at"], self.tz),
            type=r["type"],
            city_number=r["city_number"],
            other_number=r["other_number"],
            caller_id=r["caller_id"],
            uniqueid=r["uniqueid"],
            size=r["size"],
            duration_s=r["duration_s"],
            sha256=r["sha256"],
            raw_retention_until=date.fromisoformat(r["raw_retention_until"]),
            purged_at=from_epoch(r["purged_at"], self.tz),
            purged_by=r["purged_by"] or "",
            instruction=r["number"],
        )

    def _run(self, r: sqlite3.Row) -> RunSummary:
        return RunSummary(
            id=r["id"],
            instruction=r["number"],
            state=r["state"],
            actor=r["actor"],
            started_at=from_epoch(r["started_at"], self.tz),
            ended_at=from_epoch(r["ended_at"], self.tz) if r["ended_at"] else None,
            grace_days=r["grace_days"],
            planned=r["planned"],
            deleted=r["deleted"],
            deleted_bytes=r["deleted_bytes"],
            skipped=r["skipped"],
            problem=r["problem"],
        )
