"""Dialogs of the output-data area: a form of fields (instruction, destination, receipt, extension,
disposal) and a viewer for the printed forms (様式第1号, 様式第2号) with saving of the A4 page.

Both are keyboard first: Tab moves between fields, Enter or Ctrl+S submits, Esc cancels. Every
value shown passes through `plain()`; nothing typed here is ever markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from console.i18n import t
from screens.widgets.fields import Field, field_row
from screens.widgets.modals import DismissOnLock
from screens.widgets.text import plain, width_of
from services.core import StorageError, visible

LABEL_MIN, LABEL_MAX = 10, 18  # cells for the labels of a form (the longest label, within these)


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label_key: str
    value: str = ""
    placeholder: str = ""
    options: Sequence[tuple[str, str]] = field(default_factory=tuple)  # a choice: (label, value)
    # A text field that depends on a choice field (`follows`, its key): per value of the choice,
    # (the default value, the placeholder). The default replaces the old one unless edited.
    follows: str = ""
    per_choice: Mapping[str, tuple[str, str]] = field(default_factory=dict)


class FieldsForm(DismissOnLock, ModalScreen[dict[str, str] | None]):
    """Ask for a few values; dismissed with {key: value} or None. `error` says what was wrong
    last time (the caller validates and asks again with the values kept)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "key.cancel"),
        Binding("ctrl+s", "submit", "key.submit"),
    ]

    def __init__(
        self, title: str, lines: Sequence[str], fields: Sequence[FieldSpec], *, error: str = ""
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.fields = list(fields)
        self.error = error
        self._editing = False  # True once shown: a change is then the user's

    DEFAULT_CSS = """
    FieldsForm Select { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        label_width = min(LABEL_MAX, max([LABEL_MIN, *(width_of(t(f.label_key)) + 1 for f in self.fields)]))
        with Vertical(classes="dialog"):
            yield Static(plain(self.title_text, "bold"), classes="dialog-title")
            for line in self.lines:
                yield Static(plain(line), classes="dialog-body")
            for spec in self.fields:
                widget: Widget
                if spec.options:
                    # Compact: one line, so that a form of seven fields fits 80x24.
                    widget = Select(
                        list(spec.options),
                        id=f"ff-{spec.key}",
                        value=spec.value if spec.value else Select.NULL,
                        prompt=t("export.form.choose"),
                        allow_blank=True,
                        compact=True,
                    )
                else:
                    value, hint = self._following(spec)
                    widget = Field(value=value, placeholder=hint, id=f"ff-{spec.key}")
                yield field_row(t(spec.label_key), widget, label_width=label_width)
            yield Static(plain(self.error), id="ff-message", classes="dialog-message")
            yield Static(plain(t("export.form.submit_hint"), "dim"), classes="dialog-hint")

    def _following(self, spec: FieldSpec) -> tuple[str, str]:
        """A field's value and placeholder, for a dependent one those of the choice at the start."""
        choice = next((f.value for f in self.fields if f.key == spec.follows), None)
        if not spec.follows or choice is None or choice not in spec.per_choice:
            return spec.value, spec.placeholder
        default, hint = spec.per_choice[choice]
        return spec.value or default, hint

    def on_mount(self) -> None:
        if self.fields:
            self.query_one(f"#ff-{self.fields[0].key}").focus()
        self.call_after_refresh(self._start_editing)

    def _start_editing(self) -> None:
        self._editing = True  # from now on a change is the user's, and the old complaint goes

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self._forget_message()

    def _forget_message(self) -> None:
        if self._editing:
            self.query_one("#ff-message", Static).update("")

    @on(Select.Changed)
    def _choice_changed(self, event: Select.Changed) -> None:
        """Fields that follow this choice get its placeholder, and its default unless edited."""
        event.stop()
        self._forget_message()
        key = (event.select.id or "").removeprefix("ff-")
        choice = "" if event.value is Select.NULL else str(event.value)
        for spec in self.fields:
            if spec.follows != key or choice not in spec.per_choice:
                continue
            field_ = self.query_one(f"#ff-{spec.key}", Input)
            defaults = {d for d, _ in spec.per_choice.values()}
            default, hint = spec.per_choice[choice]
            if field_.value in defaults or not field_.value:
                field_.value = default
            field_.placeholder = hint

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
                yield Static(
                    Text("\n".join(visible(line) for line in self.text.splitlines()), end=""),
                    markup=False,
                    id="viewer-body",
                )
            yield Static("", id="viewer-message", classes="dialog-message", markup=False)
            yield Static(plain(t("export.form.viewer_hint"), "dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        # Wider and taller than other dialogs (inline: the app's .dialog rule would win over
        # DEFAULT_CSS): the forms are laid out for 80 columns of text.
        dialog = self.query_one(".dialog")
        dialog.styles.width = 100
        dialog.styles.height = "90%"
        self.query_one("#viewer-scroll").focus()

    def action_save(self) -> None:
        if self.save is None:
            return
        try:
            path = self.save()
        except StorageError as exc:
            self.query_one("#viewer-message", Static).update(plain(exc.message))
            return
        self.query_one("#viewer-message", Static).update(plain(t("export.form.saved", path=str(path))))

    def action_close(self) -> None:
        self.dismiss(None)
