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

from conftest import ROOT
from retention_support import files_on_disk, make_calls, manager

from services.calls import CallFilter
from services.config import Config
from services.duties import Duty
from services.workspace import Workspace


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


def callrec(cfg: Config, *args: str, lang: str = "C.UTF-8",
            input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "--config", str(cfg.source), *args],
                          input=input, capture_output=True, text=True, cwd=ROOT,
                          env=environment(lang), timeout=120)


def wrong_pin(cfg: Config, *flags: str, lang: str = "C.UTF-8", operator: bool = False) -> str:
    """The line for a wrong manager's (or operator's) PIN."""
    command = ["purge", "1"] if operator else ["instruct", "purge"]
    proc = callrec(cfg, *flags, *command, "--pin-stdin", lang=lang, input="9999\n")
    assert proc.returncode == 1 and proc.stdout == ""
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
    assert wrong_pin(cfg, lang="ja_JP.UTF-8", operator=True).startswith(
        "callrec: Wrong Operator PIN")
    # --lang wins
    assert wrong_pin(cfg, "--lang", "ja", operator=True).startswith("callrec: PINが違います")


def test_a_database_failure_is_one_line_in_japanese(cfg: Config) -> None:
    set_language(cfg, "ja")
    cfg.data.mkdir()
    (cfg.data / "callrec.db").write_bytes(b"not a database" * 100)
    proc = callrec(cfg, "calls")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("callrec: データの保存先の問題: ")


def in_terminal(argv: list[str], dialogue: list[tuple[str, str]], env: dict[str, str],
                timeout: float = 60) -> tuple[int, str]:
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
    status, shown = in_terminal([*base, "purge", str(ins.id)],
                                [("運営受託者のPIN: ", "2222"),
                                 ("削除する録音の件数（3）を入力すると削除します: ", "2")], env)
    assert status == 1 and "確認されなかったため、中止しました" in shown
    assert len(files_on_disk(spool)) == 4
    status, shown = in_terminal([*base, "purge", str(ins.id)],
                                [("運営受託者のPIN: ", "2222"),
                                 ("削除する録音の件数（3）を入力すると削除します: ", "3")], env)
    assert status == 0, shown
    assert len(files_on_disk(spool)) == 1

    # a yes/no question: anything but yes issues nothing
    call = (await ws.calls.page(CallFilter(), limit=1))[0]
    status, shown = in_terminal(
        [*base, "instruct", "export", "--purpose", "crime-prevention", "--medium", "dvd-r",
         "--call", str(call.id)],
        [("運用責任者のPIN: ", "1111"), ("[y=はい / N=いいえ]", "n")], env)
    assert status == 1 and "出力指示（様式第1号）を発行しますか?  目的: 犯罪の防止、媒体: DVD-R" in shown
    assert "確認されなかったため、中止しました" in shown
    assert [i.kind for i in await ws.instructions.list()] == ["purge"]
