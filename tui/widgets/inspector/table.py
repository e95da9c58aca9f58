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

# (column key, label, width, sort key in memory.curation.browse)
COLUMNS: list[tuple[str, str, int | None, str | None]] = [
    ("mark", "✓", 1, None),
    ("pin", "📌", 2, None),
    ("section", "section", 11, "section"),
    ("text", "memory", 40, "text"),
    ("tags", "tags", 10, None),
    ("importance", "imp", 4, "importance"),
    ("confidence", "conf", 4, "confidence"),
    ("used", "used", 4, "used"),
    ("updated", "changed", 8, "updated"),
]
NEAR_END = 30  # rows from the last loaded one at which the next page is requested


def cells(m: Memory, marked: bool, width: int = 40) -> list:
    """Plain Text cells: never parsed as markup (memory text may contain "[red]"), and cheap to measure."""
    status = (
        ""
        if m.status == "active" and not m.superseded_by
        else f"[{m.status if not m.superseded_by else 'superseded'}] "
    )
    text = Text(status, style="italic", no_wrap=True)
    text.append(one_line(m.content, width - len(status)))
    return [
        Text("●", style="bold") if marked else Text(""),
        Text("📌" if m.pinned else ""),
        Text(m.section),
        text,
        Text(one_line(",".join(m.tags), 10)),
        Text(f"{m.importance:.2f}"[1:] if m.importance < 1 else "1.0"),
        Text(f"{m.confidence:.2f}"[1:] if m.confidence < 1 else "1.0"),
        Text(str(m.access_count)),
        Text(ago(m.updated_at).replace(" ago", "")),
    ]


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

    def on_mount(self) -> None:
        for key, label, width, _sort in COLUMNS:
            self.add_column(label, key=key, width=width)

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
            self.add_row(*cells(m, m.id in self.marked), key=m.id)
        self.loading_more = False

    def update_memory(self, m: Memory) -> None:
        if m.id not in self.memories:
            return
        self.memories[m.id] = m
        for (key, *_), value in zip(COLUMNS, cells(m, m.id in self.marked), strict=True):
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
