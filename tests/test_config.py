"""Configuration: found, loaded, validated key by key, written back."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core import config as config_mod
from services.core.config import Config, ConfigError

GOOD = """
[paths]
spool = "spool"
data = "/var/lib/callrec"

[spool]
layout = "freepbx"
settle_seconds = 2
timezone = "Asia/Tokyo"

[console]
language = "en"
idle_lock_minutes = 10
kiosk = false
default_role = "manager"

[media]
device = "/dev/sr1"

[retention]
raw_grace_days = 3

[centre]
name = "テストセンター"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_good(tmp_path: Path) -> None:
    cfg = config_mod.load(write(tmp_path, GOOD))
    assert cfg.spool == tmp_path / "spool"  # relative to the file's folder
    assert cfg.data == Path("/var/lib/callrec")
    assert (cfg.layout, cfg.settle_seconds, cfg.timezone) == ("freepbx", 2.0, "Asia/Tokyo")
    assert (cfg.language, cfg.idle_lock_minutes, cfg.kiosk, cfg.default_role) == (
        "en",
        10.0,
        False,
        "manager",
    )
    assert cfg.media_device == "/dev/sr1"
    assert cfg.raw_grace_days == 3
    assert cfg.centre.name == "テストセンター"
    assert cfg.database == Path("/var/lib/callrec/callrec.db")
    assert cfg.keys_dir == Path("/var/lib/callrec/keys")


def test_defaults(tmp_path: Path) -> None:
    cfg = config_mod.load(write(tmp_path, '[paths]\nspool = "/s"\ndata = "/d"\n'))
    assert (cfg.layout, cfg.timezone, cfg.settle_seconds, cfg.idle_lock_minutes) == (
        "freepbx",
        "Asia/Tokyo",
        5.0,
        5.0,
    )
    assert cfg.kiosk is True and cfg.language == "ja" and cfg.default_role == "operator"


def test_round_trip(tmp_path: Path) -> None:
    cfg = Config(
        spool=tmp_path / "s",
        data=tmp_path / "d",
        layout="pattern",
        pattern=r"(?P<date>\d{8})(?P<time>\d{6})(?P<city>\d+)_(?P<other>\d*)\.wav",
        settle_seconds=1.5,
        kiosk=False,
    )
    path = tmp_path / "sub" / "c.toml"
    config_mod.write(cfg, path)
    back = config_mod.load(path)
    assert back.spool == cfg.spool and back.data == cfg.data
    assert (back.layout, back.pattern, back.settle_seconds, back.kiosk) == (
        "pattern",
        cfg.pattern,
        1.5,
        False,
    )
    assert back.source == path


@pytest.mark.parametrize(
    ("text", "key", "why"),
    [
        ('[paths]\nspool = "/s"\ndata = "/d"\ncolour = "red"\n', "paths.colour", "unknown key"),
        ('[paths]\nspool = "/s"\ndata = "/d"\n[extra]\nx = 1\n', "extra", "unknown key"),
        ('[paths]\nspool = "/s"\ndata = "/d"\n[centre]\nmotto = "x"\n', "centre.motto", "unknown key"),
        ('[paths]\nspool = "/s"\n', "paths.data", "missing"),
        ('[paths]\ndata = "/d"\n', "paths.spool", "missing"),
        ('[paths]\nspool = 3\ndata = "/d"\n', "paths.spool", "must be a string"),
        ("paths = 3\n", "paths", "must be a table"),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nlayout = "asterisk"\n',
            "spool.layout",
            "must be one of",
        ),
        ('[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nlayout = "pattern"\n', "spool.pattern", "required"),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nlayout = "pattern"\npattern = "(?P<date>"\n',
            "spool.pattern",
            "not a valid regular expression",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nlayout = "pattern"\npattern = "(?P<date>x)"\n',
            "spool.pattern",
            "missing named groups",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nsettle_seconds = "5"\n',
            "spool.settle_seconds",
            "must be a number",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\nsettle_seconds = -1\n',
            "spool.settle_seconds",
            "between",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[spool]\ntimezone = "Mars/Olympus"\n',
            "spool.timezone",
            "unknown time zone",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[console]\nkiosk = "yes"\n',
            "console.kiosk",
            "must be true or false",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[console]\nidle_lock_minutes = true\n',
            "console.idle_lock_minutes",
            "must be a number",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[console]\nlanguage = "fr"\n',
            "console.language",
            "must be one of",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[console]\ndefault_role = "admin"\n',
            "console.default_role",
            "must be one of",
        ),
        (
            '[paths]\nspool = "/s"\ndata = "/d"\n[retention]\nraw_grace_days = 1.5\n',
            "retention.raw_grace_days",
            "must be an integer",
        ),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, key: str, why: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    message = info.value.message
    assert message.startswith(f"{path}: {key}: "), message
    assert why in message
    assert "\n" not in message
    assert info.value.params["key"] == key


def test_malformed_toml(tmp_path: Path) -> None:
    path = write(tmp_path, '[paths]\nspool = "/s\n')
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    assert info.value.message.startswith(f"{path}: not valid TOML")
    assert "\n" not in info.value.message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[paths]\nspool = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        config_mod.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_mod.load(tmp_path / "nope.toml")
    assert info.value.code == "config_missing"
    assert str(tmp_path / "nope.toml") in info.value.message


def test_resolve_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config_mod.ENV_VAR, str(tmp_path / "env.toml"))
    assert config_mod.resolve_path(str(tmp_path / "given.toml")) == tmp_path / "given.toml"
    assert config_mod.resolve_path(None) == tmp_path / "env.toml"
    monkeypatch.delenv(config_mod.ENV_VAR)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_mod.resolve_path(None) == tmp_path / "xdg" / "callrec" / "config.toml"
