"""The memory inspector (F2). A placeholder until the Inspector issue lands: tier counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

if TYPE_CHECKING:
    from memory.models import TierStats


def format_stats(stats: list[TierStats]) -> str:
    lines = []
    for tier in stats:
        state = "ok" if tier.ok else "DEGRADED"
        lines.append(f"[b]{tier.name}[/b] ({state})")
        for key, value in sorted(tier.counts.items()):
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


class InspectorScreen(Screen):
    BINDINGS = [Binding("f2,escape", "close", "Back to chat", id="inspector_close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="inspector"):
            yield Label("Memory inspector — coming soon", id="inspector-title")
            yield Static(
                "Browse, search, edit and clean up memories here in a later version.\n"
                "Meanwhile: memchat memory list / search / show / edit / pin / forget.",
                classes="dim",
            )
            yield Static("loading counts…", id="inspector-stats")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_stats()

    def refresh_stats(self) -> None:
        stats = getattr(self.app, "tier_stats", lambda: None)()
        self.query_one("#inspector-stats", Static).update(
            format_stats(stats) if stats else "memory is still opening…"
        )

    def action_close(self) -> None:
        self.app.action_toggle_inspector()
