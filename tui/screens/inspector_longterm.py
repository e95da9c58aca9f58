"""The Long-term tab: search bar, memory table (paged), detail pane.

Every read runs in a thread worker (exclusive per purpose) and lands through
``call_from_thread``; a serial number drops results a newer keystroke made stale. The
cleanup keys live in :mod:`tui.screens.inspector_cleanup`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label

from memory.facades import Browse
from memory.models import BrowsePage, BrowseQuery
from tui.screens.inspector_cleanup import CleanupMixin
from tui.widgets.delivery import while_shown
from tui.widgets.inspector.detail import Detail, DetailPane
from tui.widgets.inspector.search import SearchBar
from tui.widgets.inspector.table import MemoryTable

if TYPE_CHECKING:
    from textual import getters
    from textual.timer import Timer

    from memory.store import MemoryStore
    from tui.app import MemchatApp
    from tui.screens.inspector import InspectorScreen

log = logging.getLogger("memchat.tui.inspector")

PAGE = 100  # a screenful or three; more load as the cursor nears the end
SORT_CYCLE = ("auto", "updated", "created", "importance", "confidence", "used", "section", "text")


class LongTermTab(CleanupMixin, Vertical):
    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="inspector_search"),
        Binding("s", "cycle_sort", "Sort", id="inspector_sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="inspector_sort_reverse"),
        Binding("r", "toggle_semantic", "Ranked", show=False, id="inspector_semantic"),
        Binding("n", "new_memory", "New memory", id="inspector_new_memory", show=False),
        *CleanupMixin.CLEANUP_BINDINGS,
    ]

    if TYPE_CHECKING:
        app = getters.app(MemchatApp)

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.query_state = BrowseQuery()
        self.serial = 0  # bumped by every new query
        self.shown_serial = 0  # the serial whose rows are on screen
        self.debounce = 0.15
        self._debounce_timer: Timer | None = None
        self.order = "updated"
        self.last_deleted: list[str] = []

    def compose(self) -> ComposeResult:
        yield SearchBar(id="lt-search")
        yield Label("loading…", id="lt-summary")
        with Horizontal(id="lt-body"):
            yield MemoryTable(id="lt-table")
            yield DetailPane(id="lt-detail")

    NARROW = 120  # below this many columns the detail pane goes under the table

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < self.NARROW, "narrow")

    def on_mount(self) -> None:
        self.table.focus()
        if self.store is not None:
            cast("InspectorScreen", self.screen).stale.discard("longterm")
            self.reload(keep_cursor=False)

    @property
    def table(self) -> MemoryTable:
        return self.query_one(MemoryTable)

    @property
    def search(self) -> SearchBar:
        return self.query_one(SearchBar)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def store(self) -> MemoryStore:
        return self.app.store

    # ------------------------------------------------------------------ loading
    def reload(self, *, keep_cursor: bool = True) -> None:
        """Run the current query again from the first page."""
        if self.store is None:
            return
        self.serial += 1
        self._load(
            self.serial,
            self.query_state,
            max(PAGE, len(self.table.ids)) if keep_cursor else PAGE,
            keep_cursor,
        )

    @work(thread=True, exclusive=True, group="lt-load")
    def _load(self, serial: int, q: BrowseQuery, limit: int, keep_cursor: bool) -> None:
        store = self.store
        try:
            page = store.browse.page(q, limit=limit)
        except Exception as e:  # noqa: BLE001 - a bad filter or a locked database: say so
            log.warning("browse failed: %s", e)
            self.app.call_from_thread(self._summary, f"[red]could not load memories: {e}[/]")
            return
        self.app.call_from_thread(self._show_page, serial, page, keep_cursor)
        total = store.browse.count(q)
        self.app.call_from_thread(self._show_total, serial, total, page)

    @while_shown
    def _show_page(self, serial: int, page: BrowsePage, keep_cursor: bool) -> None:
        if serial != self.serial:
            return
        self.scores = page.scores
        self.order = page.order
        table = self.table
        table.total = max(table.total, len(page.rows)) if keep_cursor else len(page.rows)
        table.show_rows(page.rows, keep_cursor=keep_cursor)
        if not keep_cursor and table.ids and table.cursor_row != 0:
            table.move_cursor(row=0)
        self.shown_serial = serial
        self._highlighted()

    @while_shown
    def _show_total(self, serial: int, total: int, page: BrowsePage) -> None:
        if serial != self.serial:
            return
        self.table.total = total
        self._summary()

    @while_shown
    def _summary(self, error: str | None = None) -> None:
        label = self.query_one("#lt-summary", Label)
        if error:
            label.update(error)
            return
        q, t = self.query_state, self.table
        order = {
            "score": "by relevance",
            "newest": "newest first",
            "updated": "last changed first",
        }.get(self.order, f"by {self.order}")
        if self.order not in ("score", "newest") and not q.descending:
            order += " (reversed)"
        noun = "memory" if t.total == 1 else "memories"
        shown = (
            f"{t.total:,} {noun}"
            if len(t.ids) == t.total
            else f"{len(t.ids):,} of {t.total:,} {noun}"
        )
        parts = [shown, order]
        if q.semantic and q.text:
            parts.append("ranked by hybrid recall (r: plain search)")
        if t.marked:
            parts.append(f"[b]{len(t.marked):,} marked[/b]")
        if q.errors:
            parts.append("[red]" + "; ".join(q.errors) + "[/]")
        label.update(" · ".join(parts))

    @on(MemoryTable.NeedMore)
    def _need_more(self) -> None:
        if self.store is not None:
            self._more(self.serial, self.query_state, len(self.table.ids))

    @work(thread=True, exclusive=True, group="lt-more")
    def _more(self, serial: int, q: BrowseQuery, offset: int) -> None:
        page = self.store.browse.page(q, offset=offset, limit=PAGE)
        self.app.call_from_thread(self._append, serial, page)

    def _append(self, serial: int, page: BrowsePage) -> None:
        if not self.is_attached:  # closed while a worker was reading
            return
        if serial == self.serial:
            self.scores.update(page.scores)
            self.table.append_rows(page.rows)
            self._summary()

    @on(MemoryTable.MarksChanged)
    def _marks_changed(self) -> None:
        self._summary()

    # ------------------------------------------------------------------ search and sort
    @on(Input.Changed, "#lt-search")
    def _typed(self, event: Input.Changed) -> None:
        if self._debounce_timer is not None:
            self._debounce_timer.stop()
        if self.debounce <= 0:
            self._apply_search(event.value)
        else:
            self._debounce_timer = self.set_timer(
                self.debounce, lambda: self._apply_search(event.value)
            )

    @on(Input.Submitted, "#lt-search")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply_search(event.value)
        self.table.focus()

    def _apply_search(self, text: str) -> None:
        self.query_state = Browse.parse(text, self.query_state)
        self.serial += 1
        if self.store is not None:
            self._load(self.serial, self.query_state, PAGE, False)

    def action_focus_search(self) -> None:
        self.search.focus()

    def action_new_memory(self) -> None:
        """A dialog for a new memory (text, scope, pinned), added in a thread worker."""
        from tui.screens.add_memory import AddMemoryDialog, NewMemory, save_memory

        if self.store is None:
            return

        def chosen(new: NewMemory | None) -> None:
            if new is not None:
                store = self.store
                self._write(
                    lambda: save_memory(store, new, reason="added in the inspector"),
                    clear_marks=False,
                )

        self.app.push_screen(AddMemoryDialog("New memory"), chosen)

    def _set_sort(self, sort: str, descending: bool | None = None) -> None:
        q = self.query_state
        q.descending = (
            (not q.descending if q.sort == sort else True) if descending is None else descending
        )
        q.sort = sort
        self.reload(keep_cursor=False)

    def action_cycle_sort(self) -> None:
        cur = self.query_state.sort if self.query_state.sort in SORT_CYCLE else "auto"
        self._set_sort(SORT_CYCLE[(SORT_CYCLE.index(cur) + 1) % len(SORT_CYCLE)], True)
        self.app.notify(f"Sorted by {self.query_state.sort}", timeout=2)

    def action_reverse_sort(self) -> None:
        self._set_sort(self.query_state.sort, not self.query_state.descending)

    @on(MemoryTable.SortRequested)
    def _header(self, event: MemoryTable.SortRequested) -> None:
        self._set_sort(event.sort)

    def action_toggle_semantic(self) -> None:
        self.query_state.semantic = not self.query_state.semantic
        self.app.notify(
            "Ranked by hybrid recall (vectors + words)"
            if self.query_state.semantic
            else "Plain full-text search",
            timeout=2,
        )
        self.reload(keep_cursor=False)

    # ------------------------------------------------------------------ detail
    @on(DataTable.RowHighlighted, "#lt-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._highlighted()

    def _highlighted(self, force: bool = False) -> None:
        cur = self.table.current_id
        shown = self.detail.detail.memory.id if self.detail.detail is not None else None
        if cur is None:
            if shown is not None:
                self.detail.show(None)
            return
        if (
            cur == shown
            and not force
            and self.detail.detail is not None
            and self.table.memories[cur].updated_at == self.detail.detail.memory.updated_at
        ):
            return
        self._load_detail(cur, getattr(self, "scores", {}).get(cur))

    @work(thread=True, exclusive=True, group="lt-detail")
    def _load_detail(self, memory_id: str, score: float | None) -> None:
        time.sleep(0.03)  # holding ↓ should not read every row's history
        store = self.store
        try:
            m = store.get_memory(memory_id)
        except Exception:  # noqa: BLE001 - forgotten meanwhile
            self.app.call_from_thread(self.detail.show, None)
            return
        d = Detail(m, store.memory_history(m.id), score=score)
        found = store.messages_by_ids(m.source_message_ids) if m.source_message_ids else {}
        d.sources = [found[i] for i in m.source_message_ids if i in found]
        cid = m.source_conversation_id or (d.sources[0].conversation_id if d.sources else None)
        if cid:
            try:
                d.source_title = store.get_conversation(cid).title or "untitled chat"
            except Exception:  # noqa: BLE001
                d.source_title = "a deleted chat"
        if m.superseded_by:
            d.superseded_by = store.get_memories([m.superseded_by]).get(m.superseded_by)
        self.app.call_from_thread(self._show_detail, memory_id, d)

    def _show_detail(self, memory_id: str, d: Detail) -> None:
        if not self.is_attached:  # closed while a worker was reading
            return
        if self.table.current_id == memory_id:
            self.detail.show(d)
