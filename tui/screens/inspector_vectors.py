"""The Vectors tab: the Chroma collection, its count and model, drift against SQLite, the
index outbox and any rebuild, all from ``MemoryStore.vector_health`` (the same verdict as
`memchat doctor`); ``i`` rebuilds the profile's vectors with a progress bar."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from rich.table import Table
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from memory.models import VectorHealth
from tui.widgets.delivery import while_shown

if TYPE_CHECKING:
    from textual import getters
    from textual.notifications import SeverityLevel

    from tui.app import MemchatApp

log = logging.getLogger("memchat.tui.inspector")


class VectorsTab(Vertical, can_focus=True):
    if TYPE_CHECKING:
        app = getters.app(MemchatApp)
    BINDINGS = [Binding("i", "reindex", "Reindex", id="vectors_reindex")]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.health: VectorHealth | None = None
        self.reindexing = False

    def compose(self) -> ComposeResult:
        yield Static("reading the vector index…", id="vx-body")
        yield ProgressBar(id="vx-progress", show_eta=False)

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def reload(self) -> None:
        if self.app.store is not None and not self.reindexing:
            self._load()

    @work(thread=True, exclusive=True, group="vx-load")
    def _load(self) -> None:
        health = self.app.store.vector_health()
        self.app.call_from_thread(self._show, health)

    @while_shown
    def _show(self, health: VectorHealth) -> None:
        self.health = health
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column()
        colour = {"OK": "green", "WARN": "yellow", "FAIL": "red"}[health.status]
        if health.where:
            t.add_row("collection", health.collection)
            t.add_row("stored at", health.where)
            t.add_row(
                "model",
                f"{health.model} ({health.dim} dimensions)"
                + (
                    "  [b red]built with another model: press i[/]" if health.model_mismatch else ""
                ),
            )
            t.add_row("vectors", f"{health.actual:,}" if health.actual is not None else "?")
        t.add_row("SQLite live", f"{health.expected:,} (memories + chat turns)")
        t.add_row("outbox", f"{health.pending:,} writes waiting for the vector index")
        t.add_row("health", f"[b {colour}]{health.status}[/] {escape(health.detail)}")
        self.query_one("#vx-body", Static).update(t)

    def action_reindex(self) -> None:
        if self.app.store is None or self.reindexing:
            return
        self.reindexing = True
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._reindex()

    @work(thread=True, exclusive=True, group="vx-reindex")
    def _reindex(self) -> None:
        store = self.app.store
        bar = self.query_one(ProgressBar)
        try:
            if store.vectors is None:
                raise RuntimeError("no embedding model available")
            n = store.reindex(
                progress=lambda done, total: self.app.call_from_thread(
                    bar.update, total=total, progress=done
                )
            )
            note, sev = f"Reindexed {n:,} items.", cast("SeverityLevel", "information")
        except Exception as e:  # noqa: BLE001
            note, sev = f"Reindex failed: {e}", "error"
        self.app.call_from_thread(self._reindexed, note, sev)

    @while_shown
    def _reindexed(self, note: str, severity: SeverityLevel) -> None:
        self.reindexing = False
        self.query_one(ProgressBar).display = False
        self.app.notify(note, severity=severity)
        self.reload()
