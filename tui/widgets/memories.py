"""The "memories used" line under an assistant reply, and one row per memory when expanded.

Rows post requests (pin, forget, open source) as messages; the chat screen performs them on
the store and updates the row (messages up, attributes down).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Collapsible, Static

from memory.models import RecallHit, UsedMemory
from tui.widgets.focus import move_in_transcript
from tui.widgets.safe_text import visible


@dataclass
class MemoryItem:
    """What the UI shows about one memory (or past message) a reply used."""

    id: str
    kind: str  # "memory" or "message"
    score: float
    text: str = ""
    section: str = ""
    tokens: int = 0
    pinned: bool = False
    source_conversation_id: str | None = None
    source_title: str = ""
    forgotten: bool = False
    missing: bool = False
    resolved: bool = False
    always: bool = False  # an always-on note (preference or pinned), not a recalled one

    @classmethod
    def from_hit(cls, hit: RecallHit) -> MemoryItem:
        return cls(
            id=hit.id,
            kind=hit.kind,
            score=hit.score,
            text=hit.text,
            section=hit.section,
            tokens=hit.tokens,
            pinned=bool(hit.memory and hit.memory.pinned),
            source_conversation_id=hit.provenance.conversation_id,
            resolved=True,
            always="always" in hit.scores,
        )

    @classmethod
    def from_used(cls, used: UsedMemory) -> MemoryItem:
        return cls(id=used.id, kind=used.kind, score=used.score, always=used.always)

    @property
    def tier(self) -> str:
        if self.always:
            return "always"
        return "episodic" if self.kind == "message" else "long-term"


def summary_line(count: int, memory_tokens: int | None, prompt_tokens: int | None) -> str:
    """E.g. ``3 memories used · 212 tokens (14% of prompt)``."""
    if count == 0:
        return "no memory used"
    noun = "memory" if count == 1 else "memories"
    line = f"{count} {noun} used"
    if memory_tokens:
        line += f" · {memory_tokens} tokens"
        if prompt_tokens:
            line += f" ({min(100, round(100 * memory_tokens / prompt_tokens))}% of prompt)"
    return line


class MemoryRow(Static, can_focus=True):
    """One used memory: score, tier/section, text, source. p pins, f forgets, o opens the source."""

    BINDINGS = [
        Binding("p", "pin", "Pin/unpin", id="memory_pin"),
        Binding("f,delete", "forget", "Forget", id="memory_forget"),
        Binding("u", "restore", "Undo forget", id="memory_restore"),
        Binding("o", "open_source", "Open source", id="memory_open_source"),
        Binding("up", "move(-1)", "Previous", show=False),
        Binding("down", "move(1)", "Next", show=False),
    ]

    class Requested(Message):
        """The user asked to do ``action`` ("pin", "forget", "restore", "open") to this memory."""

        def __init__(self, row: MemoryRow, action: str) -> None:
            self.row = row
            self.action = action
            super().__init__()

    def __init__(self, item: MemoryItem) -> None:
        super().__init__(classes="memory-row")
        self.item = item

    def render(self) -> Text:
        it = self.item
        t = Text(no_wrap=False, overflow="fold")
        t.append(f"{it.score:.2f} ", style="bold")
        label = it.tier if it.kind == "message" else f"{it.tier}/{visible(it.section) or '?'}"
        t.append(f"[{label}] ", style="italic")
        if it.pinned:
            t.append("📌 ")
        if it.missing:
            t.append("(no longer stored)", style="dim")
        else:
            t.append(visible(it.text) or "…", style="strike dim" if it.forgotten else "")
        if it.source_title:
            t.append(f"  — from “{visible(it.source_title)}”", style="dim")
        if it.forgotten:
            t.append("  forgotten (u undoes)", style="bold red")
        return t

    def refresh_item(self, item: MemoryItem | None = None) -> None:
        if item is not None:
            self.item = item
        self.refresh(layout=True)
        self.refresh_bindings()  # the footer offers f (forget) or u (undo), whichever applies

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore":
            return self.item.forgotten
        if action == "forget":
            return not self.item.forgotten
        return True

    def action_pin(self) -> None:
        if self.item.kind == "memory" and not self.item.missing:
            self.post_message(self.Requested(self, "pin"))

    def action_forget(self) -> None:
        if self.item.kind == "memory" and not self.item.forgotten and not self.item.missing:
            self.post_message(self.Requested(self, "forget"))

    def action_restore(self) -> None:
        if self.item.forgotten:
            self.post_message(self.Requested(self, "restore"))

    def action_open_source(self) -> None:
        if self.item.source_conversation_id:
            self.post_message(self.Requested(self, "open"))

    def action_move(self, step: int) -> None:
        move_in_transcript(self, step)


class MemoriesUsed(Collapsible):
    """Collapsed: a one-line summary. Expanded: a :class:`MemoryRow` per item."""

    BINDINGS = [
        Binding("up", "move(-1)", "Previous", show=False),
        Binding("down", "move(1)", "Next", show=False),
    ]

    class DetailsWanted(Message):
        """Sent on first expansion when the items only carry ids (loaded from history)."""

        def __init__(self, panel: MemoriesUsed) -> None:
            self.panel = panel
            super().__init__()

    def __init__(self) -> None:
        super().__init__(title="memories…", collapsed=True, classes="memories-used")
        self.items: list[MemoryItem] = []
        self.memory_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.display = False

    def set_items(
        self,
        items: list[MemoryItem],
        memory_tokens: int | None = None,
        prompt_tokens: int | None = None,
    ) -> None:
        self.items = items
        if memory_tokens is not None:
            self.memory_tokens = memory_tokens
        if prompt_tokens is not None:
            self.prompt_tokens = prompt_tokens
        self.title = summary_line(len(items), self.memory_tokens, self.prompt_tokens)
        self.display = True
        self._fill()

    def on_mount(self) -> None:
        if self.display:
            self._fill()

    def _fill(self) -> None:
        if not self.is_mounted:
            return  # on_mount fills it
        contents = self.query_one(Collapsible.Contents)
        contents.remove_children()
        if self.items:
            contents.mount_all([MemoryRow(it) for it in self.items])
        else:
            contents.mount(Static("Nothing from memory went into this reply.", classes="dim"))

    def rows(self) -> list[MemoryRow]:
        return list(self.query(MemoryRow))

    def action_move(self, step: int) -> None:
        if self.screen.focused is not None:
            move_in_transcript(self.screen.focused, step)

    @on(Collapsible.Expanded)
    def _expanded(self, event: Collapsible.Expanded) -> None:
        if event.collapsible is self and any(not it.resolved for it in self.items):
            self.post_message(self.DetailsWanted(self))
