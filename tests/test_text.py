"""Untrusted text made visible: nothing that could steer a terminal survives."""

from __future__ import annotations

import pytest

from services.core.text import visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("in-0488291111.wav", "in-0488291111.wav"),
        ("さいたま 録音.wav", "さいたま 録音.wav"),
        ("[bold]x[/bold]", "[bold]x[/bold]"),  # markup is the screens' concern: shown as is here
        ("a\nb", "a\\x0ab"),
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # OSC: set the terminal title
        ("\x1b[2J", "\\x1b[2J"),  # CSI: clear the screen
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("x\u2066y", "x\\u2066y"),
        ("bad\udcffbyte", "bad\\xffbyte"),  # a byte that was not UTF-8
        ("\x7f", "\\x7f"),
        ("\u0085", "\\x85"),
        ("広聴課長\u3000様", "広聴課長\u3000様"),  # ideographic space: ordinary Japanese text
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators still escaped
        ("a\u00a0b", "a\\xa0b"),
    ],
)
def test_visible(raw: str, shown: str) -> None:
    assert visible(raw) == shown


def test_visible_output_is_printable_and_one_line() -> None:
    hostile = "".join(chr(c) for c in range(0, 0x250)) + "\u202e\u2066\udc80"
    out = visible(hostile + "\u3000")
    assert out.replace("\u3000", "").isprintable()
    assert "\n" not in out and "\x1b" not in out


def test_visible_of_non_strings() -> None:
    assert visible(12) == "12"
