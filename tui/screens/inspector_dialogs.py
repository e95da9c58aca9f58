"""Dialogs of the memory inspector: forget everywhere (these memories, or everything about a
topic), and a warning that chat turns could teach a forgotten memory again."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from tui.widgets.safe_text import plain


class ForgetDialog(ModalScreen[tuple[str, str] | None]):
    """Dismisses with ("memories", "") to forget the selected memories everywhere,
    ("about", TEXT) to forget every memory and chat turn mentioning TEXT, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog_cancel"),
        Binding("ctrl+y", "forget_selected", "Forget selected", id="forget_selected"),
    ]

    def __init__(self, count: int, preview: str, about: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.count, self.preview, self.about = count, preview, about

    def compose(self) -> ComposeResult:
        noun = "memory" if self.count == 1 else f"{self.count} memories"
        with Vertical(classes="dialog wide", id="forget-dialog"):
            yield Label("Forget everywhere — this cannot be undone", classes="dialog-question")
            yield Label(
                f"Removes {noun} from SQLite (row, full-text index, history text), the vector index, "
                f"Redis caches and summaries that quote it.",
                classes="dim",
            )
            yield Label(plain(f"“{self.preview}”"), id="forget-preview")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Forget {noun} (ctrl+y)", variant="error", id="selected")
                yield Button("Cancel (Esc)", id="cancel")
            yield Label("…or forget everything about (Enter):", id="forget-about-label")
            yield Input(self.about, placeholder="a name, a place, a topic", id="forget-about")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_forget_selected(self) -> None:
        self.dismiss(("memories", ""))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(("memories", "") if event.button.id == "selected" else None)

    @on(Input.Submitted, "#forget-about")
    def _about(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(("about", event.value.strip()))
