"""Configuration: one TOML file, validated key by key.

Found from --config, else $CALLREC_CONFIG, else the platform's config folder. A malformed file, an
unknown key or a bad value raises ConfigError naming the file and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import tomli_w

from services.core import phone
from services.core.errors import ConfigError
from services.core.phone import CallerId, NumberPlan

PATTERN_REQUIRED = ("date", "time", "city", "other")  # the groups a `pattern` layout must name

ENV_VAR = "CALLREC_CONFIG"
LAYOUTS = ("freepbx", "pattern")
LANGUAGES = ("ja", "en")
ROLES = ("manager", "operator")
LOG_LEVELS = ("debug", "info", "warning", "error")
WATCH_KINDS = ("native", "poll")  # poll: a network spool where inotify sees nothing


@dataclass(frozen=True)
class Centre:
    """Facts about the centre used by the public notice and forms (第3条7, 様式第2号)."""

    name: str = "さいたまコールセンター"
    name_en: str = "Saitama Call Centre"
    phone: str = "048-835-3156"
    manager_title: str = "広聴課長"
    contractor: str = "運営受託者"
    published: str = "2026-04-01"
    announcement: str = "この通話は、適正な業務の執行のため録音させていただきます。"
    announcement_en: str = "This call is recorded to ensure proper administration."


@dataclass(frozen=True)
class Config:
    spool: Path
    data: Path
    layout: str = "freepbx"
    pattern: str | None = None
    own_numbers: tuple[str, ...] = ()  # the centre's numbers besides centre.phone, as written
    extension_pattern: str = "[0-9]{2,6}"  # what the centre's extensions look like
    outside_line_prefix: str = ""  # dialled before outside numbers (0 on many PBXs), if any
    timezone: str = "Asia/Tokyo"
    settle_seconds: float = 5.0
    idle_lock_minutes: float = 5.0
    media_device: str = "/dev/sr0"
    language: str = "ja"
    kiosk: bool = True
    default_role: str = "operator"
    raw_grace_days: int = 0
    log_level: str = "info"
    watch: str = "native"
    printer: str = ""  # the CUPS queue; empty: the server's default destination
    centre: Centre = field(default_factory=Centre)
    source: Path | None = None  # the file this came from; not a key

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def numbers(self) -> NumberPlan:
        """The centre's own side, as the layouts need it to tell the parties of a call apart."""
        own = [phone.normalize(n)[0] for n in (*self.own_numbers, self.centre.phone)]
        return NumberPlan(tuple(n for n in own if n), self.extension_pattern, self.outside_line_prefix)

    @property
    def database(self) -> Path:
        return self.data / "callrec.db"

    @property
    def keys_dir(self) -> Path:
        return self.data / "keys"

    @property
    def exports_dir(self) -> Path:
        return self.data / "exports"

    @property
    def journals_dir(self) -> Path:
        return self.data / "journals"


# TOML layout: section -> key -> Config attribute
_SECTIONS: dict[str, dict[str, str]] = {
    "paths": {"spool": "spool", "data": "data"},
    "spool": {
        "layout": "layout",
        "pattern": "pattern",
        "own_numbers": "own_numbers",
        "extension_pattern": "extension_pattern",
        "outside_line_prefix": "outside_line_prefix",
        "settle_seconds": "settle_seconds",
        "timezone": "timezone",
        "watch": "watch",
    },
    "console": {
        "language": "language",
        "idle_lock_minutes": "idle_lock_minutes",
        "kiosk": "kiosk",
        "default_role": "default_role",
    },
    "media": {"device": "media_device"},
    "retention": {"raw_grace_days": "raw_grace_days"},
    "log": {"level": "log_level"},
    "print": {"printer": "printer"},
}
_CENTRE_KEYS = {f.name for f in fields(Centre)}


def default_path() -> Path:
    return Path(platformdirs.user_config_dir("callrec")) / "config.toml"


def resolve_path(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else default_path()


def load(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no configuration file (run `callrec init` or pass --config)",
            code="config_missing",
            path=str(path),
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", path=str(path)) from None
    except RecursionError:
        raise ConfigError(
            f"{path}: not valid TOML: tables or arrays nested too deeply", path=str(path)
        ) from None
    return parse(doc, path)


def parse(doc: dict[str, Any], path: Path) -> Config:
    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {why}", path=str(path), key=key)

    values: dict[str, Any] = {}
    centre: dict[str, str] = {}
    for section, body in doc.items():
        if section == "centre":
            if not isinstance(body, dict):
                raise fail(section, "must be a table")
            for key, value in body.items():
                if key not in _CENTRE_KEYS:
                    raise fail(f"centre.{key}", "unknown key")
                if not isinstance(value, str):
                    raise fail(f"centre.{key}", "must be a string")
                centre[key] = value
            continue
        if section not in _SECTIONS:
            raise fail(section, "unknown key")
        if not isinstance(body, dict):
            raise fail(section, "must be a table")
        for key, value in body.items():
            if key not in _SECTIONS[section]:
                raise fail(f"{section}.{key}", "unknown key")
            values[_SECTIONS[section][key]] = (f"{section}.{key}", value)

    def take(attr: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if attr not in values:
            return default
        key, value = values[attr]
        if isinstance(value, bool) and kind is not bool:
            raise fail(key, f"must be {_kind_name(kind)}")
        if not isinstance(value, kind):
            raise fail(key, f"must be {_kind_name(kind)}")
        return value

    spool = take("spool", str)
    data = take("data", str)
    if not spool:
        raise fail("paths.spool", "missing")
    if not data:
        raise fail("paths.data", "missing")
    base = path.parent
    cfg = Config(spool=(base / spool).resolve(), data=(base / data).resolve(), source=path)

    layout = take("layout", str, cfg.layout)
    if layout not in LAYOUTS:
        raise fail("spool.layout", f"must be one of {', '.join(LAYOUTS)}")
    pattern = take("pattern", str)
    if layout == "pattern":
        if not pattern:
            raise fail("spool.pattern", 'required when layout = "pattern"')
        _check_pattern(pattern, fail)
    own_numbers = take("own_numbers", list, [])
    for number in own_numbers:
        if not isinstance(number, str) or phone.normalize(number)[1] is not CallerId.NUMBER:
            raise fail("spool.own_numbers", f"not a telephone number: {number!r}")
    extension_pattern = take("extension_pattern", str, cfg.extension_pattern)
    try:
        if re.fullmatch(extension_pattern, ""):
            raise fail("spool.extension_pattern", "must not match an empty number")
    except re.error as exc:
        raise fail("spool.extension_pattern", f"not a valid regular expression: {exc}") from None
    prefix = take("outside_line_prefix", str, cfg.outside_line_prefix)
    if not (prefix == "" or (prefix.isascii() and prefix.isdigit() and len(prefix) <= 4)):
        raise fail("spool.outside_line_prefix", "must be 1 to 4 digits, or empty")
    timezone = take("timezone", str, cfg.timezone)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("spool.timezone", f"unknown time zone {timezone!r}") from None
    settle = float(take("settle_seconds", (int, float), cfg.settle_seconds))
    if not 0 <= settle <= 3600:
        raise fail("spool.settle_seconds", "must be between 0 and 3600")
    language = take("language", str, cfg.language)
    if language not in LANGUAGES:
        raise fail("console.language", f"must be one of {', '.join(LANGUAGES)}")
    idle = float(take("idle_lock_minutes", (int, float), cfg.idle_lock_minutes))
    if not 0.1 <= idle <= 240:
        raise fail("console.idle_lock_minutes", "must be between 0.1 and 240")
    role = take("default_role", str, cfg.default_role)
    if role not in ROLES:
        raise fail("console.default_role", f"must be one of {', '.join(ROLES)}")
    grace = take("raw_grace_days", int, 0)
    if not 0 <= grace <= 366:
        raise fail("retention.raw_grace_days", "must be between 0 and 366")
    log_level = take("log_level", str, cfg.log_level)
    if log_level not in LOG_LEVELS:
        raise fail("log.level", f"must be one of {', '.join(LOG_LEVELS)}")
    watch = take("watch", str, cfg.watch)
    if watch not in WATCH_KINDS:
        raise fail("spool.watch", f"must be one of {', '.join(WATCH_KINDS)}")
    printer = take("printer", str, cfg.printer)
    if printer.startswith("-") or any(c.isspace() or not c.isprintable() for c in printer):
        raise fail("print.printer", "not a printer name")
    return replace(
        cfg,
        log_level=log_level,
        watch=watch,
        printer=printer,
        layout=layout,
        pattern=pattern,
        own_numbers=tuple(own_numbers),
        extension_pattern=extension_pattern,
        outside_line_prefix=prefix,
        timezone=timezone,
        settle_seconds=settle,
        idle_lock_minutes=idle,
        media_device=take("media_device", str, cfg.media_device),
        language=language,
        kiosk=take("kiosk", bool, cfg.kiosk),
        default_role=role,
        raw_grace_days=grace,
        centre=Centre(**centre),
    )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}
    if isinstance(kind, tuple):
        return " or ".join(names[k] for k in kind if k is not int or float not in kind)
    return names[kind]


def _check_pattern(pattern: str, fail: Any) -> None:
    try:
        groups = set(re.compile(pattern).groupindex)
    except re.error as exc:
        raise fail("spool.pattern", f"not a valid regular expression: {exc}") from None
    missing = [g for g in PATTERN_REQUIRED if g not in groups]
    if missing:
        raise fail("spool.pattern", f"missing named groups: {', '.join(missing)}")


def to_toml(cfg: Config) -> str:
    doc: dict[str, Any] = {
        "paths": {"spool": str(cfg.spool), "data": str(cfg.data)},
        "spool": {
            "layout": cfg.layout,
            "own_numbers": list(cfg.own_numbers),
            "extension_pattern": cfg.extension_pattern,
            "outside_line_prefix": cfg.outside_line_prefix,
            "settle_seconds": cfg.settle_seconds,
            "timezone": cfg.timezone,
            "watch": cfg.watch,
        },
        "console": {
            "language": cfg.language,
            "idle_lock_minutes": cfg.idle_lock_minutes,
            "kiosk": cfg.kiosk,
            "default_role": cfg.default_role,
        },
        "media": {"device": cfg.media_device},
        "retention": {"raw_grace_days": cfg.raw_grace_days},
        "log": {"level": cfg.log_level},
        "print": {"printer": cfg.printer},
        "centre": {f.name: getattr(cfg.centre, f.name) for f in fields(Centre)},
    }
    if cfg.pattern:
        doc["spool"]["pattern"] = cfg.pattern
    return tomli_w.dumps(doc)


def write(cfg: Config, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(to_toml(cfg), encoding="utf-8")
    os.replace(tmp, path)
