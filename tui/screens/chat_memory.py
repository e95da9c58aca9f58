"""Memory in view, for the chat screen: fill "memories used" panels, pin/forget/restore a
memory from its row, open the conversation a memory came from."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from textual.screen import Screen

if TYPE_CHECKING:  # loaded after the first screen (Markdown is not cheap)
    from memory.models import Message
    from tui.widgets.memories import MemoriesUsed, MemoryItem, MemoryRow
    from tui.widgets.message import MessageView

log = logging.getLogger("memchat.tui")


class MemoryMixin(Screen):
    """A base of ChatScreen (a Screen, so @on handlers register); reads ``self.app.store``."""

    def resolve_items(self, items: list[MemoryItem]) -> None:
        """Fill text, section, pinned state and source title from the store (cheap SQLite reads)."""
        store = self.app.store
        if store is None:
            return
        titles: dict[str, str] = {}
        for it in items:
            try:
                if it.kind == "memory":
                    m = store.get_memory(it.id)
                    it.text, it.section, it.pinned = m.content, m.section, m.pinned
                    it.forgotten = m.status == "deleted"
                    it.source_conversation_id = m.source_conversation_id
                else:
                    msg = store.get_message(it.id)
                    it.text = msg.content
                    it.section = msg.role
                    it.source_conversation_id = msg.conversation_id
            except Exception:  # noqa: BLE001 - purged since: say so instead of failing
                it.missing = True
            it.resolved = True
            cid = it.source_conversation_id
            if cid:
                if cid not in titles:
                    try:
                        titles[cid] = store.get_conversation(cid).title or "untitled chat"
                    except Exception:  # noqa: BLE001
                        titles[cid] = "a deleted chat"
                it.source_title = titles[cid]

    def show_used_memories(self, view: MessageView, message: Message) -> None:
        if view.memories is None or message.role != "assistant":
            return
        from tui.widgets.memories import MemoryItem

        if message.used_memories or message.memory_tokens is not None:
            items = [MemoryItem.from_used(u) for u in message.used_memories]
            view.memories.set_items(items, message.memory_tokens, message.prompt_tokens)

    # Handlers by name (not @on) so these widget modules need not load before the first screen.
    def on_memories_used_details_wanted(self, event: MemoriesUsed.DetailsWanted) -> None:
        panel = event.panel
        self.resolve_items(panel.items)
        panel.set_items(panel.items)

    def on_memory_row_requested(self, event: MemoryRow.Requested) -> None:
        row, item, store = event.row, event.row.item, self.app.store
        if store is None:
            return
        try:
            if event.action == "pin":
                m = store.pin_memory(item.id, not item.pinned)
                item.pinned = m.pinned
                self.app.notify("Pinned: always considered first." if m.pinned else "Unpinned.")
            elif event.action == "forget":
                store.delete_memory(item.id, reason="forgotten from the chat")
                item.forgotten = True
                self.app.notify("Forgotten. Press u on it to undo.")
            elif event.action == "restore":
                store.restore_memory(item.id)
                item.forgotten = False
                self.app.notify("Restored.")
            elif event.action == "open" and item.source_conversation_id:
                self.run_worker(
                    self.open_conversation(
                        item.source_conversation_id,
                        focus_message=item.id if item.kind == "message" else None,
                    )
                )
                return
        except Exception as e:  # noqa: BLE001 - show it, never crash
            log.warning("memory action %s failed: %s", event.action, e)
            self.app.notify(f"Could not {event.action} that memory: {e}", severity="error")
            return
        row.refresh_item(item)

    def on_message_view_copy_requested(self, event: MessageView.CopyRequested) -> None:
        self.app.copy_text(event.text, event.what)
