"""The Review tab: pending memories (review mode), suspected duplicates (the same words or the
same meaning), conflicts (the same subject with another value), contradictions,
stale and low-confidence memories -- each accepted, edited or rejected with one key."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Static

from memory.facades import Curation
from memory.models import ReviewItem
from tui.screens.dialogs import TextDialog
from tui.screens.inspector_cleanup import sync_vectors
from tui.widgets.delivery import while_shown
from tui.widgets.inspector.format import one_line
from tui.widgets.safe_text import plain, visible

if TYPE_CHECKING:
    from textual import getters

    from tui.app import MemchatApp

log = logging.getLogger("memchat.tui.inspector")

QUEUE_LIMIT = 300  # items shown per queue
QUEUE_LABELS = {
    "pending": "to review",
    "duplicates": "duplicate?",
    "conflicts": "conflict?",
    "contradictions": "contradiction",
    "stale": "stale",
    "low_confidence": "low confidence",
}
WHAT_YES = {
    "pending": "keep it",
    "duplicates": "merge the two",
    "conflicts": "the newer replaces the older (kept in history)",
    "contradictions": "the newer fact is right",
    "stale": "keep it",
    "low_confidence": "confirm it",
}
# What a decision did, for the toast: (accepted, rejected).
DONE = {
    "pending": ("Kept the memory.", "Dropped the memory."),
    "duplicates": ("Merged the two memories.", "Kept both: not duplicates."),
    "contradictions": ("Kept the newer fact.", "Kept the older fact."),
    "stale": ("Kept the memory.", "Deleted the stale memory."),
    "low_confidence": ("Confirmed the memory.", "Deleted the memory."),
}
WHAT_NO = {
    "pending": "drop it",
    "duplicates": "not duplicates",
    "conflicts": "both are true",
    "contradictions": "the older fact is right",
    "stale": "delete it",
    "low_confidence": "delete it",
}


class ReviewTab(Vertical):
    if TYPE_CHECKING:
        app = getters.app(MemchatApp)
    BINDINGS = [
        Binding("y", "accept", "Accept", id="review_accept"),
        Binding("e", "edit", "Edit+accept", id="review_edit"),
        Binding("n", "reject", "Reject", id="review_reject"),
        Binding("f", "next_queue", "Queue filter", id="review_queue"),
        Binding("j", "cursor(1)", "Down", show=False, id="review_down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="review_up"),
    ]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.items: list[ReviewItem] = []
        self.only: str | None = None
        self.counts: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        yield Label("loading review queues…", id="rv-summary")
        yield DataTable(id="rv-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="rv-detail")

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        t.add_column("queue", key="queue", width=14)
        t.add_column("memory", key="memory", width=56)
        t.add_column("why", key="why", width=40)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def reload(self) -> None:
        if self.app.store is not None:
            self._load()

    @work(thread=True, exclusive=True, group="rv-load")
    def _load(self) -> None:
        store = self.app.store
        queues = [
            q
            for q in Curation.QUEUES
            if q != "pending"
            or store.settings.memory.review
            or store.count_memories(status="pending")
        ]
        items: list[ReviewItem] = []
        counts: dict[str, int] = {}
        for q in queues:
            try:
                found = store.curation.review_queue(q, limit=QUEUE_LIMIT)
            except Exception as e:  # noqa: BLE001
                log.warning("review queue %s failed: %s", q, e)
                found = []
            counts[q] = len(found)
            items += found
        self.app.call_from_thread(self._show, items, counts)

    @while_shown
    def _show(self, items: list[ReviewItem], counts: dict[str, int]) -> None:
        self.counts = counts
        self.items = [it for it in items if self.only in (None, it.queue)]
        t = self.table
        row = t.cursor_row
        t.clear()
        for i, it in enumerate(self.items):
            t.add_row(
                QUEUE_LABELS[it.queue],
                plain(one_line(it.memory.content, 56)),  # a str cell would be markup
                plain(one_line(it.detail, 40)),
                key=str(i),
            )
        if self.items:
            t.move_cursor(row=min(max(row, 0), len(self.items) - 1))
        parts = [
            f"{QUEUE_LABELS[q]}: {n}{'+' if n >= QUEUE_LIMIT else ''}" for q, n in counts.items()
        ]
        shown = (
            f"showing {QUEUE_LABELS[self.only]} only (f: next)"
            if self.only
            else "all queues (f filters)"
        )
        self.query_one("#rv-summary", Label).update(" · ".join(parts) + f"  —  {shown}")
        self._describe()

    @on(DataTable.RowHighlighted, "#rv-table")
    def _describe(self, event=None) -> None:
        it = self.current
        box = self.query_one("#rv-detail", Static)
        if it is None:
            box.update(Text("Nothing to review.", style="dim"))
            return
        t = Text()
        t.append(f"{QUEUE_LABELS[it.queue]}: ", style="bold")
        t.append(visible(it.memory.content))
        if it.other is not None:
            t.append("\n  vs  ", style="dim")
            t.append(visible(it.other.content), style="italic")
        t.append(
            f"\ny {WHAT_YES[it.queue]} · e edit, then keep · n {WHAT_NO[it.queue]}", style="dim"
        )
        box.update(t)

    @property
    def current(self) -> ReviewItem | None:
        r = self.table.cursor_row
        return self.items[r] if self.items and 0 <= r < len(self.items) else None

    def action_cursor(self, step: int) -> None:
        self.table.move_cursor(row=self.table.cursor_row + step)

    def action_next_queue(self) -> None:
        order = [None, *[q for q in Curation.QUEUES if q in self.counts]]
        self.only = order[(order.index(self.only) + 1) % len(order)] if self.only in order else None
        self.reload()

    # ------------------------------------------------------------------ decisions
    @work(thread=True, group="rv-write")
    def _decide(self, item: ReviewItem, yes: bool, text: str | None = None) -> None:
        store = self.app.store
        try:
            if text is not None:
                store.curation.edit(item.memory.id, text)
                item.memory = store.get_memory(item.memory.id)
            (store.curation.accept if yes else store.curation.reject)(item)
            sync_vectors(store)
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self.app.notify, f"Could not do that: {e}", severity="error")
            return
        done = DONE[item.queue][0 if yes else 1]
        self.app.call_from_thread(self.app.notify, done, timeout=3)
        self.app.call_from_thread(self.reload)

    def action_accept(self) -> None:
        if self.current is not None:
            self._decide(self.current, True)

    def action_reject(self) -> None:
        if self.current is not None:
            self._decide(self.current, False)

    def action_edit(self) -> None:
        it = self.current
        if it is None:
            return

        def saved(text: str | None) -> None:
            if text is not None and text.strip():
                self._decide(it, True, text)

        self.app.push_screen(
            TextDialog(
                f"Edit, then keep ({QUEUE_LABELS[it.queue]})", it.memory.content, multiline=True
            ),
            saved,
        )
