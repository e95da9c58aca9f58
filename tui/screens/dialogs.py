"""Small modal dialogs: a yes/no confirmation and a text editor (rename, persona)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True on y/Enter-on-yes, False on n/Esc."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_no"),
    ]

    def __init__(self, question: str, *, yes: str = "Delete", no: str = "Cancel") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TextDialog(ModalScreen[str | None]):
    """Edit one value. ``multiline`` uses a TextArea (ctrl+s saves) else an Input (Enter saves)."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog_cancel"),
        Binding("ctrl+s", "save", "Save", id="dialog_save"),
    ]

    def __init__(
        self, title: str, value: str = "", *, multiline: bool = False, hint: str = ""
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.value = value
        self.multiline = multiline
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide" if self.multiline else "dialog"):
            yield Label(self.title_text, classes="dialog-question")
            if self.multiline:
                yield TextArea(self.value, id="value", soft_wrap=True)
            else:
                yield Input(self.value, id="value")
            hint = self.hint or (
                "ctrl+s saves · Esc cancels" if self.multiline else "Enter saves · Esc cancels"
            )
            yield Label(hint, classes="dim")

    def on_mount(self) -> None:
        self.query_one("#value").focus()

    def _current(self) -> str:
        w = self.query_one("#value")
        return w.text if isinstance(w, TextArea) else w.value

    def action_save(self) -> None:
        self.dismiss(self._current())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)
