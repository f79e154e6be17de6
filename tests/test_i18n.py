"""Catalogues: complete in both languages, every key the code uses exists, errors by code."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from console import i18n
from console.i18n import (
    LANGUAGES,
    Catalogue,
    CatalogueError,
    choose_language,
    language_from_env,
    load_language,
)
from screens.calls.filters import BadDate, parse_day
from screens.widgets.text import fit, fit_tail, mask_digits_in, width_of
from services.access.audit import Head
from services.core.clock import JST
from services.core.errors import CallrecError, LockedOut, NotPermitted, WrongPin
from tests.support.workspace import ROOT


def test_both_languages_have_the_same_keys() -> None:
    ja, en = Catalogue("ja").strings, Catalogue("en").strings
    # English may leave an error code to the service's own English message; nothing else.
    assert {k for k in ja if not k.startswith("error.")} == {k for k in en if not k.startswith("error.")}
    assert set(en) <= set(ja)


def _keys_used_in_code(sections: set[str]) -> set[str]:
    """Every string literal in console/ and screens/ that looks like a catalogue key (docstrings
    aside): t("lock.title"), Binding(..., "key.lock"), Column(..., "calls.col.start"), ..."""
    key = re.compile(r"^[a-z_]+(\.[a-z0-9_-]+)+$")
    found: set[str] = set()
    for folder in ("console", "screens"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and key.match(node.value)
                    and node.value.split(".")[0] in sections
                    and not node.value.endswith((".tcss", ".toml", ".py"))
                ):
                    found.add(node.value)
    return found


def test_every_key_the_code_uses_exists() -> None:
    ja, en = Catalogue("ja"), Catalogue("en")
    used = _keys_used_in_code({k.split(".")[0] for k in ja.strings})
    assert len(used) > 150

    def present(cat: Catalogue, k: str) -> bool:  # a string, or a section of title and body
        return k in cat.strings or (f"{k}.title" in cat.strings and f"{k}.body" in cat.strings)

    missing = sorted(k for k in used if not present(ja, k) or not (present(en, k) or en.has(k)))
    assert not missing


def test_the_loader_reads_every_file_of_a_language(tmp_path: Path) -> None:
    for lang in ("ja", "en"):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "core.toml").write_text('[a]\nx = "core"\n', encoding="utf-8")
    (tmp_path / "ja" / "export.toml").write_text('[export]\ny = "出力 {n}件"\n', encoding="utf-8")
    cat = Catalogue("ja", tmp_path)
    assert cat.t("a.x") == "core"
    assert cat.t("export.y", n=3) == "出力 3件"
    assert Catalogue("en", tmp_path).t("export.y") == "export.y"  # missing: the key itself
    (tmp_path / "ja" / "other.toml").write_text('[a]\nx = "again"\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match="defined twice"):
        Catalogue("ja", tmp_path)
    (tmp_path / "ja" / "other.toml").write_text("[a\n", encoding="utf-8")
    with pytest.raises(CatalogueError):
        Catalogue("ja", tmp_path)


def test_english_fills_in_for_a_missing_japanese_string(tmp_path: Path) -> None:
    for lang in ("ja", "en"):
        (tmp_path / lang).mkdir()
    (tmp_path / "en" / "core.toml").write_text('only = "English"\n', encoding="utf-8")
    assert Catalogue("ja", tmp_path).t("only") == "English"


def test_service_errors_are_translated_by_code() -> None:
    ja, en = Catalogue("ja"), Catalogue("en")
    wrong = WrongPin("wrong PIN for the operator (3 attempts left)", role="operator", remaining=3)
    assert ja.error(wrong) == "PINが違います（あと3回誤るとロックされます）。"
    until = datetime(2026, 11, 24, 10, 5, 30, tzinfo=JST).isoformat()
    locked = LockedOut("the manager is locked out until 10:05:30", role="manager", until=until)
    assert ja.error(locked) == "PINの誤りが続いたため、運用責任者は 10:05:30 までロック中です。"
    assert "until 10:05:30" in en.error(locked)
    refused = NotPermitted("the operator may not hold", role="operator", duty="hold")
    assert ja.error(refused) == "運営受託者は「削除の保留」を行えません。"
    odd = CallrecError("something new went wrong", code="brand_new_code")
    assert ja.error(odd) == en.error(odd) == "something new went wrong"
    generic = CallrecError("/x: disk full", code="storage")
    assert ja.error(generic) == "データの保存先の問題: /x: disk full"
    assert en.error(generic) == "/x: disk full"
    with pytest.raises(CallrecError) as caught:
        Head.parse("12:abc")
    assert ja.error(caught.value).startswith("監査ログの照合に使う値の形が正しくありません。")


# -- every error code raised has a Japanese line ------------------------------------------------

RAISING_FOLDERS = ("services", "console", "screens", "demo_data")


class _AnyValue:
    """A param whose value the source does not show: takes any format spec, attribute or index."""

    def __format__(self, spec: str) -> str:
        return "·"

    def __getattr__(self, name: str) -> _AnyValue:
        return self

    def __getitem__(self, key: object) -> _AnyValue:
        return self


@dataclass(frozen=True)
class RaiseSite:
    where: str  # path:line
    code: str | None  # None: the source does not say which code
    params: dict[str, Any]  # literal values as written, _AnyValue otherwise


def _parsed_sources() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"))
        for folder in RAISING_FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def _error_classes(trees: dict[str, ast.Module]) -> dict[str, str]:
    """CallrecError and every subclass defined in the sources, with its class-level code."""
    found: dict[str, tuple[list[str], str | None]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                code = next(
                    (
                        s.value.value
                        for s in node.body
                        if isinstance(s, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)
                        and isinstance(s.value, ast.Constant)
                    ),
                    None,
                )
                found[node.name] = (bases, code)
    classes = {"CallrecError": "error"}
    grew = True
    while grew:
        grew = False
        for name, (bases, code) in found.items():
            parent = next((b for b in bases if b in classes), None)
            if name not in classes and parent is not None:
                classes[name] = code or classes[parent]
                grew = True
    return classes


def _codes_of(value: ast.expr, tree: ast.Module) -> list[str | None]:
    """The code(s) a `code=` argument can be: a literal, or a local name assigned literals
    (`code = "a" if x else "b"`). [None] when the source does not tell."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, ast.Name):
        assigned = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)
        ]
        literals = [
            [c.value for c in ast.walk(v) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            for v in assigned
        ]
        if assigned and all(literals):
            return [code for group in literals for code in group]
    return [None]


def _raise_sites() -> list[RaiseSite]:
    """Every construction of a CallrecError (or subclass) in the sources: raised, returned or
    kept, with the code it carries and the params it passes."""
    trees = _parsed_sources()
    classes = _error_classes(trees)
    sites: list[RaiseSite] = []
    for path, tree in trees.items():
        aliases = {
            a.asname: a.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for a in node.names
            if a.asname and a.name in classes
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            name = aliases.get(name, name)
            if name not in classes:
                continue
            params: dict[str, Any] = {}
            codes: list[str | None] = [classes[name]]
            for kw in node.keywords:
                if kw.arg == "code":
                    codes = _codes_of(kw.value, tree)
                elif kw.arg is not None:
                    literal = isinstance(kw.value, ast.Constant) and kw.value.value is not None
                    params[kw.arg] = kw.value.value if literal else _AnyValue()
            sites += [RaiseSite(f"{path}:{node.lineno}", code, params) for code in codes]
    return sites


SITES = _raise_sites()


def test_the_raise_sites_are_found() -> None:
    codes = {s.code for s in SITES}
    assert len(SITES) > 150 and len(codes) > 90
    # a class-level code, one chosen by a conditional, and one from each folder
    assert {
        "pin_wrong",
        "destination_readonly",
        "destination_denied",
        "not_confirmed",
        "bad_purpose",
        "demo_folder_busy",
    } <= codes
    unknown = [s.where for s in SITES if s.code is None]
    assert not unknown, f"say the code as a literal (or extend this test): {unknown}"


def test_every_error_code_raised_has_a_japanese_line() -> None:
    ja = load_language("ja")
    missing = sorted({f"{s.code} ({s.where})" for s in SITES if f"error.{s.code}" not in ja})
    assert not missing, f"add these to console/locale/ja/*.toml [error]: {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_error_line_formats_with_the_params_its_raise_sites_pass(lang: str) -> None:
    """Through Catalogue.error, the real path: a placeholder the raise site does not pass would
    make it fall back to the English message, here a sentinel."""
    own = load_language(lang)
    cat = Catalogue(lang)
    sentinel = "\x00the English message"
    broken = []
    for site in SITES:
        template = own.get(f"error.{site.code}")
        if template is None:
            continue
        said = cat.error(CallrecError(sentinel, code=site.code, **site.params))
        if said == sentinel:
            broken.append(f"{site.where} passes {sorted(site.params)}; error.{site.code} = {template!r}")
    assert not broken


def test_language_choice() -> None:
    assert choose_language("en", "ja", {"LANG": "ja_JP.UTF-8"}) == "en"
    assert choose_language(None, "en", {"LANG": "ja_JP.UTF-8"}) == "en"
    assert choose_language(None, None, {"LANG": "en_US.UTF-8"}) == "en"
    assert choose_language(None, None, {"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}) == "ja"
    assert choose_language(None, None, {"LANG": "C.UTF-8"}) == "ja"  # Japanese first
    assert choose_language(None, None, {}) == "ja"
    assert language_from_env({"LANG": "fr_FR.UTF-8"}) is None


def test_active_language_switches() -> None:
    i18n.use("en")
    assert i18n.t("view.calls") == "Calls"
    i18n.use("ja")
    assert i18n.t("view.calls") == "通話一覧"
    assert i18n.t("no.such.key") == "no.such.key"


def test_cells_count_cjk_as_two() -> None:
    assert width_of("通話一覧") == 8
    assert fit("通話一覧", 8) == "通話一覧"
    assert width_of(fit("通話一覧", 5)) == 5 and fit("通話一覧", 5).endswith("…")
    assert fit("録音中", 9) == "録音中   "
    assert fit("12", 5, align="right") == "   12"
    assert fit("a\x1b[2Jb", 20).startswith("a\\x1b[2Jb")  # escaped, then fitted
    assert fit_tail("/var/spool/asterisk/monitor", 12) == "…isk/monitor"
    assert width_of(fit_tail("/データ/録音/spool", 9)) <= 9


def test_mask_digits_in_a_file_name() -> None:
    name = "in-0488291111-08011112222-20261111-165959-1794383999.1.wav"
    assert mask_digits_in(name, "08011112222") == name.replace("08011112222", "•••••••2222")
    plus = "in-0488291111-+818011112222-20261111-165959-1.wav"
    assert "8011112222" not in mask_digits_in(plus, "08011112222")
    assert mask_digits_in(name, None) == name


def test_dates_typed_into_the_filter() -> None:
    today = date(2026, 1, 10)
    assert parse_day("2026-11-24", today) == date(2026, 11, 24)
    assert parse_day("２０２６／１１／２４", today) == date(2026, 11, 24)
    assert parse_day("20261124", today) == date(2026, 11, 24)
    assert parse_day("2026年11月24日", today) == date(2026, 11, 24)
    assert parse_day("1/5", today) == date(2026, 1, 5)
    assert parse_day("11/24", today) == date(2025, 11, 24)  # not in the future
    assert parse_day("今日", today) == today
    assert parse_day("yesterday", today) == date(2026, 1, 9)
    assert parse_day("  ", today) is None
    for bad in ("2026-1", "2026-02-30", "abc", "13/40"):
        with pytest.raises(BadDate):
            parse_day(bad, today)


def test_states_in_errors_are_named_in_the_language() -> None:
    busy = CallrecError(
        "instruction 2026-0003 is in_progress",
        code="not_cancellable",
        number="2026-0003",
        state="in_progress",
    )
    assert Catalogue("ja").error(busy) == "指示 2026-0003 は取り消せません（状態: 実行中）。"
    assert "in_progress" not in Catalogue("en").error(busy).replace(busy.message, "")
