"""Dialogs of the output-data area: a form of fields (instruction, destination, receipt, extension,
disposal) and a viewer for the printed forms (様式第1号, 様式第2号) with saving of the A4 page.

Both are keyboard first: Tab moves between fields, Enter or Ctrl+S submits, Esc cancels. Every
value shown passes through `plain()`; nothing typed here is ever markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from console.i18n import t
from screens.fields import Field
from screens.modals import DismissOnLock
from screens.text import plain
from services.text import visible


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label_key: str
    value: str = ""
    placeholder: str = ""
    options: Sequence[tuple[str, str]] = field(default_factory=tuple)  # a choice: (label, value)


class FieldsForm(DismissOnLock, ModalScreen[dict[str, str] | None]):
    """Ask for a few values; dismissed with {key: value} or None. `error` says what was wrong
    last time (the caller validates and asks again with the values kept)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "key.cancel"),
        Binding("ctrl+s", "submit", "key.submit"),
    ]

    def __init__(self, title: str, lines: Sequence[str], fields: Sequence[FieldSpec], *,
                 error: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.fields = list(fields)
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.title_text, "bold"), classes="dialog-title")
            for line in self.lines:
                yield Static(plain(line), classes="dialog-body")
            for spec in self.fields:
                with Vertical(classes="field-row"):
                    yield Static(plain(t(spec.label_key)), classes="field-label")
                    if spec.options:
                        yield Select(list(spec.options), id=f"ff-{spec.key}",
                                     value=spec.value if spec.value else Select.NULL,
                                     prompt=t("export.form.choose"), allow_blank=True)
                    else:
                        yield Field(value=spec.value, placeholder=spec.placeholder, id=f"ff-{spec.key}")
            yield Static(plain(self.error), id="ff-message", classes="dialog-message")
            yield Static(plain(t("export.form.submit_hint"), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#ff-{self.fields[0].key}").focus()

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for spec in self.fields:
            widget = self.query_one(f"#ff-{spec.key}")
            if isinstance(widget, Select):
                out[spec.key] = "" if widget.value is Select.NULL else str(widget.value)
            else:
                assert isinstance(widget, Input)
                out[spec.key] = widget.value
        return out

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextViewer(DismissOnLock, ModalScreen[None]):
    """A printed form on screen; `s` writes its print-ready A4 page (HTML) and says where."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "key.close"),
        Binding("s", "save", "key.save_html"),
    ]

    DEFAULT_CSS = """
    TextViewer .dialog { width: 100; height: 90%; }
    TextViewer #viewer-scroll { height: 1fr; }
    """

    def __init__(self, title: str, text: str, *, save: Callable[[], Path] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.save = save

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(plain(self.title_text, "bold"), classes="dialog-title")
            with VerticalScroll(id="viewer-scroll", can_focus=True):
                yield Static(Text("\n".join(visible(line) for line in self.text.splitlines()), end=""),
                             markup=False, id="viewer-body")
            yield Static("", id="viewer-message", classes="dialog-message", markup=False)
            yield Static(plain(t("export.form.viewer_hint"), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#viewer-scroll").focus()

    def action_save(self) -> None:
        if self.save is None:
            return
        try:
            path = self.save()
        except OSError as exc:
            self.query_one("#viewer-message", Static).update(plain(f"{exc.filename}: {exc.strerror}"))
            return
        self.query_one("#viewer-message", Static).update(plain(t("export.form.saved", path=str(path))))

    def action_close(self) -> None:
        self.dismiss(None)
