"""What the chat screen offers beyond chatting: "remember this" on a message, export of the
open conversation (F5). Every store call runs in a thread worker and reports with a toast."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.screen import Screen

if TYPE_CHECKING:
    from tui.screens.add_memory import NewMemory
    from tui.widgets.message import MessageView

log = logging.getLogger("memchat.tui")


class ExtrasMixin(Screen):
    """A base of ChatScreen; uses its transcript, conversation_id and incognito."""

    BINDINGS = [
        Binding("f5", "export", "Export", id="export_conversation", show=False),
    ]

    conversation_id: str | None
    incognito: bool
    exported: Path | None = None  # the last file written by an export

    # ------------------------------------------------------------------ remember this
    def _target_view(self) -> MessageView | None:
        """The focused message, else the last stored one."""
        from tui.widgets.message import MessageView

        if self.focused is not None:
            for node in self.focused.ancestors_with_self:
                if isinstance(node, MessageView):
                    return node
        views = [v for v in self.transcript.views() if v.message_id]
        return views[-1] if views else None

    def action_remember(self) -> None:
        view = self._target_view()
        if view is None:
            self.app.notify("No message to remember yet.", severity="warning")
            return
        self.remember(view)

    def on_message_view_remember_requested(self, event: MessageView.RememberRequested) -> None:
        event.stop()
        self.remember(event.view)

    def remember(self, view: MessageView) -> None:
        """Ask for the memory's text (the message's, editable) and store it."""
        from tui.screens.add_memory import AddMemoryDialog

        if self.app.store is None:
            self.app.notify("Still opening memory…", severity="warning")
            return
        # an incognito chat keeps nothing: the memory is kept, its source is not
        source = None if self.incognito else self.conversation_id
        mid = view.message_id if source else None

        def chosen(new: NewMemory | None) -> None:
            if new is None:
                return
            new.source_conversation_id = source
            new.source_message_ids = [mid] if mid else []
            self._save_memory(new)

        self.app.push_screen(AddMemoryDialog("Remember this", view.text), chosen)

    @work(thread=True, group="remember")
    def _save_memory(self, new: NewMemory) -> None:
        from tui.screens.add_memory import save_memory
        from tui.screens.inspector_cleanup import sync_vectors

        store = self.app.store
        try:
            note = save_memory(store, new, reason="remembered from the chat")
        except Exception as e:  # noqa: BLE001 - say it; nothing was stored
            log.warning("remember failed: %s", e)
            self.app.call_from_thread(
                self.app.notify, f"Could not remember that: {e}", severity="error"
            )
            return
        self.app.call_from_thread(self.app.notify, note)
        sync_vectors(store)

    # ------------------------------------------------------------------ export
    def export_dir(self) -> Path:
        configured = (
            getattr(self.app.settings.ui, "export_dir", None) if self.app.settings else None
        )
        return Path(configured).expanduser() if configured else Path.home() / "memchat-exports"

    def action_export(self, fmt: str = "") -> None:
        """Export the open conversation (Markdown or JSON, as `memchat chat export`) to a file
        in the export folder; ``fmt`` empty asks which."""
        from tui.screens.chat_dialogs import ExportDialog

        if self.app.store is None:
            self.app.notify("Still opening memory…", severity="warning")
            return
        cid = self.conversation_id
        if cid is None:
            self.app.notify("No conversation to export yet.", severity="warning")
            return
        if self.incognito:
            self.app.notify("An incognito chat is not kept: nothing to export.", severity="warning")
            return
        if fmt:
            self._export(cid, fmt, self.export_dir())
            return

        def chosen(picked: str | None) -> None:
            if picked:
                self._export(cid, picked, self.export_dir())

        self.app.push_screen(ExportDialog(str(self.export_dir())), chosen)

    @work(thread=True, group="export")
    def _export(self, conversation_id: str, fmt: str, folder: Path) -> None:
        from tui.cli_chat import export_filename, export_text

        store = self.app.store
        try:
            conv = store.get_conversation(conversation_id)
            text = export_text(store, conv.id, fmt)  # what `memchat chat export` writes
            store.transfer.private_dir(folder)
            path = folder / export_filename(conv, fmt)
            store.transfer.write_text(path, text)
        except Exception as e:  # noqa: BLE001 - a full disk, a read-only folder: say so
            log.warning("export failed: %s", e)
            self.app.call_from_thread(
                self.app.notify, f"Could not export: {e}", severity="error", timeout=10
            )
            return
        self.exported = path
        self.app.call_from_thread(self.app.notify, f"Exported to {path}", timeout=10)
