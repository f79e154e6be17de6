"""The public notice (第3条7): what the city publishes about recording at the centre.

Generated from the configuration (centre name, number, date in force) and the rules themselves
(purposes from 第1条, retention from 第4条6), so the published text cannot drift from what the
console enforces.
"""

from __future__ import annotations

from datetime import date

from services.core.config import Config
from services.instructions.store import PURPOSES

PURPOSES_EN = {
    "proper-conduct": "ensuring fair and proper administration",
    "crime-prevention": "preventing crime",
    "undue-pressure": "protecting staff from undue pressure or demands",
}


def _wareki(day: date) -> str:
    """令和 era date (from 2019-05-01), as the city writes dates."""
    if day >= date(2019, 5, 1):
        year = day.year - 2018
        return f"令和{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"


def notice_ja(cfg: Config) -> str:
    c = cfg.centre
    published = date.fromisoformat(c.published)
    purposes = "\n".join(f"　・{text}" for text in PURPOSES.values())
    grace = (
        f"（装置の仕様により当日の削除が困難な場合は、その後{cfg.raw_grace_days}日以内に削除します。）"
        if cfg.raw_grace_days
        else ""
    )
    return f"""{c.name}における通話録音の実施について

{c.name}（電話 {c.phone}）では、{_wareki(published)}から、センターでの通話を録音しています。

1 目的
　通話の録音は、次の目的のために行います。
{purposes}

2 録音の対象
　{c.name}の電話でのすべての通話（着信・発信）を、電話交換機に接続した通話録音装置に録音します。

3 録音データの取扱い
　録音したデータは、市民の皆さまが安心して通話できるよう、組織的に利用したり、聴取したりしません。
　上記の目的のために必要があるときに限り、運用責任者（{c.manager_title}）の指示により、必要な通話だけを
　録音したときの状態のままDVD-R等の記録媒体に出力し（出力データ）、運用責任者及び運営受託者のみが
　その目的のために聴取します。

4 保存期間
　・録音データ：録音した日の属する月の翌月末まで保存し、その後削除します。{grace}
　・出力データ：記録した日の属する年度の翌年度末まで保存します（法令に定めがある場合等を除く）。

5 通話開始時のご案内
　「{c.announcement}」

6 根拠
　さいたまコールセンター通話録音装置等の運用に関する取扱要領（{_wareki(date(2026, 4, 1))}施行）

問い合わせ先：{c.manager_title}（{c.name} 運用責任者）
"""


def notice_en(cfg: Config) -> str:
    c = cfg.centre
    purposes = "\n".join(f"  - {text}" for text in PURPOSES_EN.values())
    grace = (
        f" Where the device cannot delete on that day, within {cfg.raw_grace_days} days after it."
        if cfg.raw_grace_days
        else ""
    )
    return f"""Recording of calls at the {c.name_en}

Since {c.published}, calls to and from the {c.name_en} (tel. {c.phone}) are recorded.

1. Purposes
   Calls are recorded only for:
{purposes}

2. What is recorded
   Every call on the centre's telephones, incoming and outgoing, by a recorder attached to the
   telephone exchange.

3. How recordings are handled
   So that everyone can speak freely, recordings are neither used by the organisation nor listened
   to. Only when needed for a purpose above, and on the instruction of the manager (head of the
   Public Hearing Section), the calls concerned are copied, exactly as recorded, to a DVD-R or other
   medium (output data), which only the manager and the contractor may listen to, for that purpose.

4. How long they are kept
   - Recordings: until the end of the month after the month of the call, then deleted.{grace}
   - Output data: until the end of the fiscal year after the one in which it was made
     (unless a law or the manager sets otherwise).

5. Announcement to callers
   "{c.announcement_en}"

6. Basis
   Handling rules for the Saitama Call Centre call-recording device (in force from 2026-04-01).
"""
