"""Untrusted text made visible: control characters, bidi controls and undecodable bytes escaped.

Screens must still render the result as plain text (never as markup); this only makes invisible or
terminal-affecting characters visible.
"""

from __future__ import annotations

import unicodedata

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# Spaces Python does not call printable but that are ordinary text: U+3000 IDEOGRAPHIC SPACE is
# how Japanese names, notes and forms are spaced. (Line and paragraph separators stay escaped.)
_PLAIN_SPACES = frozenset(" \u3000")


def visible(value: object) -> str:
    """A one-line, printable rendering of an untrusted string."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and not any(ch in _BIDI for ch in text):
        return text
    out = []
    for ch in text:
        if ch in _BIDI or (not ch.isprintable() and ch not in _PLAIN_SPACES):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


def cell_width(text: str) -> int:
    """Terminal cells the text takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def ljust_cells(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_width(text))
