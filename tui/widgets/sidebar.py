"""The conversation sidebar: a search box and the list (recent first) or the search results."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.widgets.safe_text import visible


def ago(ts: float, now: float | None = None) -> str:
    """A coarse relative time ("just now", "5m", "3h", "2d") — stable enough for snapshots."""
    s = max(0.0, (now or time.time()) - ts)
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


TITLE_WIDTH = 18  # the title's width when the list's width is not known yet


@dataclass
class SidebarItem:
    """A conversation, or a search hit inside one."""

    conversation_id: str
    title: str
    when: float
    snippet: str = ""
    message_id: str | None = None
    archived: bool = False

    def prompt(self, width: int | None = None) -> Text:
        """``width``: the cells the line may take (the title gets what the time leaves)."""
        t = Text(no_wrap=True, overflow="ellipsis")
        title = visible(self.title or "", keep="") or "New chat"
        room = TITLE_WIDTH
        if width:
            room = width - len(f"  {ago(self.when)}") - (len(" (archived)") if self.archived else 0)
        room = max(8, room)
        if len(title) > room:
            title = title[: room - 1].rstrip() + "…"
        t.append(title, style="bold" if not self.snippet else "")
        if self.archived:
            t.append(" (archived)", style="dim")
        t.append(f"  {ago(self.when)}", style="dim")
        if self.snippet:
            t.append("\n")
            t.append(visible(self.snippet, keep=""), style="dim italic")
        return t


class ConversationList(OptionList):
    BINDINGS = [
        Binding("n", "request('new')", "New", id="sidebar_new"),
        Binding("r", "request('rename')", "Rename", id="sidebar_rename"),
        Binding("d,delete", "request('delete')", "Delete", id="sidebar_delete"),
        Binding("a", "request('archive')", "Archive", id="sidebar_archive"),
        Binding(
            "left_square_bracket",
            "screen.sidebar_width(-1)",
            "Narrower list",
            id="sidebar_narrower_key",
            show=False,
        ),
        Binding(
            "right_square_bracket",
            "screen.sidebar_width(1)",
            "Wider list",
            id="sidebar_wider_key",
            show=False,
        ),
    ]

    def action_request(self, action: str) -> None:
        self.parent_sidebar().request(action)

    def on_resize(self) -> None:
        self.call_after_refresh(self.parent_sidebar().fit_titles)

    def parent_sidebar(self) -> Sidebar:
        return self.query_ancestor(Sidebar)


class Sidebar(Vertical):
    """Shows items given by the screen; posts Selected, Search and ActionRequested."""

    class Selected(Message):
        def __init__(self, item: SidebarItem) -> None:
            self.item = item
            super().__init__()

    class Search(Message):
        def __init__(self, query: str) -> None:
            self.query = query
            super().__init__()

    class ActionRequested(Message):
        """``action`` is "new", "rename", "delete" or "archive"; item is the highlighted one."""

        def __init__(self, action: str, item: SidebarItem | None) -> None:
            self.action = action
            self.item = item
            super().__init__()

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.items: list[SidebarItem] = []
        self.current_id: str | None = None
        self.searching = False
        self.title = "Conversations"
        self._line_width = 0

    def compose(self) -> ComposeResult:
        yield Label("Conversations", id="list-title")

    async def populate(self) -> None:
        """Mount the search box and the list (after the first screen: they can't show anything
        before memory is open, and leaving them out makes the first paint ~20% faster)."""
        if not self.query("#conversations"):
            await self.mount(Input(placeholder="Search chats  ctrl+f", id="search"), before=0)
            await self.mount(ConversationList(id="conversations"))

    @property
    def option_list(self) -> ConversationList:
        return self.query_one(ConversationList)

    def show(
        self, items: list[SidebarItem], *, title: str = "Conversations", searching: bool = False
    ) -> None:
        if not self.query("#conversations"):
            return
        self.items = items
        self.searching = searching
        self.title = title
        self.query_one("#list-title", Label).update(title)
        ol = self.option_list
        highlighted = ol.highlighted
        self._line_width = width = self._width()
        ol.clear_options()
        ol.add_options([Option(it.prompt(width), id=f"{i}") for i, it in enumerate(items)])
        if searching and highlighted is not None and highlighted < len(items):
            ol.highlighted = highlighted
        self.highlight_current()

    def _width(self) -> int:
        """The cells an option's line has (the list's width less its padding and scrollbar)."""
        if not self.query("#conversations"):
            return 0
        ol = self.option_list
        return max(0, ol.scrollable_content_region.width - 2)

    def fit_titles(self) -> None:
        """The titles take the room the (proportional) sidebar has: redraw when it changed."""
        if self.items and self._width() != self._line_width:
            self.show(self.items, title=self.title, searching=self.searching)

    def highlight_current(self) -> None:
        if self.searching or not self.query("#conversations"):
            return
        for i, it in enumerate(self.items):
            if it.conversation_id == self.current_id:
                self.option_list.highlighted = i
                return
        self.option_list.highlighted = None

    def highlighted_item(self) -> SidebarItem | None:
        i = self.option_list.highlighted
        return self.items[i] if i is not None and 0 <= i < len(self.items) else None

    def request(self, action: str) -> None:
        self.post_message(self.ActionRequested(action, self.highlighted_item()))

    @on(OptionList.OptionSelected, "#conversations")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        i = event.option_index
        if 0 <= i < len(self.items):
            self.post_message(self.Selected(self.items[i]))

    @on(Input.Changed, "#search")
    def _search(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Search(event.value.strip()))

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.items:
            self.option_list.focus()
            self.option_list.highlighted = 0
