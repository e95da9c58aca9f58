"""The memory inspector (F2, or `memchat inspect`): every tier, and keyboard-driven cleanup.

Tabs: Long-term (browse, search, clean up), Review (queues), Short-term (Redis), Vectors
(Chroma), Pipeline (huey), Stats. Changes made elsewhere -- the background worker, another
process -- show up within about a second: a cheap change marker (the newest history row)
is polled and the visible tab reloads when it moves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from tui.screens.inspector_longterm import LongTermTab
from tui.screens.inspector_pipeline import PipelineTab
from tui.screens.inspector_review import ReviewTab
from tui.screens.inspector_shortterm import ShortTermTab
from tui.screens.inspector_stats import StatsTab, format_stats
from tui.screens.inspector_vectors import VectorsTab
from tui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from textual import getters

    from tui.app import MemchatApp

log = logging.getLogger("memchat.tui.inspector")

POLL_SECONDS = 1.0
TABS = ("longterm", "review", "shortterm", "vectors", "pipeline", "stats")
TITLES = ("Long-term", "Review", "Short-term", "Vectors", "Pipeline", "Stats")

__all__ = ["InspectorScreen", "format_stats", "inspector_help_sections"]


class InspectorScreen(Screen):
    if TYPE_CHECKING:
        app = getters.app(MemchatApp)
    BINDINGS = [
        Binding("f2,escape", "close", "Chat", id="inspector_close"),
        Binding("f1", "help", "Help", id="help"),
        Binding("f5", "refresh", "Refresh", show=False, id="inspector_refresh"),
        *[
            Binding(str(n + 1), f"show_tab('{tab}')", title, show=False, id=f"inspector_tab_{tab}")
            for n, (tab, title) in enumerate(zip(TABS, TITLES, strict=True))
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marker: tuple[int, int] | None = None
        self.stale: set[str] = set(TABS)
        self.live = True  # snapshot tests switch the poll off

    def compose(self) -> ComposeResult:
        with TabbedContent(id="inspector-tabs", initial="longterm"):
            with TabPane("Long-term", id="longterm"):
                yield LongTermTab(id="lt")
            with TabPane("Review", id="review"):
                yield ReviewTab(id="rv")
            with TabPane("Short-term", id="shortterm"):
                yield ShortTermTab(id="st")
            with TabPane("Vectors", id="vectors"):
                yield VectorsTab(id="vx")
            with TabPane("Pipeline", id="pipeline"):
                yield PipelineTab(id="pl")
            with TabPane("Stats", id="stats"):
                yield StatsTab(id="sx")
        yield KeyFooter()

    @property
    def longterm(self) -> LongTermTab:
        return self.query_one(LongTermTab)

    @property
    def review(self) -> ReviewTab:
        return self.query_one(ReviewTab)

    def tab(self, name: str):
        return self.query_one(
            {
                "longterm": "#lt",
                "review": "#rv",
                "shortterm": "#st",
                "vectors": "#vx",
                "pipeline": "#pl",
                "stats": "#sx",
            }[name]
        )

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active or "longterm"

    def on_mount(self) -> None:
        self.set_interval(POLL_SECONDS, self._poll)  # each tab loads itself when it mounts

    def refresh_stats(self) -> None:
        """Load (or reload) what is visible; the app calls this once memory has opened."""
        if getattr(self.app, "store", None) is None:
            return
        self.stale = set(TABS)
        self._reload_active()

    def _reload_active(self) -> None:
        name = self.active
        try:
            tab = self.tab(name)
        except NoMatches:  # TabbedContent mounts its panes after the screen: the tab loads on mount
            return
        self.stale.discard(name)
        tab.reload()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        name = event.pane.id or "longterm"
        if name in self.stale and getattr(self.app, "store", None) is not None:
            self._reload_active()
        # focus inside the shown pane (focus left in a hidden pane would switch back to it)
        focus = {"longterm": "#lt-table", "review": "#rv-table", "pipeline": "#pl-failed"}.get(name)
        try:
            self.query_one(focus).focus() if focus else self.tab(name).focus()
        except NoMatches:
            pass

    # ------------------------------------------------------------------ live updates
    def _poll(self) -> None:
        if not self.live or getattr(self.app, "store", None) is None:
            return
        if self.active == "shortterm":
            self.tab("shortterm").tick()
        self._check_marker()

    @work(thread=True, exclusive=True, group="inspector-poll")
    def _check_marker(self) -> None:
        try:
            marker = self.app.store.browse.change_marker()
        except Exception as e:  # noqa: BLE001 - a busy database: try again next second
            log.debug("change marker: %s", e)
            return
        self.app.call_from_thread(self._marker_read, marker)

    def _marker_read(self, marker: tuple[int, int]) -> None:
        if self.marker is None:
            self.marker = marker
            return
        if marker != self.marker:
            self.marker = marker
            self.stale = set(TABS)
            self._reload_active()

    # ------------------------------------------------------------------ actions
    def action_show_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_refresh(self) -> None:
        self.refresh_stats()

    def action_close(self) -> None:
        self.app.action_toggle_inspector()

    def action_help(self) -> None:
        from tui.app import help_sections
        from tui.screens.help import HelpScreen

        keymap = dict(self.app.settings.ui.keymap) if getattr(self.app, "settings", None) else {}
        self.app.push_screen(HelpScreen(inspector_help_sections() + help_sections(), keymap))


def inspector_help_sections() -> list[tuple[str, list[Binding]]]:
    from tui.screens.inspector_cleanup import CleanupMixin
    from tui.widgets.inspector.search import SearchBar
    from tui.widgets.inspector.table import MemoryTable

    def keep(bindings) -> list[Binding]:
        return [b for b in bindings if isinstance(b, Binding) and b.id]

    lt = [b for b in LongTermTab.BINDINGS if b not in CleanupMixin.CLEANUP_BINDINGS]
    return [
        ("Memory inspector (F2)", keep(InspectorScreen.BINDINGS)),
        ("Inspector: moving and marking", keep(MemoryTable.BINDINGS)),
        (
            "Inspector: cleanup (marked memories, else the highlighted one)",
            keep(CleanupMixin.CLEANUP_BINDINGS),
        ),
        ("Inspector: search and sort", keep(lt) + keep(SearchBar.BINDINGS)),
        ("Inspector: review queues", keep(ReviewTab.BINDINGS)),
        ("Inspector: short-term", keep(ShortTermTab.BINDINGS)),
        ("Inspector: vectors and pipeline", keep(VectorsTab.BINDINGS) + keep(PipelineTab.BINDINGS)),
    ]
