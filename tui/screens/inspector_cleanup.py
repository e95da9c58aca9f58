"""Keyboard cleanup in the Long-term tab: delete (with undo), edit, pin, merge, tags, expiry,
forget everywhere, open the source conversation.

Actions apply to the marked memories, or to the highlighted one when nothing is marked.
Anything touching more than one memory states the count and asks first. Writes run in a
thread worker (memory.curation.edits / memory.curation.forget) and the table reloads when they finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from textual import work
from textual.binding import Binding

from memory.facades import Curation
from memory.models import BrowseQuery
from tui.screens.dialogs import ConfirmDialog, TextDialog
from tui.screens.inspector_dialogs import ForgetDialog
from tui.widgets.delivery import while_shown
from tui.widgets.inspector.format import one_line

if TYPE_CHECKING:
    from textual import getters
    from textual.widget import Widget

    from memory.store import MemoryStore
    from tui.app import MemchatApp
    from tui.screens.inspector import InspectorScreen
    from tui.widgets.inspector.detail import DetailPane
    from tui.widgets.inspector.table import MemoryTable

log = logging.getLogger("memchat.tui.inspector")


def _plural(n: int, noun: str = "memory") -> str:
    return f"1 {noun}" if n == 1 else f"{n:,} {'memories' if noun == 'memory' else noun + 's'}"


def sync_vectors(store) -> None:
    """Apply the index outbox now (as the CLI does), so Chroma agrees before the worker runs."""
    try:
        if store.vectors is not None:
            store.index_pending()
    except Exception as e:  # noqa: BLE001 - the worker or `memchat memory reindex` catches up
        log.info("vector index not updated now: %s", e)


if TYPE_CHECKING:
    _Widget = Widget
else:
    _Widget = object


class CleanupMixin(_Widget):
    """Mixed into LongTermTab (which provides ``table``, ``store``, ``reload``, ``query_state``)."""

    if TYPE_CHECKING:  # what LongTermTab (a Textual widget) provides
        app = getters.app(MemchatApp)
        query_state: BrowseQuery

        @property
        def table(self) -> MemoryTable: ...
        @property
        def detail(self) -> DetailPane: ...
        @property
        def store(self) -> MemoryStore: ...
        def reload(self, *, keep_cursor: bool = True) -> None: ...

    CLEANUP_BINDINGS = [
        Binding("a", "mark_all", "All", id="inspector_mark_all"),
        Binding("escape", "clear_marks", "Clear marks", show=False, id="inspector_clear_marks"),
        Binding("d,delete", "delete", "Del", id="inspector_delete"),
        Binding("u", "undo", "Undo", id="inspector_undo"),
        Binding("e", "edit", "Edit", id="inspector_edit"),
        Binding("p", "pin", "Pin", id="inspector_pin"),
        Binding("m", "merge", "Merge", id="inspector_merge"),
        Binding("t", "tags", "Tags", id="inspector_tags"),
        Binding("x", "expiry", "Expiry", id="inspector_expiry"),
        Binding("F", "forget", "Forget", id="inspector_forget"),
        Binding("o", "open_source", "Source", id="inspector_open_source"),
    ]

    # ------------------------------------------------------------------ helpers
    def targets(self) -> list[str]:
        t = self.table
        if t.marked:
            return [i for i in t.ids if i in t.marked] + sorted(t.marked - set(t.ids))
        return [t.current_id] if t.current_id else []

    def _confirm(
        self,
        ids: list[str],
        verb: str,
        then: Callable[[], object],
        *,
        yes: str | None = None,
        always: bool = False,
    ) -> None:
        if len(ids) > 1 or always:

            def answered(ok: bool | None) -> None:
                if ok:
                    then()

            loaded = self.table.memories
            details = [one_line(loaded[i].content, 60) for i in ids if i in loaded]
            self.app.push_screen(
                ConfirmDialog(
                    f"{verb} {_plural(len(ids))}?",
                    yes=yes or verb,
                    details=details,
                    more=len(ids) - len(details),
                ),
                answered,
            )
        else:
            then()

    @work(thread=True, group="lt-write")
    def _write(self, fn: Callable[[], str | None], clear_marks: bool = True) -> None:
        try:
            note = fn()
        except Exception as e:  # noqa: BLE001 - say what went wrong; the table stays as it was
            log.warning("inspector action failed: %s", e)
            self.app.call_from_thread(self.app.notify, f"Could not do that: {e}", severity="error")
            return
        sync_vectors(self.store)
        self.app.call_from_thread(self._written, note, clear_marks)

    @while_shown
    def _written(self, note: str | None, clear_marks: bool) -> None:
        if clear_marks:
            self.table.set_marked(set())
        if note:
            self.app.notify(note, timeout=6)
        self.reload()

    # ------------------------------------------------------------------ marks
    def action_mark_all(self) -> None:
        if self.store is None:
            return
        self._mark_all(self.query_state)

    @work(thread=True, exclusive=True, group="lt-mark")
    def _mark_all(self, q: BrowseQuery) -> None:
        ids = self.store.browse.matching_ids(q)
        self.app.call_from_thread(self._marked_all, ids)

    @while_shown
    def _marked_all(self, ids: list[str]) -> None:
        self.table.set_marked(set(ids))
        self.app.notify(f"Marked {_plural(len(ids))} matching the filter (Esc clears).", timeout=3)

    def action_clear_marks(self) -> None:
        if self.table.marked:
            self.table.set_marked(set())
        else:
            cast("InspectorScreen", self.screen).action_close()

    # ------------------------------------------------------------------ delete / undo
    def action_delete(self) -> None:
        ids = self.targets()
        if not ids:
            return

        def go() -> None:
            def run() -> str:
                self.store.curation.delete_many(ids)
                self.last_deleted = ids
                return f"Deleted {_plural(len(ids))} — press u to undo."

            self._write(run)

        self._confirm(ids, "Delete", go)

    def action_undo(self) -> None:
        ids = self.last_deleted
        if not ids:
            self.app.notify("Nothing to undo.", timeout=2)
            return

        def run() -> str:
            self.store.curation.restore_many(ids)
            self.last_deleted = []
            return f"Restored {_plural(len(ids))}."

        self._write(run, clear_marks=False)

    # ------------------------------------------------------------------ edit, pin, tags, expiry
    def action_edit(self) -> None:
        cur = self.table.current_id
        m = self.table.memories.get(cur or "")
        if m is None:
            return

        def saved(text: str | None) -> None:
            if text is not None and text.strip() != m.content:
                self._write(
                    lambda: (
                        self.store.curation.edit(m.id, text),
                        "Saved; the old text is in its history.",
                    )[1],
                    clear_marks=False,
                )

        self.app.push_screen(
            TextDialog(f"Edit memory ({m.section})", m.content, multiline=True), saved
        )

    def action_pin(self) -> None:
        ids = self.targets()
        if not ids:
            return
        pin = not all(self.table.memories[i].pinned for i in ids if i in self.table.memories)

        def pin_them() -> str:
            self.store.curation.pin_many(ids, pin)
            return f"{'Pinned' if pin else 'Unpinned'} {_plural(len(ids))}."

        def go() -> None:
            self._write(pin_them)

        self._confirm(ids, "Pin" if pin else "Unpin", go)

    def action_merge(self) -> None:
        ids = self.targets()
        if len(ids) < 2:
            self.app.notify("Mark two or more memories (space) to merge them.", severity="warning")
            return
        texts = [self.table.memories[i].content for i in ids if i in self.table.memories]
        draft = " ".join(t.rstrip(".") + "." for t in texts)

        def merged(text: str | None) -> None:
            if text is not None and text.strip():
                self._write(
                    lambda: (
                        self.store.curation.merge(ids, text),
                        f"Merged {_plural(len(ids))} into one.",
                    )[1]
                )

        self.app.push_screen(
            TextDialog(
                f"Merge {_plural(len(ids))} into one — edit the merged text",
                draft,
                multiline=True,
                hint="ctrl+s merges · Esc cancels",
            ),
            merged,
        )

    def action_tags(self) -> None:
        ids = self.targets()
        if not ids:
            return
        first = self.table.memories.get(ids[0])
        current = ", ".join(first.tags) if first else ""

        def saved(text: str | None) -> None:
            if text is None:
                return
            tags = Curation.parse_tags(text)
            self._confirm(
                ids,
                "Set tags on",
                lambda: self._write(
                    lambda: (
                        self.store.curation.set_tags(ids, tags),
                        f"Tags set on {_plural(len(ids))}.",
                    )[1]
                ),
            )

        self.app.push_screen(
            TextDialog(f"Tags for {_plural(len(ids))} (comma separated)", current), saved
        )

    def action_expiry(self) -> None:
        ids = self.targets()
        if not ids:
            return

        def saved(text: str | None) -> None:
            if text is None:
                return
            try:
                when = Curation.parse_when(text)
            except ValueError as e:
                self.app.notify(str(e), severity="error")
                return
            label = "never expires" if when is None else f"expires {text.strip()}"
            self._confirm(
                ids,
                "Set expiry on",
                lambda: self._write(
                    lambda: (
                        self.store.curation.set_expiry(ids, when),
                        f"{_plural(len(ids))}: {label}.",
                    )[1]
                ),
            )

        self.app.push_screen(
            TextDialog(f"Expiry for {_plural(len(ids))}: 7d, 12h, 2025-12-31 or never"), saved
        )

    # ------------------------------------------------------------------ forget everywhere
    def action_forget(self) -> None:
        ids = self.targets()
        if not ids and not self.query_state.text:
            return
        first = self.table.memories.get(ids[0]) if ids else None
        preview = one_line(first.content, 70) if first else ""
        if len(ids) > 1:
            preview += f"  (+{len(ids) - 1} more)"

        def chosen(what: tuple[str, str] | None) -> None:
            if what is None:
                return
            if what[0] == "about":
                self._forget_about(what[1])
            elif ids:
                self._forget_memories(ids)

        self.app.push_screen(ForgetDialog(len(ids), preview, self.query_state.text), chosen)

    @work(thread=True, group="lt-write")
    def _forget_memories(self, ids: list[str]) -> None:
        store, sources, total = self.store, [], None
        try:
            for i in ids:
                r = store.forgetting.memory(i)
                total = r if total is None else total
                if total is not r:
                    total.memories += r.memories
                    total.summaries += r.summaries
                sources += r.source_messages
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self.app.notify, f"Could not forget: {e}", severity="error")
            return
        if total is None:
            return
        present = list(store.messages_by_ids(list(dict.fromkeys(sources))))
        note = " · ".join([store.forgetting.describe(total), *store.forgetting.notes(total)])
        self.app.call_from_thread(self._forgotten, note, present, None)

    @work(thread=True, group="lt-write")
    def _forget_about(self, text: str) -> None:
        try:
            report = self.store.forgetting.about(text, include_messages=False)
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self.app.notify, f"Could not forget: {e}", severity="error")
            return
        self.app.call_from_thread(
            self._forgotten,
            " · ".join(
                [
                    self.store.forgetting.describe(report) + f" about “{text}”",
                    *self.store.forgetting.notes(report),
                ]
            ),
            report.source_messages,
            text,
        )

    @while_shown
    def _forgotten(self, note: str, messages: list[str], about: str | None) -> None:
        self.table.set_marked(set())
        self.last_deleted = []
        self.app.notify(note + ".", timeout=6)
        self.reload()
        if not messages:
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                self.app.notify(
                    "Kept those messages: extraction may learn it again from them.",
                    severity="warning",
                    timeout=6,
                )
                return
            if about is not None:
                self._write(
                    lambda: (
                        self.store.forgetting.about(about, include_messages=True),
                        f"Forgot {_plural(len(messages), 'chat message')} too.",
                    )[1]
                )
            else:
                self._write(
                    lambda: (
                        f"Forgot {_plural(self.store.curation.forget_messages(messages), 'chat message')} too."
                    )
                )

        self.app.push_screen(
            ConfirmDialog(
                f"{_plural(len(messages), 'chat message')} still say it and could teach it again. "
                "Forget those messages too?",
                yes="Forget messages",
                no="Keep them",
            ),
            answered,
        )

    # ------------------------------------------------------------------ provenance
    def action_open_source(self) -> None:
        d = self.detail.detail
        if d is None:
            return
        m = d.memory
        cid = m.source_conversation_id or (d.sources[0].conversation_id if d.sources else None)
        if not cid:
            self.app.notify("This memory has no source conversation.", severity="warning")
            return
        focus = d.sources[0].id if d.sources else None
        app = self.app
        app.action_toggle_inspector()
        chat = app.chat
        chat.run_worker(chat.open_conversation(cid, focus_message=focus))
