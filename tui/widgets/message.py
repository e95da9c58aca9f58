"""One message in the transcript: a header, the Markdown body (streamed), memories used, errors."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tui.widgets.focus import move_in_transcript
from tui.widgets.memories import MemoriesUsed
from tui.widgets.safe_text import for_markdown, plain

_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)
SHOW_MAX = 20_000  # characters of a message drawn; a 1 MB paste would freeze the app for seconds


def shown(text: str) -> str:
    """What the body draws of ``text``: made safe, and cut at SHOW_MAX characters."""
    return for_markdown(text if len(text) <= SHOW_MAX else text[:SHOW_MAX])


def cut_note(text: str) -> str:
    """The note under a message too long to draw whole ("" when it is drawn whole)."""
    if len(text) <= SHOW_MAX:
        return ""
    return (
        f"Showing the first {SHOW_MAX:,} of {len(text):,} characters: the whole message is "
        "stored and sent, and c copies all of it."
    )


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text (an unterminated last fence counts)."""
    return [m.group(1).rstrip("\n") for m in _FENCE.finditer(text)]


class MessageView(Vertical, can_focus=True):
    """A user or assistant turn. Focus it (tab, ctrl+t, arrows) to copy or act on it."""

    BINDINGS = [
        Binding("c", "copy", "Copy", id="copy_message"),
        Binding("y", "copy_code", "Copy code", id="copy_code"),
        Binding("m", "toggle_memories", "Memories", id="toggle_memories"),
        Binding("r", "remember", "Remember", id="remember_message", show=False),
        Binding("left", "flip(-1)", "Earlier answer", id="version_previous", show=False),
        Binding("right", "flip(1)", "Later answer", id="version_next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
        Binding("down", "move(1)", "Next", show=False),
    ]

    class CopyRequested(Message):
        def __init__(self, text: str, what: str) -> None:
            self.text = text
            self.what = what
            super().__init__()

    class RememberRequested(Message):
        """ "Remember this": the screen asks for the memory's text and stores it."""

        def __init__(self, view: MessageView) -> None:
            self.view = view
            super().__init__()

    class FlipRequested(Message):
        """Show an earlier (-1) or later (+1) answer to the same prompt (regenerate keeps them)."""

        def __init__(self, view: MessageView, step: int) -> None:
            self.view = view
            self.step = step
            super().__init__()

    def __init__(
        self,
        role: str,
        text: str = "",
        *,
        message_id: str | None = None,
        status: str = "complete",
        model: str | None = None,
    ) -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.text = text
        self.message_id = message_id
        self.status = status
        self.model = model
        self._stream: MarkdownStream | None = None
        self._code_index = 0
        self.versions: tuple[int, int] | None = None  # (shown, of how many answers)

    def compose(self) -> ComposeResult:
        yield Label(plain(self._header()), classes="message-header")
        yield Markdown(shown(self.text), classes="message-body")
        yield Static("", classes="message-note")
        if self.role == "assistant":
            yield MemoriesUsed()

    # ------------------------------------------------------------------ parts
    @property
    def body(self) -> Markdown:
        return self.query_one(".message-body", Markdown)

    @property
    def memories(self) -> MemoriesUsed | None:
        found = self.query(MemoriesUsed)
        return found.first() if found else None

    def _header(self) -> str:
        if self.role == "user":
            return "You"
        label = "memchat"
        if self.model:
            label += f" · {self.model}"
        if self.status == "streaming":  # live: nothing is wrong, the reply is on its way
            label += " · writing…" if self.text else " · thinking…"
        elif self.status == "cancelled":
            label += " · stopped"
        elif self.status == "partial":  # stored mid-stream; memchat ended before the reply did
            label += " · interrupted"
        elif self.status == "failed":
            label += " · failed"
        if self.versions is not None:
            shown, total = self.versions
            label += f"  ‹ {shown}/{total} ›"
        return label

    def set_status(self, status: str, model: str | None = None) -> None:
        self.status = status
        if model:
            self.model = model
        self.query_one(".message-header", Label).update(plain(self._header()))

    def set_versions(self, shown: int, total: int) -> None:
        """Say which of several answers to its prompt this reply shows (← → flip)."""
        self.versions = (shown, total) if total > 1 else None
        self.query_one(".message-header", Label).update(plain(self._header()))

    def note(self, text: str, *, error: bool = False) -> None:
        """A line under the body: waiting notices, errors (never raises, never markup)."""
        note = self.query_one(".message-note", Static)
        note.update(plain(text))
        note.set_class(error, "error")
        note.set_class(bool(text), "shown")

    # ------------------------------------------------------------------ streaming
    async def append(self, chunk: str) -> None:
        if not chunk:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        first = not self.text
        self.text += chunk
        if first and self.status == "streaming":
            self.set_status("streaming")  # "thinking…" becomes "writing…"
        await self._stream.write(for_markdown(chunk))

    async def finish(self, text: str | None = None) -> None:
        """End streaming; when the stored text differs (e.g. secrets redacted), show that."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if text is not None and text != self.text:
            self.text = text
            await self.body.update(shown(text))
            self._note_cut()

    async def set_text(self, text: str) -> None:
        self.text = text
        await self.body.update(shown(text))
        self._note_cut()

    def on_mount(self) -> None:
        self._note_cut()

    def _note_cut(self) -> None:
        if note := cut_note(self.text):
            self.note(note)

    # ------------------------------------------------------------------ actions
    def action_copy(self) -> None:
        self.post_message(self.CopyRequested(self.text, "message"))

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.text)
        if not blocks:
            self.app.notify("This message has no code block.", severity="warning")
            return
        i = self._code_index % len(blocks)
        self._code_index += 1
        what = "code block" if len(blocks) == 1 else f"code block {i + 1}/{len(blocks)}"
        self.post_message(self.CopyRequested(blocks[i], what))

    def action_toggle_memories(self) -> None:
        panel = self.memories
        if panel is not None and panel.display:
            panel.collapsed = not panel.collapsed

    def action_flip(self, step: int) -> None:
        if self.role == "assistant":
            self.post_message(self.FlipRequested(self, step))

    def action_remember(self) -> None:
        self.post_message(self.RememberRequested(self))

    def action_move(self, step: int) -> None:
        move_in_transcript(self, step)
