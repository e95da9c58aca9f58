"""The memory table: one loaded window of rows (pages are appended as the cursor nears the
end), marks for bulk actions, and sortable column headers.

It holds no store: the long-term tab hands it pages, and hears back through messages
(``NeedMore`` when the cursor is close to the last loaded row, ``SortRequested`` when a
header is clicked).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from memory.models import Memory
from tui.widgets.inspector.format import ago, one_line

# (column key, label, width, sort key in memory.curation.browse); the memory text column
# takes whatever width the others leave (see MemoryTable.fit_columns).
COLUMNS: list[tuple[str, str, int | None, str | None]] = [
    ("mark", "✓", 1, None),
    ("pin", "📌", 2, None),
    ("section", "section", 11, "section"),
    ("text", "memory", None, "text"),
    ("tags", "tags", 10, None),
    ("importance", "imp", 4, "importance"),
    ("confidence", "conf", 4, "confidence"),
    ("used", "used", 4, "used"),
    ("updated", "changed", 8, "updated"),
]
DROP_ORDER = ("confidence", "used", "importance", "tags", "section")  # first dropped when narrow
MIN_TEXT = 40  # the memory text keeps at least this many cells before a column is dropped
MAX_TEXT = 160
CELL_PADDING = 2  # DataTable's cell_padding on both sides
NEAR_END = 30  # rows from the last loaded one at which the next page is requested


def fit(width: int) -> tuple[list[str], int]:
    """The columns that fit in ``width`` cells and the width of the memory text column."""
    keys = [k for k, *_ in COLUMNS]
    widths = {k: w for k, _l, w, _s in COLUMNS}

    def fixed(ks: list[str]) -> int:
        return sum((widths[k] or 0) + CELL_PADDING for k in ks if k != "text") + CELL_PADDING

    for drop in DROP_ORDER:
        if width - fixed(keys) >= MIN_TEXT:
            break
        keys.remove(drop)
    return keys, max(12, min(MAX_TEXT, width - fixed(keys)))


def cells(m: Memory, marked: bool, width: int = 40) -> dict[str, Text]:
    """Plain Text cells by column key: never parsed as markup (memory text may contain
    "[red]"), and cheap to measure."""
    status = (
        ""
        if m.status == "active" and not m.superseded_by
        else f"[{m.status if not m.superseded_by else 'superseded'}] "
    )
    text = Text(status, style="italic", no_wrap=True)
    text.append(one_line(m.content, width - len(status)))
    return {
        "mark": Text("●", style="bold") if marked else Text(""),
        "pin": Text("📌" if m.pinned else ""),
        "section": Text(m.section),
        "text": text,
        "tags": Text(one_line(",".join(m.tags), 10)),
        "importance": Text(f"{m.importance:.2f}"[1:] if m.importance < 1 else "1.0"),
        "confidence": Text(f"{m.confidence:.2f}"[1:] if m.confidence < 1 else "1.0"),
        "used": Text(str(m.access_count)),
        "updated": Text(ago(m.updated_at).replace(" ago", "")),
    }


class MemoryTable(DataTable):
    """Rows keyed by memory id. ``marked`` survives reloads (ids, not positions)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="inspector_down"),
        Binding("k", "cursor_up", "Up", show=False, id="inspector_up"),
        Binding("space", "toggle_mark", "Mark", id="inspector_mark"),
        Binding(
            "shift+down", "mark_range(1)", "Mark range ↓", show=False, id="inspector_mark_down"
        ),
        Binding("shift+up", "mark_range(-1)", "Mark range ↑", show=False, id="inspector_mark_up"),
    ]

    class NeedMore(Message):
        """The cursor is near the last loaded row and more rows match."""

    class SortRequested(Message):
        def __init__(self, sort: str) -> None:
            self.sort = sort
            super().__init__()

    class MarksChanged(Message):
        pass

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.ids: list[str] = []
        self.memories: dict[str, Memory] = {}
        self.marked: set[str] = set()
        self.total = 0
        self.loading_more = False
        self.columns_shown: list[str] = []
        self.text_width = MIN_TEXT

    def on_mount(self) -> None:
        self.fit_columns()

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Show the columns that fit the table's width, the memory text taking the rest, so
        no column is clipped at the right edge; rebuilt only when the fit changes."""
        width = self.scrollable_content_region.width or self.size.width
        if not width:
            width = 100
        shown, text_width = fit(width - 1)  # one cell for the vertical scrollbar's gap
        if (shown, text_width) == (self.columns_shown, self.text_width) and self.columns:
            return
        self.columns_shown, self.text_width = shown, text_width
        labels = {k: (label, w) for k, label, w, _s in COLUMNS}
        cursor = self.cursor_row
        self.clear(columns=True)
        for key in shown:
            label, w = labels[key]
            self.add_column(label, key=key, width=text_width if key == "text" else w)
        for mid in self.ids:
            self._add(self.memories[mid])
        if self.ids:
            self.move_cursor(row=min(max(cursor, 0), len(self.ids) - 1), scroll=False)

    def _add(self, m: Memory) -> None:
        row = cells(m, m.id in self.marked, self.text_width)
        self.add_row(*(row[k] for k in self.columns_shown), key=m.id)

    # ------------------------------------------------------------------ data
    @property
    def has_more(self) -> bool:
        return len(self.ids) < self.total

    @property
    def current_id(self) -> str | None:
        if not self.ids or self.cursor_row < 0 or self.cursor_row >= len(self.ids):
            return None
        return self.ids[self.cursor_row]

    def show_rows(self, memories: list[Memory], *, keep_cursor: bool = True) -> None:
        """Replace every row (a new query, or a live refresh of the loaded window)."""
        current = self.current_id if keep_cursor else None
        row_before = self.cursor_row
        self.loading_more = True  # clearing moves the cursor: no page requests meanwhile
        self.clear()
        self.ids, self.memories = [], {}
        self.append_rows(memories)
        if current in self.memories:
            self.move_cursor(row=self.ids.index(current), scroll=False)
        elif self.ids and keep_cursor:
            self.move_cursor(row=min(max(row_before, 0), len(self.ids) - 1), scroll=False)

    def append_rows(self, memories: list[Memory]) -> None:
        for m in memories:
            if m.id in self.memories:
                continue
            self.ids.append(m.id)
            self.memories[m.id] = m
            self._add(m)
        self.loading_more = False

    def update_memory(self, m: Memory) -> None:
        if m.id not in self.memories:
            return
        self.memories[m.id] = m
        for key, value in cells(m, m.id in self.marked, self.text_width).items():
            if key in self.columns_shown:
                self.update_cell(m.id, key, value)

    def set_marked(self, ids: set[str]) -> None:
        changed = (self.marked ^ ids) & set(self.memories)
        self.marked = set(ids)
        for i in changed:
            self.update_cell(i, "mark", Text("●", style="bold") if i in self.marked else Text(""))
        self.post_message(self.MarksChanged())

    # ------------------------------------------------------------------ marking
    def action_toggle_mark(self) -> None:
        cur = self.current_id
        if cur is None:
            return
        self.set_marked(self.marked ^ {cur})
        self.action_cursor_down()

    def action_mark_range(self, step: int) -> None:
        """Shift+arrow: mark this row and the next one in that direction (a growing range)."""
        cur = self.current_id
        if cur is None:
            return
        row = self.cursor_row + step
        add = {cur}
        if 0 <= row < len(self.ids):
            add.add(self.ids[row])
            self.move_cursor(row=row)
        self.set_marked(self.marked | add)

    # ------------------------------------------------------------------ paging and sorting
    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        if (
            self.ids
            and self.has_more
            and not self.loading_more
            and new.row >= len(self.ids) - NEAR_END
        ):
            self.loading_more = True
            self.post_message(self.NeedMore())

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        sort = dict((k, s) for k, _l, _w, s in COLUMNS).get(str(event.column_key.value))
        if sort:
            event.stop()
            self.post_message(self.SortRequested(sort))
