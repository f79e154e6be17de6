"""様式第1号 (通話出力データ作成指示書) and 様式第2号 (出力データ提出書), as UTF-8 text and as an A4 page.

様式第2号 follows the form annexed to the guideline word for word, one form per call. 様式第1号 is not
reproduced in the guideline; it carries the instruction's number and date, the 第1条 purpose, the
calls (picked, or described by time range and numbers), the medium handed over and the note.
The HTML needs no fonts of its own: @page sets A4 and the browser's Mincho/serif prints it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from services.calls import Call
from services.core.config import Centre
from services.core.phone import CallerId, display
from services.core.text import visible
from services.export.media import MEDIA_SPECS
from services.instructions.store import PURPOSES, Criteria, Instruction

GUIDELINE = "さいたまコールセンター通話録音装置等の運用に関する取扱要領"
FORM1_TITLE = "通話出力データ作成指示書"
FORM2_TITLE = "出力データ提出書"
_ERAS = ((date(2019, 5, 1), "令和"), (date(1989, 1, 8), "平成"), (date(1926, 12, 25), "昭和"))
_WEEKDAYS = "月火水木金土日"
_PAGE_BREAK = "\f"


def wareki(day: date) -> str:
    """令和8年4月1日 (the first year of an era is 元年)."""
    for start, era in _ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"


def moment(at: datetime, *, round_up: bool = False) -> str:
    """令和8年9月7日（月）9時15分 — to the minute, rounded down (or up, for an end time)."""
    if round_up and (at.second or at.microsecond):
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"{wareki(at.date())}（{_WEEKDAYS[at.weekday()]}）{at.hour}時{at.minute}分"


def call_end(call: Call, tz: tzinfo) -> datetime | None:
    """When the call ended: start + duration from the audio header, else the file's last write."""
    start = call.started_at.astimezone(tz)
    if call.duration_s is not None:
        return start + timedelta(seconds=call.duration_s)
    written = datetime.fromtimestamp(call.mtime_ns / 1e9, tz)
    if start <= written <= start + timedelta(hours=24):
        return written
    return None


def other_party(call: Call) -> str:
    if call.other_number:
        return display(call.other_number)
    return "非通知" if call.caller_id == CallerId.WITHHELD else "通知不可"


def city_side(call: Call) -> str:
    return display(call.city_number) if call.city_number else "不明"


@dataclass(frozen=True)
class CallRow:
    """What a form says about one call."""

    start: str
    end: str
    city: str
    other: str
    file: str
    sha256: str

    @classmethod
    def of(cls, call: Call, tz: tzinfo) -> CallRow:
        end = call_end(call, tz)
        return cls(
            moment(call.started_at.astimezone(tz)),
            moment(end, round_up=True) if end else "不明",
            city_side(call),
            other_party(call),
            call.name,
            call.sha256 or "",
        )


@dataclass(frozen=True)
class FormContext:
    instruction: Instruction
    calls: Sequence[Call]
    centre: Centre
    tz: tzinfo
    written_on: date | None = None  # 様式第2号: the day the output data was written
    media_note: str = ""  # e.g. "DVD-R 2枚のうち1枚目"

    @property
    def issued_on(self) -> date:
        return self.instruction.issued_at.astimezone(self.tz).date()

    def rows(self) -> list[CallRow]:
        return [CallRow.of(c, self.tz) for c in self.calls]


def _medium(code: str | None) -> str:
    return MEDIA_SPECS[code].label if code in MEDIA_SPECS else visible(code or "")


def _manager(centre: Centre) -> str:
    return f"運用責任者（{visible(centre.manager_title)}）"


def _contractor(centre: Centre) -> list[str]:
    lines = ["運営受託者"]
    if centre.contractor and centre.contractor != "運営受託者":
        lines.append(visible(centre.contractor))
    return lines


def _purpose(code: str | None) -> str:
    return f"{PURPOSES.get(code or '', visible(code or ''))}（{GUIDELINE}第1条）"


def describe_criteria(c: Criteria, tz: tzinfo) -> list[tuple[str, str]]:
    return [
        ("通話日時", f"{moment(c.start.astimezone(tz))}から {moment(c.end.astimezone(tz))}まで"),
        ("市役所側電話番号", display(c.city) if c.city else "指定なし"),
        ("通話相手方電話番号", display(c.other) if c.other else "指定なし"),
    ]


# -- 様式第1号 ------------------------------------------------------------------------------------


def form1_items(ctx: FormContext) -> list[tuple[str, list[str]]]:
    ins = ctx.instruction
    calls: list[str] = []
    if ins.criteria:
        calls.append("次の条件に該当する通話（運営受託者が索引により特定し、確認のうえ出力する）")
        calls += [f"{k}　{v}" for k, v in describe_criteria(Criteria.from_json(ins.criteria), ctx.tz)]
        if ctx.calls:
            calls.append(f"（特定された通話 {len(ctx.calls)}件）")
    for i, r in enumerate(ctx.rows() if not ins.criteria else [], 1):
        calls.append(f"({i}) 通話日時　{r.start}頃から {r.end}頃まで")
        calls.append(f"    市役所側電話番号　{r.city}")
        calls.append(f"    通話相手方電話番号　{r.other}")
    return [
        ("利用目的", [_purpose(ins.purpose)]),
        ("対象通話", calls),
        ("記録媒体", [f"{_medium(ins.medium)}（本指示書とともに提出）"]),
        ("備考", [visible(ins.note) if ins.note else "なし"]),
    ]


def form1_text(ctx: FormContext) -> str:
    ins = ctx.instruction
    lines = [
        "様式第1号（第5条関係）",
        "",
        f"{'':>40}指示番号 {ins.number}",
        f"{'':>40}{wareki(ctx.issued_on)}",
        "",
        "運営受託者　様",
        "",
        f"{'':>40}{_manager(ctx.centre)}",
        "",
        f"{'':>16}{FORM1_TITLE}",
        "",
        f"{GUIDELINE}第5条第1項の規定に基づき、次のとおり出力データの作成を指示します。",
        "",
    ]
    for n, (label, body) in enumerate(form1_items(ctx), 1):
        lines.append(f"{n} {label}")
        lines += [f"    {b}" for b in body]
        lines.append("")
    return "\n".join(lines)


def form1_html(ctx: FormContext) -> str:
    ins = ctx.instruction
    items = "".join(
        f"<li><span class=label>{html.escape(label)}</span>"
        + "".join(f"<div>{html.escape(b)}</div>" for b in body)
        + "</li>"
        for label, body in form1_items(ctx)
    )
    page = (
        "<section class=page><p class=form-no>様式第1号（第5条関係）</p>"
        f"<p class=right>指示番号 {html.escape(ins.number)}<br>{wareki(ctx.issued_on)}</p>"
        "<p>運営受託者　様</p>"
        f"<p class=right>{html.escape(_manager(ctx.centre))}</p>"
        f"<h1>{FORM1_TITLE}</h1>"
        f"<p>{GUIDELINE}第5条第1項の規定に基づき、次のとおり出力データの作成を指示します。</p>"
        f"<ol class=items>{items}</ol></section>"
    )
    return _html_document(f"{FORM1_TITLE} {ins.number}", [page])


# -- 様式第2号 ------------------------------------------------------------------------------------


def _form2_lead(ctx: FormContext) -> str:
    return (
        f"{wareki(ctx.issued_on)}付けで指示のあった件について、{GUIDELINE}第5条第2項の規定に"
        "基づき、次のとおり提出します。"
    )


def _form2_remarks(ctx: FormContext, row: CallRow) -> list[str]:
    out = [f"指示番号 {ctx.instruction.number}", f"記録媒体 {_medium(ctx.instruction.medium)}"]
    if ctx.media_note:
        out[-1] += f"（{ctx.media_note}）"
    out += [f"ファイル名 {visible(row.file)}", f"SHA-256 {row.sha256}"]
    return out


def form2_text(ctx: FormContext) -> str:
    assert ctx.written_on is not None
    pages = []
    for row in ctx.rows():
        lines = [
            "様式第2号（第5条関係）",
            "",
            f"{'':>40}{wareki(ctx.written_on)}",
            "",
            f"{_manager(ctx.centre)}　様",
            "",
            *(f"{'':>40}{c}" for c in _contractor(ctx.centre)),
            "",
            f"{'':>20}{FORM2_TITLE}",
            "",
            _form2_lead(ctx),
            "",
            f"1 通話日時　{row.start}頃から",
            f"            {row.end}頃まで",
            "",
            f"2 市役所側電話番号　{row.city}",
            "",
            f"3 通話相手方電話番号　{row.other}",
            "",
            "（備考）",
            *(f"    {r}" for r in _form2_remarks(ctx, row)),
            "",
        ]
        pages.append("\n".join(lines))
    return f"{_PAGE_BREAK}\n".join(pages)


def form2_html(ctx: FormContext) -> str:
    assert ctx.written_on is not None
    pages = []
    contractor = "<br>".join(html.escape(c) for c in _contractor(ctx.centre))
    for row in ctx.rows():
        remarks = "<br>".join(html.escape(r) for r in _form2_remarks(ctx, row))
        pages.append(
            "<section class=page><p class=form-no>様式第2号（第5条関係）</p>"
            f"<p class=right>{wareki(ctx.written_on)}</p>"
            f"<p>{html.escape(_manager(ctx.centre))}　様</p>"
            f"<p class=right>{contractor}</p>"
            f"<h1>{FORM2_TITLE}</h1>"
            f"<p>{html.escape(_form2_lead(ctx))}</p>"
            "<ol class=items>"
            f"<li><span class=label>通話日時</span><div>{html.escape(row.start)}頃から</div>"
            f"<div>{html.escape(row.end)}頃まで</div></li>"
            f"<li><span class=label>市役所側電話番号</span><div>{html.escape(row.city)}</div></li>"
            f"<li><span class=label>通話相手方電話番号</span><div>{html.escape(row.other)}</div></li>"
            f"</ol><p class=remarks>（備考）<br>{remarks}</p></section>"
        )
    return _html_document(f"{FORM2_TITLE} {ctx.instruction.number}", pages)


_CSS = """
@page { size: A4; margin: 25mm 20mm; }
body { font-family: "Yu Mincho", "YuMincho", "Hiragino Mincho ProN", "MS Mincho",
       "Noto Serif CJK JP", "Noto Serif JP", serif; font-size: 11pt; line-height: 1.7; margin: 0; }
.page { page-break-after: always; break-after: page; }
.page:last-child { page-break-after: auto; break-after: auto; }
.form-no { margin: 0 0 1em; }
.right { text-align: right; }
h1 { text-align: center; font-size: 16pt; font-weight: normal; letter-spacing: 0.3em; margin: 2em 0; }
.items { padding-left: 1.5em; }
.items li { margin-bottom: 1.2em; }
.items .label { display: inline-block; min-width: 10em; }
.items div { margin-left: 1em; }
.remarks { margin-top: 3em; font-size: 9pt; color: #333; word-break: break-all; }
@media screen { body { max-width: 170mm; margin: 10mm auto; }
  .page { border-bottom: 1px dashed #999; padding-bottom: 10mm; margin-bottom: 10mm; } }
"""


def _html_document(title: str, pages: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=ja><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(pages)
        + "\n</body></html>\n"
    )
