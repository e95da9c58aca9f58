"""The search bar of the long-term tab: free text plus ``name:value`` filters in one line."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

HINT = "search…  filters: section:facts tag:x entity:x pinned:yes age:<7d age:>90d status:pending conv:ID sort:importance"


class SearchBar(Input):
    """Typing filters as you go; Esc or ↓ goes back to the table."""

    BINDINGS = [
        Binding("down,escape", "leave", "To the table", show=False, id="inspector_search_leave"),
    ]

    def __init__(self, **kw) -> None:
        super().__init__(placeholder=HINT, **kw)

    def action_leave(self) -> None:
        self.screen.focus_next()
