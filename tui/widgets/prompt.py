"""The multi-line prompt: Enter sends, ctrl+j (or shift+enter) inserts a newline, up/down
on the first/last line walk through earlier prompts (persisted by the screen)."""

from __future__ import annotations

import re

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from tui.widgets.safe_text import visible

PASTE_INLINE = 4_000  # characters: a longer paste is held aside behind a one-line placeholder
_HELD = re.compile(r"\[pasted text #(\d+): [\d,]+ lines?, [\d,]+ characters\]")


class PromptInput(TextArea):
    BINDINGS = [
        Binding("enter", "submit", "Send", id="send", priority=True),
        Binding("ctrl+j,shift+enter", "newline", "New line", id="newline", priority=True),
        Binding(
            "up", "history(-1)", "Earlier prompt", id="history_previous", show=False, priority=True
        ),
        Binding("down", "history(1)", "Later prompt", id="history_next", show=False, priority=True),
    ]

    class Submitted(Message):
        def __init__(self, prompt: PromptInput, text: str) -> None:
            self.prompt = prompt
            self.text = text
            super().__init__()

    def __init__(self, **kw) -> None:
        super().__init__(soft_wrap=True, tab_behavior="focus", show_line_numbers=False, **kw)
        self.prompt_history: list[str] = []  # oldest first; set by the screen
        self._index: int | None = None  # position in history while browsing
        self._draft = ""
        self._held: dict[int, str] = {}  # placeholder number -> the pasted text it stands for

    # These bindings have priority (TextArea would otherwise take Enter and the arrows), so the
    # App runs them as soon as the key arrives, possibly before this widget has inserted the
    # characters typed just before it (a fast typist, a paste from tmux). Each action therefore
    # queues its work behind those keys with call_later.
    def action_submit(self) -> None:
        self.call_later(self._submit)

    def _submit(self) -> None:
        text = self.expanded(self.text).strip()
        if text:
            self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.call_later(self.insert, "\n")

    def remember(self, text: str) -> None:
        """Add a sent prompt to the in-memory history and reset browsing."""
        if not self.prompt_history or self.prompt_history[-1] != text:
            self.prompt_history.append(text)
        self._index = None
        self._draft = ""

    async def _on_paste(self, event: events.Paste) -> None:
        """Insert a paste, a long one behind a placeholder. (The app has already taken the
        terminal escapes out of it: MemchatApp.on_event cleans every paste.)"""
        event.prevent_default()  # instead of TextArea's own paste handler
        if self.read_only:
            return
        result = self.replace(self._hold(event.text), *self.selection)
        self.move_cursor(result.end_location)
        self.focus()

    def _hold(self, text: str) -> str:
        """``text``, or for a long one a placeholder that stands for it until it is sent (a
        TextArea redraws slowly with a huge text in it; deleting the placeholder drops it)."""
        if len(text) <= PASTE_INLINE:
            return text
        n = max(self._held, default=0) + 1
        self._held[n] = text
        lines = text.count("\n") + 1
        return f"[pasted text #{n}: {lines:,} line{'s' if lines > 1 else ''}, {len(text):,} characters]"

    def expanded(self, text: str) -> str:
        """``text`` with every placeholder replaced by the paste it stands for."""
        return _HELD.sub(lambda m: self._held.get(int(m.group(1)), m.group(0)), text)

    def clear(self):
        self._held.clear()
        return super().clear()

    def set_prompt(self, text: str) -> None:
        """Load a past prompt (a long one behind a placeholder); control characters shown, as a
        TextArea would draw them raw."""
        self._held.clear()
        self.load_text(self._hold(visible(text)))
        self.move_cursor(self.document.end)

    def action_history(self, step: int) -> None:
        self.call_later(self._history, step)

    def _history(self, step: int) -> None:
        row, _ = self.cursor_location
        last_row = self.document.line_count - 1
        at_edge = row == 0 if step < 0 else row == last_row
        if not at_edge or not self.prompt_history:
            if step < 0:
                self.action_cursor_up()
            else:
                self.action_cursor_down()
            return
        if self._index is None:
            if step > 0:
                return
            self._draft = self.expanded(self.text)
            self._index = len(self.prompt_history)
        self._index += step
        if self._index < 0:
            self._index = 0
            return
        if self._index >= len(self.prompt_history):
            self._index = None
            self.set_prompt(self._draft)
            return
        self.set_prompt(self.prompt_history[self._index])
