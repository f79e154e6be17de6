"""The deployment files hold what the README promises (第14 issue, 6): the indexer unit scores 2 or
lower in systemd's own analysis and keeps its limits, sshd as configured by the snippet forwards
nothing and takes no locale from the client, and the login command sets a umask and wants a
terminal. Each is read by the real tool (systemd-analyze, sshd -T, sh)."""

from __future__ import annotations

import configparser
import os
import pty
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from console.exits import Exit
from tests.support.workspace import ROOT

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "callrec-indexer.service"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(re.sub(r"^SystemCallFilter=.*$", "", UNIT.read_text(encoding="utf-8"), flags=re.M))
    return parser


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_indexer_unit_scores_2_or_lower() -> None:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found[1]) <= 2.0, proc.stdout


def test_the_indexer_unit_keeps_its_limits() -> None:
    u = unit()
    service, after = u["Service"], u["Unit"]
    assert "time-sync.target" in after["After"].split()
    assert "/var/spool/asterisk/monitor" in after["RequiresMountsFor"].split()
    assert service["ReadWritePaths"].split() == ["/var/lib/callrec"]  # the data folder only
    assert service["ProtectSystem"] == "strict" and service["PrivateNetwork"] == "true"
    assert service["NoNewPrivileges"] == "true"
    assert int(service["Nice"]) > 0 and service["IOSchedulingClass"] == "idle"
    assert service["Restart"] == "on-failure"
    stops = {int(code) for code in service["RestartPreventExitStatus"].split()}
    assert {Exit.CONFIG, Exit.INTEGRITY} <= stops  # no restart loop on a configuration error


def sshd_settings(tmp_path: Path) -> dict[str, list[str]]:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK):
        pytest.skip("sshd not installed")
    try:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd -T wants its privilege separation folder
    except PermissionError:
        pytest.skip("sshd -T needs /run/sshd")
    key = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    main = tmp_path / "sshd_config"
    # Debian's own sshd_config passes the client's locale; the snippet must undo that for callrec.
    main.write_text(
        f"HostKey {key}\nAcceptEnv LANG LC_*\nInclude {DEPLOY / 'sshd_callrec.conf'}\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sshd, "-T", "-f", str(main), "-C", "user=callrec,host=floor,addr=192.0.2.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    settings: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.partition(" ")
        settings.setdefault(name, []).append(value)
    return settings


def test_sshd_forwards_nothing_and_takes_no_locale(tmp_path: Path) -> None:
    s = sshd_settings(tmp_path)
    assert s["forcecommand"] == ["/usr/local/bin/callrec-console"]
    assert s["disableforwarding"] == ["yes"]
    for name in ("allowtcpforwarding", "allowagentforwarding", "allowstreamlocalforwarding", "x11forwarding"):
        assert s[name] == ["no"], name
    assert s["permittunnel"] == ["no"] and s["permituserenvironment"] == ["no"]
    assert not any(v.startswith(("LANG", "LC_")) for v in s.get("acceptenv", []))
    assert s["authenticationmethods"] == ["publickey"]


def login_script(tmp_path: Path) -> Path:
    """The login command, with the console replaced by a program that prints what it was given."""
    shows = tmp_path / "shows"
    shows.write_text(
        '#!/bin/sh\numask\necho "LANG=$LANG LC_ALL=${LC_ALL-unset} $CALLREC_CONFIG"\necho "$@"\n'
    )
    shows.chmod(0o755)
    script = tmp_path / "callrec-console"
    text = (DEPLOY / "callrec-console").read_text(encoding="utf-8")
    assert "exec /opt/callrec/.venv/bin/callrec " in text
    script.write_text(text.replace("/opt/callrec/.venv/bin/callrec", str(shows)), encoding="utf-8")
    script.chmod(0o755)
    return script


def in_terminal(script: Path, env: dict[str, str]) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the script on a terminal of its own
        os.execve("/bin/sh", ["sh", str(script)], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode().replace("\r\n", "\n")


def test_the_login_command_sets_a_umask_and_wants_a_terminal(tmp_path: Path) -> None:
    script = login_script(tmp_path)
    piped = subprocess.run(["sh", str(script)], input="", capture_output=True, text=True, timeout=30)
    assert piped.returncode == Exit.USAGE and "ssh -t" in piped.stderr and piped.stdout == ""

    base = {"PATH": "/usr/bin:/bin", "TERM": "dumb", "LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8"}
    shown = in_terminal(script, base).splitlines()
    assert shown[0] == "0077"
    assert shown[1] == "LANG=ja_JP.UTF-8 LC_ALL=unset /etc/callrec/config.toml"  # not the client's
    assert shown[2] == ""  # the configuration's language
    english = in_terminal(script, base | {"CALLREC_LANG": "en"}).splitlines()
    assert english[2] == "--lang en"
    odd = in_terminal(script, base | {"CALLREC_LANG": "--config /tmp/x"}).splitlines()
    assert odd[2] == ""  # only ja or en
