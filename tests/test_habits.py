"""The habits the structure relies on, checked rather than hoped for."""

import re

from tests.support.workspace import ROOT

CODE = ("console", "screens", "services", "demo_data")
# `# type: ignore[code]  # why`: the code says what is silenced, the reason why it must be
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def test_every_type_ignore_names_its_code_and_reason() -> None:
    bare = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = IGNORE.search(line)
                if m and not (m["codes"] and re.match(r"\s*#\s*\S", m["rest"])):
                    bare.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bare, "say the error code and why it is right here:\n" + "\n".join(bare)


def test_services_has_few_modules_at_its_top() -> None:
    top = sorted(p.name for p in (ROOT / "services").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 12, f"put these in packages by domain: {top}"
