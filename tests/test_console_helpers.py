"""The small helpers the screens share: labelled detail lines and the PIN as typed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.text import Text

from console import i18n
from screens.widgets.modals import typed_pin
from screens.widgets.text import LabelledLines, fit


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.active().lang
    i18n.use("en")
    yield
    i18n.use(before)


def test_labelled_lines_cut_the_label_and_keep_untrusted_values_plain() -> None:
    out = LabelledLines(6)
    out.line("calls.detail.sha256", "[bold]x[/bold]\x1b[2J", style="dim")
    out.line("calls.detail.sha256", Text("a", style="red"), "b")
    out.add(Text("  under", end=""))
    text = out.text()
    first, second, third = text.plain.split("\n")
    label = i18n.t("calls.detail.sha256")
    assert first[:7] == fit(label, 6) + " " and second[:7] == first[:7]
    assert first.endswith("[bold]x[/bold]\\x1b[2J")  # shown as typed, never markup or a control
    assert second.endswith(" a  b") and third == "  under"
    styles = {str(s.style) for s in text.spans}
    assert {"bold", "dim", "red"} <= styles


@pytest.mark.parametrize(
    ("typed", "pin"),
    [
        ("1234", "1234"),
        ("１２３４５", "12345"),
        (" 2222 ", "2222"),
        ("123", None),
        ("1234567890123", None),
        ("", None),
    ],
)
def test_typed_pin_follows_the_services_rule(typed: str, pin: str | None) -> None:
    assert typed_pin(typed) == pin
