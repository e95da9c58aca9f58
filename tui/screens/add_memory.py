"""Add a memory from the app: `n` in the inspector's Long-term tab, and "remember this" (`r`,
or the palette) on a focused chat message. One small dialog -- the text, an optional scope
and pinned -- and one writer, :func:`save_memory`, that goes through ``MemoryStore.add_memory``
(so redaction, scope validation and the vector outbox apply as for `memchat memory add`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, TextArea

from tui.widgets.safe_text import visible


@dataclass
class NewMemory:
    """What the dialog returns: the memory to add and where it came from."""

    text: str
    scope: str = "global"
    pinned: bool = False
    source_conversation_id: str | None = None
    source_message_ids: list[str] = field(default_factory=list)


class AddMemoryDialog(ModalScreen[NewMemory | None]):
    """Dismisses with a :class:`NewMemory`, or None when cancelled. ctrl+s saves."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog_cancel"),
        Binding("ctrl+s", "save", "Save", id="add_memory_save"),
    ]

    def __init__(self, title: str = "New memory", text: str = "", *, scope: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.text = text
        self.scope = scope

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="add-memory"):
            yield Label(self.title_text, classes="dialog-question")
            yield TextArea(visible(self.text), id="memory-text", soft_wrap=True)
            yield Input(
                self.scope,
                placeholder="scope: global (empty), project:NAME or conversation:ID",
                id="memory-scope",
            )
            yield Checkbox("pinned (always considered first)", id="memory-pinned")
            yield Label("ctrl+s saves · Esc cancels · Tab moves", classes="dim")

    def on_mount(self) -> None:
        text = self.query_one("#memory-text", TextArea)
        text.styles.height = (
            5  # the dialog fits 80×24 with its hint (the app's .dialog rule says 10)
        )
        text.focus()

    def action_save(self) -> None:
        text = self.query_one("#memory-text", TextArea).text
        if text == visible(self.text):  # unchanged: the original, not its visible stand-ins
            text = self.text
        text = text.strip()
        if not text:
            self.notify("A memory needs some text.", severity="error")
            return
        scope = self.query_one("#memory-scope", Input).value.strip() or "global"
        kind, sep, name = scope.partition(":")
        if scope != "global" and not (sep and name.strip() and kind in ("project", "conversation")):
            self.notify(
                "Scope is global, project:NAME or conversation:ID.", severity="error", timeout=6
            )
            return
        pinned = self.query_one("#memory-pinned", Checkbox).value
        self.dismiss(NewMemory(text, scope, pinned))

    def action_cancel(self) -> None:
        self.dismiss(None)


def save_memory(store: Any, new: NewMemory, *, reason: str) -> str:
    """Add ``new`` through the store (blocking: call it from a thread worker); returns the
    note to show. Raises what ``MemoryStore.add_memory`` raises (e.g. a bad scope)."""
    m = store.add_memory(
        new.text,
        section="facts",
        actor="user",
        reason=reason,
        scope=new.scope,
        pinned=new.pinned,
        source_conversation_id=new.source_conversation_id,
        source_message_ids=list(new.source_message_ids),
    )
    where = "" if m.scope == "global" else f" ({m.scope})"
    return f"Remembered{where}{' and pinned' if m.pinned else ''}: {_short(m.content)}"


def _short(text: str, n: int = 50) -> str:
    line = " ".join(visible(text, keep="").split())
    return line if len(line) <= n else line[: n - 1] + "…"
