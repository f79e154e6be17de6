"""The report to the manager for a period (第3条5): what was recorded, instructed, written out,
received, kept, deleted, and what went wrong; ending with the audit chain's state and head.

Counts of actions come from the audit log, the one record every step writes; calls by type and
day come from the index (tombstones included, so deleted calls still count as recorded).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from services.access.audit import Action, AuditLog
from services.access.auth import Actor
from services.access.duties import Duty
from services.core.clock import Clock
from services.core.db import Database
from services.core.errors import CallrecError, StorageError
from services.core.text import ljust_cells
from services.core.version import VERSION

# Report line -> the audit actions it counts, in the order the report shows them.
SECTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "instructions": {
        "issued": (Action.INSTRUCTION_ISSUED,),
        "executed": (Action.INSTRUCTION_SUBMITTED, Action.INSTRUCTION_DONE),
        "cancelled": (Action.INSTRUCTION_CANCELLED,),
    },
    "output_data": {
        "created": (Action.EXPORT_FINISHED,),
        "received": (Action.REGISTER_CREATED,),
        "extended": (Action.REGISTER_EXTENDED,),
        "disposed": (Action.REGISTER_DISPOSED,),
    },
    "purges": {
        "runs": (Action.PURGE_FINISHED,),
        "calls_deleted": (Action.PURGE_DELETED,),
        "interrupted": (Action.PURGE_INTERRUPTED,),
    },
    "holds": {
        "set": (Action.HOLD_SET,),
        "released": (Action.HOLD_RELEASED,),
    },
    "pins": {
        "failures": (Action.PIN_FAILED,),
        "lockouts": (Action.PIN_LOCKOUT,),
    },
    "anomalies": {
        "missing_files": (Action.CALL_MISSING,),
        "changed_files": (Action.CALL_CHANGED,),
        "failed_exports": (Action.EXPORT_FAILED,),
        "skipped_entries": (Action.INDEX_SKIPPED,),
        "odd_dates": (Action.CALL_ANOMALY,),
        "kept_by_purges": (Action.PURGE_KEPT,),
    },
}

LABELS_JA: dict[str, str] = {
    "instructions": "指示",
    "issued": "発行",
    "executed": "実施",
    "cancelled": "取消",
    "output_data": "出力データ",
    "created": "作成",
    "received": "受領",
    "extended": "保存延長",
    "disposed": "廃棄",
    "purges": "削除",
    "runs": "削除実施回数",
    "calls_deleted": "削除した通話",
    "interrupted": "中断",
    "holds": "保全",
    "set": "設定",
    "released": "解除",
    "pins": "暗証番号",
    "failures": "誤入力",
    "lockouts": "ロックアウト",
    "anomalies": "異常",
    "missing_files": "消失したファイル",
    "changed_files": "変更されたファイル",
    "failed_exports": "失敗した出力",
    "skipped_entries": "索引対象外の項目",
    "odd_dates": "名前の日付が異常な録音",
    "kept_by_purges": "削除せず保持した録音",
}


@dataclass
class Report:
    period_from: date
    period_to: date
    produced_at: datetime
    produced_by: str
    calls_by_type: dict[str, int]
    calls_by_day: dict[str, int]
    sections: dict[str, dict[str, int]]
    audit_ok: bool
    audit_entries: int
    audit_head: str | None
    audit_problem: str = ""
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def calls_total(self) -> int:
        return sum(self.calls_by_type.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {"from": self.period_from.isoformat(), "to": self.period_to.isoformat()},
            "produced_at": self.produced_at.isoformat(timespec="seconds"),
            "produced_by": self.produced_by,
            "callrec": VERSION,
            "calls": {"total": self.calls_total, "by_type": self.calls_by_type, "by_day": self.calls_by_day},
            **self.sections,
            "audit": {
                "ok": self.audit_ok,
                "entries": self.audit_entries,
                "head": self.audit_head,
                "problem": self.audit_problem,
            },
        }


class Reports:
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock

    def save(self, report: Report, data: Path) -> Path:
        """Write the report's print-ready A4 page into the data folder `data`'s reports
        (report-FROM-TO.html)."""
        folder = data / "reports"
        path = folder / f"report-{report.period_from}-{report.period_to}.html"
        try:
            folder.mkdir(exist_ok=True)
            path.write_text(to_html(report), encoding="utf-8")
        except OSError as exc:
            raise StorageError(f"{path}: {exc.strerror}", path=str(path)) from None
        return path

    async def build(self, actor: Actor, period_from: date, period_to: date) -> Report:
        actor.require(Duty.REPORT)
        if period_to < period_from:
            raise CallrecError("the period ends before it starts", code="bad_period")
        tz = self.clock.tz
        start = datetime.combine(period_from, time(0), tz)
        end = datetime.combine(period_to + timedelta(days=1), time(0), tz)
        rows = await self.db.fetchall(
            "SELECT type, date(started_at, 'unixepoch', ?) AS day, count(*) FROM calls"
            " WHERE started_at >= ? AND started_at < ? GROUP BY type, day",
            (_offset_modifier(start), int(start.timestamp()), int(end.timestamp())),
        )
        by_type: Counter[str] = Counter()
        by_day: Counter[str] = Counter()
        for kind, day, n in rows:
            by_type[kind] += n
            by_day[day] += n
        actions = await self._action_counts(start, end)
        sections = {
            name: {line: sum(actions[a] for a in names) for line, names in lines.items()}
            for name, lines in SECTIONS.items()
        }
        result = await self.audit.verify()
        now = self.clock.now()
        await self.audit.record(
            at=now,
            actor=actor.role.value,
            action=Action.REPORT_PRODUCED,
            subject=f"{period_from}..{period_to}",
        )
        return Report(
            period_from=period_from,
            period_to=period_to,
            produced_at=now,
            produced_by=actor.role.value,
            calls_by_type=dict(sorted(by_type.items())),
            calls_by_day=dict(sorted(by_day.items())),
            sections=sections,
            audit_ok=result.ok,
            audit_entries=result.entries,
            audit_head=str(result.head) if result.head else None,
            audit_problem=result.problem,
        )

    async def _action_counts(self, start: datetime, end: datetime) -> Counter[str]:
        counts: Counter[str] = Counter()
        # ts is ISO 8601 with offset; compare as instants, not as strings.
        lo = (start - timedelta(days=1)).date().isoformat()
        hi = (end + timedelta(days=1)).date().isoformat()
        async for action, ts in self.db.stream(
            "SELECT action, ts FROM audit WHERE ts >= ? AND ts < ?", (lo, hi)
        ):
            if start <= datetime.fromisoformat(ts) < end:
                counts[action] += 1
        return counts


def _offset_modifier(at: datetime) -> str:
    """SQLite date modifier for the period's UTC offset (Japan has no DST)."""
    offset = at.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes:+d} minutes"


def to_text(r: Report) -> str:
    out = [
        "通話録音装置 運用状況報告 (第3条第5項)",
        f"期間: {r.period_from} 〜 {r.period_to}",
        f"作成: {r.produced_at:%Y-%m-%d %H:%M} ({r.produced_by}, callrec {VERSION})",
        "",
        f"録音された通話: {r.calls_total} 件",
    ]
    out += [f"  種別 {kind:<9} {n:>7}" for kind, n in r.calls_by_type.items()]
    out.append("  日別:")
    out += [f"    {day} {n:>7}" for day, n in r.calls_by_day.items()]
    for name, lines in r.sections.items():
        out.append("")
        out.append(f"{LABELS_JA[name]} ({name})")
        out += [f"  {ljust_cells(LABELS_JA[line], 20)} {n:>7}   {line}" for line, n in lines.items()]
    out += ["", _audit_line(r)]
    return "\n".join(out)


def _audit_line(r: Report) -> str:
    state = "正常 (ok)" if r.audit_ok else f"破損 (BROKEN: {r.audit_problem})"
    return f"監査ログ: {state}, {r.audit_entries} 件, 先頭 (head) {r.audit_head or '-'}"


def to_csv(r: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "item", "count"])
    for kind, n in r.calls_by_type.items():
        w.writerow(["calls_by_type", kind, n])
    for day, n in r.calls_by_day.items():
        w.writerow(["calls_by_day", day, n])
    for name, lines in r.sections.items():
        for line, n in lines.items():
            w.writerow([name, line, n])
    w.writerow(["audit", "ok", int(r.audit_ok)])
    w.writerow(["audit", "entries", r.audit_entries])
    w.writerow(["audit", "head", r.audit_head or ""])
    return buf.getvalue()


def to_json_text(r: Report) -> str:
    return json.dumps(r.to_json(), ensure_ascii=False, indent=2)


def to_html(r: Report) -> str:
    """A print-ready A4 page (the browser's print gives the paper copy)."""
    e = html.escape
    rows = "".join(f"<tr><td>{e(k)}</td><td class=n>{n}</td></tr>" for k, n in r.calls_by_type.items())
    days = "".join(f"<tr><td>{e(k)}</td><td class=n>{n}</td></tr>" for k, n in r.calls_by_day.items())
    sections = "".join(
        f"<h2>{e(LABELS_JA[name])}</h2><table>"
        + "".join(f"<tr><td>{e(LABELS_JA[line])}</td><td class=n>{n}</td></tr>" for line, n in lines.items())
        + "</table>"
        for name, lines in r.sections.items()
    )
    return f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>運用状況報告 {r.period_from}〜{r.period_to}</title>
<style>
@page {{ size: A4; margin: 20mm; }}
body {{ font-family: "IPAexMincho", "Noto Serif CJK JP", serif; font-size: 10.5pt; }}
h1 {{ font-size: 16pt; text-align: center; }} h2 {{ font-size: 12pt; margin-top: 1.2em; }}
table {{ border-collapse: collapse; width: 100%; }} td {{ border: 1px solid #000; padding: 2px 6px; }}
td.n {{ text-align: right; width: 20%; }} .head {{ font-family: monospace; word-break: break-all; }}
.days {{ columns: 2; }}
</style></head><body>
<h1>通話録音装置 運用状況報告</h1>
<p>運用責任者（広聴課長）様　（取扱要領第3条第5項）</p>
<p>期間: {r.period_from} 〜 {r.period_to}<br>
作成: {r.produced_at:%Y年%m月%d日 %H:%M}（{e(r.produced_by)}、callrec {e(VERSION)}）</p>
<h2>録音された通話: {r.calls_total} 件</h2><table>{rows}</table>
<h2>日別</h2><div class=days><table>{days}</table></div>
{sections}
<h2>監査ログ</h2><p class=head>{e(_audit_line(r))}</p>
</body></html>
"""
