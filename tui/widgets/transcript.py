"""The scrolling transcript: message views, an empty state, the first-run notice."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.containers import VerticalScroll
from textual.widgets import Static

if TYPE_CHECKING:  # Markdown and the models load after the first screen
    from memory.models import Message
    from tui.widgets.message import MessageView

EMPTY_TEXT = (
    "[b]New conversation[/b]\n\n"
    "Type below and press [b]Enter[/b] to send ([b]ctrl+j[/b] for a new line).\n"
    "memchat recalls what matters from your earlier conversations and shows which\n"
    "memories each reply used.  [b]F1[/b] lists every key · [b]ctrl+p[/b] every command."
)
HISTORY_LIMIT = 60


class Transcript(VerticalScroll, can_focus=False):
    """Messages oldest first; stays scrolled to the bottom while a reply streams."""

    def compose(self):
        yield Static(EMPTY_TEXT, classes="empty-state")

    def views(self) -> list[MessageView]:
        return cast("list[MessageView]", list(self.query("MessageView")))

    def show_empty(self, text: str = EMPTY_TEXT) -> None:
        self.remove_children()
        self.mount(Static(text, classes="empty-state"))

    async def show_messages(self, messages: list[Message]) -> list[MessageView]:
        """Replace the transcript with these messages (the last HISTORY_LIMIT of them)."""
        from tui.widgets.message import MessageView

        await self.remove_children()
        if not messages:
            await self.mount(Static(EMPTY_TEXT, classes="empty-state"))
            return []
        widgets: list = []
        hidden = len(messages) - HISTORY_LIMIT
        if hidden > 0:
            widgets.append(Static(f"… {hidden} earlier messages not shown", classes="dim earlier"))
            messages = messages[-HISTORY_LIMIT:]
        views = [
            MessageView(m.role, m.content, message_id=m.id, status=m.status, model=m.model)
            for m in messages
            if m.role in ("user", "assistant")
        ]
        widgets.extend(views)
        await self.mount_all(widgets)
        self.scroll_end(animate=False, immediate=True)
        self.anchor()
        return views

    async def add(self, view: MessageView) -> MessageView:
        for placeholder in self.query(".empty-state"):
            await placeholder.remove()
        await self.mount(view)
        self.anchor()
        return view
