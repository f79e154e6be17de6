"""No traceback, ever: every subcommand of the real parser, run in-process by `main()` against a
real demo workspace (a throwaway copy per example), with option values drawn from what breaks
parsers (huge and negative integers, year-1 and year-9999 dates, 12/02, unicode, control
characters) and no input on stdin (PIN prompts must fail cleanly)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import cli
from console.commands import common
from console.exits import Exit
from demo_data.workspace import build
from services.core.clock import JST
from tests.support.workspace import ROOT

# Runs until it is signalled (a service unit's indexer): nothing to fuzz that `index` does not.
SKIPPED = {("indexer",)}
NOW = datetime(2026, 11, 24, 18, 30, tzinfo=JST)
MOST_LINES_ON_ERROR = 3


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every subcommand (nested ones too: `audit list`, `instruct export`) with its parser."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaves(child, (*path, name))


PARSER = cli.build_parser()
COMMANDS = sorted(c for c in leaves(PARSER) if c[0] and c[0] not in SKIPPED)

HUGE = st.sampled_from(
    [
        "99999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1" + "0" * 400,
        "-1",
        "0",
        "-0",
        "1e9",
        "0x10",
    ]
)
DATES = st.sampled_from(
    [
        "0001-01-01",
        "9999-12-31",
        "12/02",
        "2026-02-30",
        "2026-13-01",
        "1969-12-31",
        "2026-09-07",
        "2026-09-07T09:30",
        "2026-09-07T25:00",
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00-12:00",
        "20260907",
        "2026-W01-1",
        "yesterday",
        "",
    ]
)
GARBAGE = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
ODD = st.sampled_from(
    [
        "\x1b[31mred",
        "\u202eevil",
        "line1\nline2",
        "　",
        "０９０１２３４",
        "--",
        "-",
        "../../etc/passwd",
        "/",
        "090-1234-5678",
        "+819012345678",
    ]
)
# Options naming a file, a folder or a drive: always somewhere inside the example's folder (the
# tests run as whoever runs them; `backup /` or `init --data /` must not write outside it).
PATH_DESTS = {"out", "dir", "device", "html", "spool", "data", "dest", "config"}
VALUE = st.one_of(HUGE, DATES, GARBAGE, ODD, st.integers(-5, 200).map(str))
# Values that pass the parser, so that the services get to see the hostile ones beside them.
PLAUSIBLE = st.sampled_from(
    [
        "1",
        "2",
        "3",
        "28",
        "2026-0001",
        "2026-0002",
        "2026-09-07",
        "2026-11-01",
        "2026-12-31",
        "2026-09-07T09:30",
        "x",
        "理由",
    ]
)


def inside(value: str) -> str:
    return "here/" + value.replace("/", "_").replace("..", "_") if value else value


def option_values(action: argparse.Action) -> st.SearchStrategy[list[str]]:
    if action.nargs == 0:
        return st.just([])
    values: st.SearchStrategy[str] = st.one_of(PLAUSIBLE, PLAUSIBLE, VALUE)
    if action.dest in PATH_DESTS or action.type is Path:
        values = values.map(inside)
    if action.choices:
        choices = st.sampled_from(sorted(map(str, action.choices)))
        values = st.one_of(choices, choices, choices, VALUE)
    if action.nargs == "?":
        return st.one_of(st.just([]), values.map(lambda v: [v]))
    return values.map(lambda v: [v])


@st.composite
def command_lines(draw: st.DrawFn, pin: bool = False) -> list[str]:
    """A subcommand with a draw of its options (`pin`: with --pin-stdin when it has one)."""
    path, parser = draw(st.sampled_from(COMMANDS))
    argv: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:  # a positional: usually given, sometimes left out
            if draw(st.integers(0, 9)) > 0:
                argv += draw(option_values(action))
            continue
        wanted = action.required or (pin and "--pin-stdin" in action.option_strings)
        if wanted or draw(st.integers(0, 3)) == 0:
            argv += [draw(st.sampled_from(action.option_strings)), *draw(option_values(action))]
    lang = draw(st.sampled_from([[], ["--lang", "en"], ["--lang", "ja"]]))
    return [*lang, *path, *argv]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "demo"
    asyncio.run(build(root, today=NOW.date(), now=NOW, calls=20))
    return root


@contextlib.contextmanager
def throwaway(template: Path) -> Iterator[Path]:
    """A copy of the demo workspace (its configuration pointing at the copy), the current folder
    for the example: whatever a command writes goes there and is gone after."""
    with tempfile.TemporaryDirectory(prefix="callrec-fuzz-") as tmp:
        root = Path(tmp) / "demo"
        shutil.copytree(template, root, copy_function=shutil.copy2)
        config = root / "config.toml"
        config.write_text(
            config.read_text(encoding="utf-8").replace(str(template), str(root)), encoding="utf-8"
        )
        before = Path.cwd()
        os.chdir(tmp)
        try:
            yield config
        finally:
            os.chdir(before)


def run(argv: list[str], stdin: str | None = "") -> tuple[int, str, str]:
    """`main(argv)` in this process, stdin no terminal (empty unless given; None: closed, as
    Python has it when file descriptor 0 is): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    common._stdin_lines = None  # what an earlier example read from stdin
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin) if stdin is not None else None  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: object = cli.main(argv)
            except SystemExit as exc:  # argparse: usage errors, --help
                code = exc.code if exc.code is not None else 0
    finally:
        sys.stdin = saved
        common._stdin_lines = None
    assert isinstance(code, int), (argv, code)
    return code, out.getvalue(), err.getvalue()


def assert_clean(argv: list[str], code: int, err: str) -> None:
    assert "Traceback" not in err, (argv, err)
    assert "unexpected failure" not in err and "予期しない失敗" not in err, (argv, err)
    if code != 0:
        assert 0 < len(err.splitlines()) <= MOST_LINES_ON_ERROR, (argv, err)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines(), stdin=st.sampled_from(["", None]))
def test_every_subcommand_fails_in_one_line(template: Path, argv: list[str], stdin: str | None) -> None:
    with throwaway(template) as config:
        full = ["--config", str(config), *argv]
        code, _, err = run(full, stdin)
        assert_clean(full, code, err)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines(pin=True), stdin=st.sampled_from(["1111\n", "2222\n", "1111\n28\n", "9\n"]))
def test_every_subcommand_past_the_pin_fails_in_one_line(template: Path, argv: list[str], stdin: str) -> None:
    """The same with a PIN on stdin (the demo's manager 1111, operator 2222, or a wrong one),
    so the values reach the services: each example has its own copy to change."""
    with throwaway(template) as config:
        full = ["--config", str(config), *argv]
        code, _, err = run(full, stdin)
        assert_clean(full, code, err)


ISSUE_CASES = [
    (["calls", "--limit", "99999999999999999999"], "--limit"),
    (["retention", "--as-of", "0001-01-01"], "--as-of"),
    (["hold", "99999999999999999999999", "--reason", "x"], "CALL_ID"),
    (["calls", "--from", "12/02"], "--from"),
    (["retention", "--as-of", "9999-12-31T23:59:59"], "--as-of"),
    (["deletions", "--from", "0001-01-01", "--to", "9999-12-31"], "--from"),
    (["audit", "list", "--limit", "-1"], "--limit"),
]


@pytest.mark.parametrize(("args", "names"), ISSUE_CASES)
def test_the_issues_cases_are_usage_errors(template: Path, args: list[str], names: str) -> None:
    with throwaway(template) as config:
        code, out, err = run(["--lang", "en", "--config", str(config), *args])
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and names in err and "Traceback" not in err


def test_a_huge_id_that_fits_is_not_found(template: Path) -> None:
    with throwaway(template) as config:
        code, _, err = run(
            [
                "--lang",
                "en",
                "--config",
                str(config),
                "hold",
                "9223372036854775807",
                "--reason",
                "x",
                "--pin-stdin",
            ]
        )
    assert code == Exit.USAGE and len(err.splitlines()) == 1  # no PIN on stdin: refused before anything


@pytest.mark.parametrize(
    "nested", ["a = " + "[" * 10000 + "]" * 10000, "x = " + "{a = " * 10000 + "1" + "}" * 10000]
)
def test_a_deeply_nested_configuration_is_one_line(tmp_path: Path, nested: str) -> None:
    config = tmp_path / "deep.toml"
    config.write_text(nested + "\n", encoding="utf-8")
    for args in (["calls"], ["audit", "verify"], ["retention"]):
        code, out, err = run(["--lang", "en", "--config", str(config), *args])
        assert code == Exit.CONFIG and out == ""
        assert err.splitlines() == [f"callrec: {config}: not valid TOML: {err.split('TOML: ')[1].strip()}"]
        assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["calls", "--reveal"],
        ["audit", "list"],
        ["purge", "2", "--pin-stdin"],
        ["dispose", "1", "--method", "x", "--witness", "y"],
    ],
)
def test_a_closed_stdin_is_no_terminal(template: Path, args: list[str]) -> None:
    """The real command with file descriptor 0 closed: the PIN cannot be asked, one line."""
    with throwaway(template) as config:
        proc = subprocess.run(
            [sys.executable, "-m", "console.cli", "--lang", "en", "--config", str(config), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            preexec_fn=lambda: os.close(0),
        )
    assert proc.returncode == Exit.USAGE and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "PIN" in proc.stderr
