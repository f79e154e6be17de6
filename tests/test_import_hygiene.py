"""services/ is the domain: importable and usable without Textual (DESIGN.md)."""

import ast
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


def test_screens_write_no_files() -> None:
    """Saving is the services' (they pick the folder in the data folder and say what failed)."""
    banned_calls = {"write_text", "write_bytes", "mkdir", "open"}
    found = []
    for path in sorted((ROOT / "screens").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in banned_calls:
                    found.append(f"{where} {name}()")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{where} import {n}" for n in names if n.split(".")[0] in ("os", "shutil")]
            elif isinstance(node, ast.Name) and node.id in ("os", "shutil"):
                found.append(f"{where} {node.id}")
    assert found == [], "screens write files: " + ", ".join(found)
