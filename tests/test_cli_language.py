"""The `callrec` command speaks the user's language: Japanese first, English when chosen (--lang,
then the configuration's console.language, then the locale). Its prompts, questions and failures
all come from the console's catalogues."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.exits import Exit
from services.access.duties import Duty
from services.calls import CallFilter
from services.core.config import Config
from services.workspace import Workspace
from tests.support.retention import files_on_disk, make_calls, manager
from tests.support.workspace import ROOT


def set_language(cfg: Config, language: str | None) -> None:
    """Rewrite the configuration's console.language (None: leave it unset)."""
    assert cfg.source is not None
    text = re.sub(r'(?m)^language = "\w+"\n', "", cfg.source.read_text(encoding="utf-8"))
    if language is not None:
        text = text.replace("[console]\n", f'[console]\nlanguage = "{language}"\n')
    cfg.source.write_text(text, encoding="utf-8")


def environment(lang: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "LANG")}
    return env | {"LANG": lang}


def callrec(
    cfg: Config, *args: str, lang: str = "C.UTF-8", input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console.cli", "--config", str(cfg.source), *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(lang),
        timeout=120,
    )


def wrong_pin(cfg: Config, *flags: str, lang: str = "C.UTF-8", operator: bool = False) -> str:
    """The line for a wrong manager's (or operator's) PIN."""
    command = ["purge", "1"] if operator else ["instruct", "purge"]
    proc = callrec(cfg, *flags, *command, "--pin-stdin", lang=lang, input="9999\n")
    assert proc.returncode == Exit.PIN and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr.strip()


async def test_japanese_unless_english_is_chosen(cfg: Config, ws: Workspace) -> None:
    set_language(cfg, None)
    # no choice made anywhere: Japanese
    assert wrong_pin(cfg) == "callrec: PINが違います（あと4回誤るとロックされます）。"
    assert wrong_pin(cfg, lang="en_US.UTF-8").startswith("callrec: Wrong Manager PIN")
    set_language(cfg, "ja")  # the configuration wins over the locale
    assert wrong_pin(cfg, lang="en_US.UTF-8").startswith("callrec: PINが違います")
    set_language(cfg, "en")
    assert wrong_pin(cfg, lang="ja_JP.UTF-8", operator=True).startswith("callrec: Wrong Operator PIN")
    # --lang wins
    assert wrong_pin(cfg, "--lang", "ja", operator=True).startswith("callrec: PINが違います")


def test_a_database_failure_is_one_line_in_japanese(cfg: Config) -> None:
    set_language(cfg, "ja")
    cfg.data.mkdir()
    (cfg.data / "callrec.db").write_bytes(b"not a database" * 100)
    proc = callrec(cfg, "calls")
    assert proc.returncode == Exit.STORAGE and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("callrec: データの保存先の問題: ")


def in_terminal(
    argv: list[str], dialogue: list[tuple[str, str]], env: dict[str, str], timeout: float = 60
) -> tuple[int, str]:
    """Run `argv` on a pseudo-terminal: wait for each prompt, type its answer. Returns the exit
    status and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, with the terminal as its stdin/stdout/stderr
        os.chdir(ROOT)
        os.execve(argv[0], argv, env)
    shown = b""
    deadline = time.monotonic() + timeout

    def read() -> bool:
        nonlocal shown
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no prompt in time; the terminal showed: {shown.decode()!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the command ended
            return False
        shown += chunk
        return bool(chunk)

    try:
        for prompt, answer in dialogue:
            while prompt.encode() not in shown:
                if not read():
                    raise AssertionError(f"ended before {prompt!r}: {shown.decode()!r}")
            os.write(fd, answer.encode() + b"\r")
        while read():
            pass
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


async def test_prompts_and_questions_in_japanese(cfg: Config, ws: Workspace, spool: Path) -> None:
    set_language(cfg, "ja")
    make_calls(spool, expired=3, current=1)
    assert callrec(cfg, "index").returncode == 0
    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    base = [sys.executable, "-m", "console.cli", "--config", str(cfg.source)]
    env = environment("C.UTF-8")

    # typed confirmation: a wrong count deletes nothing, and says so in Japanese
    status, shown = in_terminal(
        [*base, "purge", str(ins.id)],
        [("運営受託者のPIN: ", "2222"), ("削除する録音の件数（3）を入力すると削除します: ", "2")],
        env,
    )
    assert status == 1 and "確認されなかったため、中止しました" in shown
    assert len(files_on_disk(spool)) == 4
    status, shown = in_terminal(
        [*base, "purge", str(ins.id)],
        [("運営受託者のPIN: ", "2222"), ("削除する録音の件数（3）を入力すると削除します: ", "3")],
        env,
    )
    assert status == 0, shown
    assert len(files_on_disk(spool)) == 1

    # a yes/no question: anything but yes issues nothing
    call = (await ws.calls.page(CallFilter(), limit=1))[0]
    status, shown = in_terminal(
        [
            *base,
            "instruct",
            "export",
            "--purpose",
            "crime-prevention",
            "--medium",
            "dvd-r",
            "--call",
            str(call.id),
        ],
        [("運用責任者のPIN: ", "1111"), ("[y=はい / N=いいえ]", "n")],
        env,
    )
    assert status == 1 and "出力指示（様式第1号）を発行しますか?  目的: 犯罪の防止、媒体: DVD-R" in shown
    assert "確認されなかったため、中止しました" in shown
    assert [i.kind for i in await ws.instructions.list()] == ["purge"]


# What the reports say, in each language: (command, phrases expected in its output). The numbers
# follow the scenario below: 3 recordings past their date (one held) and 1 current one.
REPORTS = {
    "ja": {
        "index": ["索引に 4件を追加（完了 4件、録音中 0件）", "対象外: なし"],
        "hold": ["通話 {held} を保留中（", " から）: 情報公開請求"],
        "holds": ["通話 {held} を保留中（"],
        "retention": [
            "削除できる録音: 2件 4.1 KB（最も古い録音 ",
            "期限を過ぎても削除しない録音: 1件",
            "  保留（保留理由: 情報公開請求）",
            "削除できる録音の一覧:\n",
            "廃棄時期の出力データ: 0件",
        ],
        "purge": [
            "指示 {number}: 録音 2件を削除します。4.1 KB（4096バイト）、録音日 ",
            "以前の録音が対象です（装置の時計 ",
            "削除しないもの: 1件",
            "指示 {number}: 録音 2件（4.1 KB）を削除しました（削除: 完了、指示: 完了）",
        ],
        "instructions": ["{number}  削除  完了", "  出力  発行済み", "犯罪の防止  USBメモリ  通話 1件"],
        "export": [
            "書き出し先: ",
            "通話 1件、録音 2.0 KB（USBメモリ に書き出す量 ",
            "読み返し確認済み",
            "媒体を提出書（様式第2号）とともに運用責任者に渡してください",
        ],
        "receive": ["出力データ管理簿 1 に登録しました。保存期限 "],
        "register": [
            "犯罪の防止  USBメモリ  作成 ",
            "保存中  広聴課",
            "（保存期間: 作成日の属する年度の翌年度末まで。延長したものを除く）",
        ],
        "empty": ["保留中の通話はありません", "出力データ管理簿に登録はまだありません"],
    },
    "en": {
        "index": ["indexed 4 new (4 complete, 0 recording), seen 4, missing 0 new / 0 in all, skipped: none"],
        "hold": ["call {held} held since ", ": 情報公開請求"],
        "holds": ["call {held} held since "],
        "retention": [
            "purgeable: 2 recordings, 4.1 KB, oldest recorded ",
            "blocked: 1",
            "  hold (hold: 情報公開請求)",
            "purgeable calls:\n",
            "output data due for disposal: 0",
        ],
        "purge": [
            "instruction {number}: delete 2 recordings, 4.1 KB (4096 bytes), recorded ",
            "by the real clock at ",
            "  not deleted: 1 past their date but held",
            "instruction {number}: deleted 2 recordings, 4.1 KB (finished; instruction done)",
        ],
        "instructions": ["{number}  purge  done", "  export issued", " crime-prevention usb 1 calls"],
        "export": [
            "destination: ",
            "1 calls, 2.0 KB of recordings",
            "verified",
            "hand the medium with the 提出書 (様式第2号) to the manager",
        ],
        "receive": ["registered as entry 1; kept through "],
        "register": [
            "crime-prevention ",
            " kept  広聴課",
            "(retention: 翌年度末: the end of the fiscal"
            " year after the one the output data was written in, unless extended)",
        ],
        "empty": ["no call is held", "no entries"],
    },
}


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_reports_in_the_chosen_language(
    lang: str, cfg: Config, ws: Workspace, spool: Path, tmp_path: Path
) -> None:
    set_language(cfg, "ja" if lang == "en" else None)  # --lang en wins over the configuration
    flags = ["--lang", "en"] if lang == "en" else []
    said: dict[str, str] = {}

    def run(name: str, *args: str, input: str | None = None) -> str:
        proc = callrec(cfg, *flags, *args, input=input)
        assert proc.returncode == 0, proc.stderr
        said[name] = said.get(name, "") + proc.stdout
        return proc.stdout

    old, _ = make_calls(spool, expired=3, current=1)
    run("index", "index")
    ids = {c.path: c.id for c in await ws.calls.page(CallFilter(), limit=10)}
    held = ids[old[0].relative_to(spool).as_posix()]
    current = max(ids.values())
    run("empty", "holds")
    run("empty", "register")
    run("hold", "hold", str(held), "--reason", "情報公開請求", "--pin-stdin", input="1111\n")
    run("holds", "holds")
    run("retention", "retention")

    ins = await ws.instructions.issue_purge(await manager(ws, Duty.ISSUE_INSTRUCTION))
    run("purge", "purge", str(ins.id), "--pin-stdin", input="2222\n2\n")
    assert len(files_on_disk(spool)) == 2

    export = await ws.instructions.issue_export(
        await manager(ws, Duty.ISSUE_INSTRUCTION),
        purpose="crime-prevention",
        medium="usb",
        call_ids=[current],
    )
    stick = tmp_path / "stick"
    stick.mkdir()
    run("instructions", "instructions")
    run("export", "export", export.number, "--dir", str(stick), "--pin-stdin", "--yes", input="2222\n")
    run("receive", "receive", export.number, "--custodian", "広聴課", "--pin-stdin", "--yes", input="1111\n")
    run("register", "register")

    for name, phrases in REPORTS[lang].items():
        for phrase in phrases:
            expected = phrase.format(held=held, number=ins.number)
            assert expected in said[name], (name, expected, said[name])
    if lang == "ja":  # no English report line slipped through
        for name in ("retention", "purge", "register", "instructions", "holds"):
            assert not re.search(r"\b(kept through|recordings|instruction|held since)\b", said[name]), said[
                name
            ]


def test_columns_line_up_in_either_language() -> None:
    from console.commands.common import cells

    assert cells("着信", 8) == "着信    " and cells("in", 8) == "in      "
    assert cells("パーク", 4) == "パーク"  # wider than the column: never cut
    rows = [f"{cells(kind, 8)}|" for kind in ("着信", "パーク", "internal")]
    assert len({sum(2 if ord(ch) > 0x2E7F else 1 for ch in row) for row in rows}) == 1
