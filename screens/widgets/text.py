"""Showing text safely and formatting values for the screen.

Every string that reaches a widget goes through `plain()` (a Rich Text, never markup, with control
and bidi characters made visible) or `cell()` (a fixed-width cell of a Line-API row). Catalogue
strings pass through unchanged; outside strings (file names, numbers, notes) cannot style, move the
cursor, retitle the terminal or reorder the line.
"""

from __future__ import annotations

from datetime import date, datetime

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from rich.text import Text

from console.i18n import t
from services.core import phone, units, visible

ELLIPSIS = "…"


def plain(value: object, style: str | Style = "") -> Text:
    """Untrusted or not, a value as plain text: no markup, nothing invisible."""
    return Text(visible(value), style=style, end="")


def lines(value: str, style: str | Style = "") -> Text:
    """Text of several lines (a catalogue string, a purpose): each line as plain() shows it."""
    return Text("\n".join(visible(line) for line in str(value).split("\n")), style=style, end="")


def join(*parts: Text | str, sep: str = "") -> Text:
    """Concatenate plain pieces (str pieces are made safe too)."""
    out = Text(end="")
    for i, part in enumerate(parts):
        if i and sep:
            out.append(sep)
        out.append_text(part if isinstance(part, Text) else plain(part))
    return out


def fit(value: str, width: int, *, align: str = "left") -> str:
    """`value` made exactly `width` cells wide (CJK characters count two), cut with an ellipsis."""
    text = visible(value)
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + ELLIPSIS if width > 1 else ELLIPSIS
    pad = " " * (width - length)
    return pad + text if align == "right" else text + pad


def fit_tail(value: str, width: int) -> str:
    """The end of `value` in at most `width` cells (a path keeps its last folders): …/b/c."""
    text = visible(value)
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in reversed(text):
        if cell_len(ch + out) > width - 1:
            break
        out = ch + out
    return ELLIPSIS + out


def width_of(text: str) -> int:
    return cell_len(text)


class LabelledLines:
    """The lines of a detail pane or a summary: on each a catalogue label, bold and cut to `width`
    cells, then its values two spaces apart (str values as plain() shows them, in `style`)."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[Text] = []

    def line(self, label_key: str, *values: Text | str, style: str = "") -> None:
        out = Text(end="")
        out.append(fit(t(label_key), self.width) + " ", style="bold")
        for i, value in enumerate(values):
            if i:
                out.append("  ")
            out.append_text(value if isinstance(value, Text) else plain(value, style))
        self.rows.append(out)

    def add(self, row: Text) -> None:
        """A line of its own (a value's second line, a note under the others)."""
        self.rows.append(row)

    def text(self) -> Text:
        return Text("\n", end="").join(self.rows)


# -- values ------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size(n: int | None) -> str:
    """services.core.units.size, or "-" for no figure."""
    return "-" if n is None else units.size(n)


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def weekday(day: date) -> str:
    return t(f"weekday.{day.weekday()}")


def day_label(day: date) -> str:
    """2026-11-24(火) / 2026-11-24 (Tue)."""
    return t("format.day", date=day.isoformat(), weekday=weekday(day))


def moment(at: datetime | None, *, seconds: bool = True) -> str:
    if at is None:
        return "-"
    return at.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def call_type(code: str) -> str:
    key = f"calltype.{code}"
    label = t(key)
    return visible(code) if label == key else label


def call_state(code: str) -> str:
    key = f"state.{code}"
    label = t(key)
    return visible(code) if label == key else label


def caller_id(code: str) -> str:
    key = f"callerid.{code}"
    label = t(key)
    return visible(code) if label == key else label


def number(digits: str | None, *, masked: bool = False, caller: str = "number") -> str:
    """A telephone number in national format, masked but for the last 4 digits when asked;
    a withheld or unavailable number says so."""
    if not digits:
        return caller_id(caller) if caller != "number" else "-"
    return phone.masked(digits) if masked else phone.display(digits)


def role_name(role: str) -> str:
    return t(f"role.{role}")


def mask_digits_in(text: str, digits: str | None, keep: int = 4) -> str:
    """`text` (a file name) with the other party's number masked (phone.mask_in: the one rule,
    shared with the command line)."""
    return phone.mask_in(text, digits, keep)


def wrap_cells(text: str, width: int) -> list[str]:
    """Cut `text` into pieces of at most `width` cells (CJK-aware), for an indented wrap."""
    from rich.cells import chop_cells

    return chop_cells(visible(text), max(1, width)) or [""]
