"""Help (?): the keys that work where you are, and what the console will not do and why."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from console import i18n
from console.i18n import t
from screens.widgets.chrome import key_label
from screens.widgets.modals import DismissOnLock
from screens.widgets.text import fit, width_of

SECTIONS = ("help.audio", "help.roles", "help.reveal", "help.search", "help.live", "help.lock")


class HelpScreen(DismissOnLock, ModalScreen[None]):
    # Screen CSS, not DEFAULT_CSS: it must outrank app.tcss's .dialog as it did there.
    CSS = """
    #help-box {
        width: 90;
        height: 90%;
    }

    .help-section {
        margin-top: 1;
        height: auto;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "key.close"),
    ]

    def __init__(self, under: Screen[Any]) -> None:
        super().__init__(id="help")
        self.keys = self._keys(under)

    @staticmethod
    def _keys(screen: Screen[Any]) -> list[tuple[str, str]]:
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for active in screen.active_bindings.values():
            binding = active.binding
            if not i18n.active().has(binding.description) or binding.action in seen:
                continue
            seen.add(binding.action)
            keys = " ".join(key_label(k) for k in binding.key.split(","))
            out.append((keys, t(binding.description)))
        return out

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help-box"):
            yield Static(Text(t("help.title"), style="bold"), classes="dialog-title")
            # Why nothing plays comes first: it must be seen however many keys a view has.
            yield self._section(SECTIONS[0])
            text = Text(end="")
            text.append(t("help.keys") + "\n", style="bold underline")
            extra = [
                ("1-9 ^← ^→", t("key.views")),
                ("↑ ↓ PgUp PgDn Home End", t("help.move")),
                ("Tab", t("help.tab")),
                ("Esc", t("help.escape")),
            ]
            rows = self.keys + extra
            width = max((width_of(k) for k, _ in rows), default=4) + 2
            for keys, label in rows:
                text.append("  " + fit(keys, width), style="bold")
                text.append(label + "\n")
            yield Static(text, markup=False)
            for key in SECTIONS[1:]:
                yield self._section(key)
            yield Static(Text(t("help.close"), style="dim"), classes="dialog-hint")

    @staticmethod
    def _section(key: str) -> Static:
        body = Text(end="")
        body.append(t(f"{key}.title") + "\n", style="bold underline")
        body.append(t(f"{key}.body"))
        return Static(body, markup=False, classes="help-section")

    def action_close(self) -> None:
        self.dismiss(None)
