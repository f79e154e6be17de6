"""services/ is the domain: importable and usable without Textual (DESIGN.md)."""

import subprocess
import sys

from tests.support.workspace import ROOT


def test_services_never_import_textual() -> None:
    modules = sorted(
        f"services.{'.'.join(p.relative_to(ROOT / 'services').with_suffix('').parts)}"
        for p in (ROOT / "services").rglob("*.py")
        if p.name != "__init__.py"
    )
    code = (
        "import sys\n"
        f"for m in {modules!r}: __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"services imported textual: {out.stdout}"


def test_cli_commands_never_import_textual() -> None:
    code = (
        "import sys, console.cli\n"
        "console.cli.build_parser()\n"
        "print(any(m.startswith('textual') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
