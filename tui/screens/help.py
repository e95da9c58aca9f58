"""F1 / ?: every key, as currently bound (the keymap from the config file applies)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def key_table(sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2), expand=True)
    table.add_column("keys", style="bold", no_wrap=True)
    table.add_column("action")
    table.add_column("id", style="dim")
    for title, bindings in sections:
        table.add_row(f"[u]{title}[/u]", "", "")
        for b in bindings:
            keys = keymap.get(b.id, b.key) if b.id else b.key
            table.add_row(keys.replace(",", " / "), b.description or b.action, b.id or "")
        table.add_row("", "", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "close", "Close", id="help_close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> None:
        super().__init__(classes="dialog-screen")
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="help"):
            yield Label("memchat keys", classes="dialog-question")
            yield Static(
                'Rebind any key in config.toml, by id:  [ui.keymap]  send = "ctrl+s"', classes="dim"
            )
            yield Static(key_table(self.sections, self.keymap))

    def action_close(self) -> None:
        self.dismiss(None)
