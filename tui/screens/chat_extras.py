"""What the chat screen offers beyond chatting: "remember this" on a message, export of the
open conversation. Every store call runs in a thread worker and reports with a toast."""

from __future__ import annotations

import logging
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

    BINDINGS: list[Binding] = []

    conversation_id: str | None
    incognito: bool

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
