"""Interface strings: catalogues per language, read from every TOML file in console/locale/<lang>/.

Each area keeps its own file (core.toml, export.toml, ...), so adding strings never touches another
area's file. Tables nest: `[lock] title = "..."` is the key `lock.title`. Values are str.format
templates (`{remaining}`); a key missing from a language falls back to English, then to the key.

Service errors are translated by their stable code: `error.<code>` formatted with the error's
params, the English message when the catalogue has no such entry.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from services.core import CallrecError

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
FALLBACK_LANGUAGE = "en"


class CatalogueError(Exception):
    """A catalogue file that is not valid TOML, or a key defined twice."""


def _flatten(table: Mapping[str, Any], prefix: str, out: dict[str, str], source: Path) -> None:
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{full}.", out, source)
        elif isinstance(value, str):
            if full in out:
                raise CatalogueError(f"{source}: {full} is defined twice")
            out[full] = value
        else:
            raise CatalogueError(f"{source}: {full} must be a string")


def load_language(lang: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    """Every string of one language, from all the TOML files of its folder (sorted by name)."""
    out: dict[str, str] = {}
    folder = locale_dir / lang
    for path in sorted(folder.glob("*.toml")):
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CatalogueError(f"{path}: {exc}") from exc
        _flatten(doc, "", out, path)
    return out


class Catalogue:
    def __init__(self, lang: str, locale_dir: Path = LOCALE_DIR) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        self.lang = lang
        self.strings = load_language(lang, locale_dir)
        self.fallback = (
            self.strings if lang == FALLBACK_LANGUAGE else load_language(FALLBACK_LANGUAGE, locale_dir)
        )

    def has(self, key: str) -> bool:
        return key in self.strings or key in self.fallback

    def template(self, key: str) -> str | None:
        return self.strings.get(key, self.fallback.get(key))

    def t(self, key: str, /, **params: Any) -> str:
        template = self.template(key)
        if template is None:
            return key
        if not params:
            return template
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            return template

    def error(self, exc: CallrecError) -> str:
        """One line for a service failure, in this language when the code is catalogued."""
        template = self.template(f"error.{exc.code}")
        if template is None:
            return exc.message
        params = self._error_params({"message": exc.message, **exc.params})
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError, TypeError):
            return exc.message

    def _error_params(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, value in raw.items():
            if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and "T" in value:
                with contextlib.suppress(ValueError):
                    value = datetime.fromisoformat(value)
            params[name] = value
        if "role" in params:
            params["role_name"] = self.t(f"role.{params['role']}")
        if "duty" in params:
            params["duty_name"] = self.t(f"duty.{params['duty']}")
        state = params.get("state")
        if isinstance(state, str):  # an instruction's or a call's state (their names never overlap)
            key = next((k for k in (f"ins.state.{state}", f"state.{state}") if self.has(k)), None)
            params["state"] = self.t(key) if key else state
        return params


_active: Catalogue | None = None


def use(lang: str) -> Catalogue:
    """Make `lang` the language of t() and tr_error() for this process."""
    global _active
    if _active is None or _active.lang != lang:
        _active = Catalogue(lang)
    return _active


def active() -> Catalogue:
    return _active if _active is not None else use(DEFAULT_LANGUAGE)


def t(key: str, /, **params: Any) -> str:
    """The active language's string for `key` (see Catalogue.t)."""
    return active().t(key, **params)


def tr_error(exc: CallrecError) -> str:
    return active().error(exc)


def language_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """ja or en from LC_ALL / LC_MESSAGES / LANG (the first one set), else None."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in LANGUAGES else None
    return None


def configured_language(config_file: Path | None) -> str | None:
    """console.language when the configuration file sets it, else None (the setting's default
    leaves the choice to the locale)."""
    if config_file is None:
        return None
    try:
        doc = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return None
    console = doc.get("console")
    value = console.get("language") if isinstance(console, dict) else None
    return value if isinstance(value, str) else None


def choose_language(
    flag: str | None, configured: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """--lang wins, then the configuration's console.language, then the locale, then Japanese."""
    for candidate in (flag, configured, language_from_env(environ)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
