"""F1 / ?: every key, as currently bound (the keymap from the config file applies).

Each section is its own small table with the same column widths, so a long section title
never widens the keys column, and the id column (what a user types to rebind a key) is
never cut: it is as wide as the longest id, and the descriptions wrap instead."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Label, Static

# An example that rebinds a key to a key nothing else uses (ctrl+s is the persona).
REBIND_EXAMPLE = 'Rebind a key by its id in config.toml: [ui.keymap] switch_profile = "f5"'


def display_keys(keys: str) -> str:
    """``"ctrl+j,shift+enter"`` → ``"ctrl+j / shift+enter"``; ``"question_mark"`` → ``"?"``."""
    shown = []
    for key in keys.split(","):
        *mods, name = key.strip().split("+")
        shown.append("+".join([*mods, format_key(name)]))
    return " / ".join(shown)


def key_table(sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> RenderableType:
    rows = [
        (
            title,
            [
                (
                    display_keys(keymap.get(b.id, b.key) if b.id else b.key),
                    b.description or b.action,
                    b.id or "",
                )
                for b in bindings
            ],
        )
        for title, bindings in sections
    ]
    key_width = min(22, max((len(k) for _, r in rows for k, _, _ in r), default=4))
    id_width = max((len(i) for _, r in rows for _, _, i in r), default=2)
    parts: list[RenderableType] = []
    for title, section in rows:
        parts.append(Text(title, style="bold underline"))
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True, pad_edge=False)
        table.add_column("keys", style="bold", width=key_width, overflow="fold")
        table.add_column("action", ratio=1, min_width=12)
        table.add_column("id", style="dim", width=id_width, no_wrap=True)
        for keys, description, bid in section:
            table.add_row(keys, description, bid)
        parts += [table, Text("")]
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "close", "Close", id="help_close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> None:
        super().__init__(classes="dialog-screen")
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help", id="help"):
            yield Label("memchat keys", classes="dialog-question")
            yield Static(REBIND_EXAMPLE, classes="dim", markup=False)
            yield Static(key_table(self.sections, self.keymap), id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
