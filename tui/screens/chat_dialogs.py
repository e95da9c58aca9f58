"""Dialogs of the chat screen's extras: export format, and deleting a conversation whose
memories may be forgotten with it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tui.widgets.safe_text import plain


class ExportDialog(ModalScreen[str | None]):
    """Dismisses with "markdown", "json" or None."""

    DEFAULT_CSS = """
    ExportDialog Label { width: 100%; }
    """

    BINDINGS = [
        Binding("m", "pick('markdown')", "Markdown", id="export_markdown"),
        Binding("j", "pick('json')", "JSON", id="export_json"),
        Binding("escape", "pick('')", "Cancel", id="dialog_cancel"),
    ]

    def __init__(self, where: str) -> None:
        super().__init__(classes="dialog-screen")
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog"):
            yield Label("Export this conversation", classes="dialog-question")
            yield Label(plain(f"to {self.where} (secrets stay redacted)"), classes="dim")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Markdown (m)", variant="primary", id="markdown")
                yield Button("JSON (j)", id="json")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#markdown", Button).focus()

    def action_pick(self, fmt: str) -> None:
        self.dismiss(fmt or None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("markdown", "json") else None)


class DeleteConversationDialog(ModalScreen[str | None]):
    """Delete a conversation; when memories came from it, offer to forget them too.
    Dismisses with "chat" (delete the conversation only), "all" (and forget its memories)
    or None (cancel)."""

    DEFAULT_CSS = """
    DeleteConversationDialog Label { width: 100%; }
    """

    BINDINGS = [
        Binding("y", "answer('chat')", "Delete the chat", id="delete_chat_only"),
        Binding("f", "answer('all')", "Delete and forget", id="delete_chat_and_memories"),
        Binding("n,escape", "answer('')", "Cancel", id="dialog_cancel"),
    ]

    def __init__(self, title: str, memories: int, previews: list[str]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text, self.memories, self.previews = title, memories, previews

    def compose(self) -> ComposeResult:
        n = self.memories
        noun = "1 memory" if n == 1 else f"{n} memories"
        with Vertical(classes="dialog wide", id="delete-conversation"):
            yield Label(
                plain(f"Delete “{self.title_text}” and all its messages?"),
                classes="dialog-question",
            )
            if n:
                yield Label(f"{noun} came from this conversation:", id="delete-memories-count")
                for p in self.previews:
                    yield Label(plain(f"  · {p}"), classes="dim")
                if n > len(self.previews):
                    yield Label(f"  … and {n - len(self.previews)} more", classes="dim")
                yield Label(
                    "They stay unless you forget them too (forgotten memories can be restored "
                    "in the inspector until they are purged).",
                    classes="dim",
                )
            else:
                yield Label("No memories came from it.", id="delete-memories-count")
            with Horizontal(classes="dialog-buttons"):
                if n:
                    yield Button(f"Delete + forget {n} (f)", variant="error", id="all")
                yield Button(
                    "Delete chat only (y)" if n else "Delete (y)", variant="error", id="chat"
                )
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, what: str) -> None:
        if what == "all" and not self.memories:
            return
        self.dismiss(what or None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in ("chat", "all") else None)
