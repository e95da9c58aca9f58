"""What the chat screen offers beyond chatting: "remember this" on a message, export of the
open conversation (F5), memory off (F8), deleting a conversation with its memories, a
resizable sidebar that keeps its width. Every store call runs in a thread worker."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.screen import Screen

if TYPE_CHECKING:
    from textual import getters
    from textual.timer import Timer

    from memory.models import Message
    from tui.app import MemchatApp
    from tui.screens.add_memory import NewMemory
    from tui.widgets.message import MessageView
    from tui.widgets.prompt import PromptInput
    from tui.widgets.sidebar import Sidebar
    from tui.widgets.status import StatusBar
    from tui.widgets.transcript import Transcript

log = logging.getLogger("memchat.tui")

SIDEBAR_MIN, SIDEBAR_MAX, SIDEBAR_STEP = 16, 100, 4
SIDEBAR_MARK = "ui:sidebar_width"  # a durable kv mark of the first profile opened
DRAFT_SAVE_SECONDS = 0.5  # typing pauses this long before the draft is kept


def session_name() -> str:
    """The chat app's short-term session (the seeds' session_state): one per profile, or per
    MEMCHAT_SESSION when several windows should each keep their own."""
    return "app:" + (os.environ.get("MEMCHAT_SESSION") or "main")


class ExtrasMixin(Screen):
    """A base of ChatScreen; uses its transcript, conversation_id and incognito."""

    BINDINGS = [
        Binding("f5", "export", "Export", id="export_conversation", show=False),
        Binding("f8", "toggle_memory", "Memory off", id="memory_off", show=False),
        Binding(
            "ctrl+left", "sidebar_width(-1)", "Narrower sidebar", id="sidebar_narrower", show=False
        ),
        Binding("ctrl+right", "sidebar_width(1)", "Wider sidebar", id="sidebar_wider", show=False),
    ]

    if TYPE_CHECKING:  # what ChatScreen provides
        app = getters.app(MemchatApp)

        @property
        def transcript(self) -> Transcript: ...
        @property
        def status(self) -> StatusBar: ...
        @property
        def sidebar(self) -> Sidebar: ...
        @property
        def prompt(self) -> PromptInput: ...
        @property
        def streaming(self) -> bool: ...
        def refresh_model(self) -> None: ...

        pending_model: str | None
        pending_persona: str | None

        async def open_conversation(
            self, conversation_id: str | None, *, focus_message: str | None = None
        ) -> None: ...
        def refresh_sidebar(self) -> None: ...

    conversation_id: str | None
    incognito: bool
    memory_off: bool
    exported: Path | None = None  # the last file written by an export
    _restoring = False
    _draft_timer: Timer | None = None

    def conversation_opened(self, conversation_id: str | None) -> None:
        """Called by open_conversation once the conversation is shown."""
        off = False
        if conversation_id is not None and self.app.store is not None:
            try:
                off = self.app.store.get_conversation(conversation_id).memory_off
            except Exception as e:  # noqa: BLE001 - deleted meanwhile
                log.debug("conversation %s: %s", conversation_id, e)
        self.show_memory_off(off)
        self.save_session()
        if conversation_id is not None:
            self.refresh_versions()

    # ------------------------------------------------------------------ memory off
    def show_memory_off(self, off: bool) -> None:
        self.memory_off = off
        self.status.memory_off = off

    def action_toggle_memory(self) -> None:
        """Memory off/on for this conversation (for a new chat: the one about to start)."""
        if self.app.store is None:
            self.app.notify("Still opening memory…", severity="warning")
            return
        off = not self.memory_off
        self.show_memory_off(off)
        if self.conversation_id is not None:
            self._set_memory_off(self.conversation_id, off)
        self.app.notify(
            "Memory off for this conversation: nothing is recalled or learned."
            if off
            else "Memory on for this conversation."
        )

    @work(thread=True, group="memory-off")
    def _set_memory_off(self, conversation_id: str, off: bool) -> None:
        try:
            self.app.assistant.set_memory_off(conversation_id, off)
            if not off:  # what was said while memory was off is never learned
                try:
                    from tasks import api as tasks_api

                    tasks_api.skip_extraction(self.app.store, conversation_id)
                except ImportError:
                    pass
        except Exception as e:  # noqa: BLE001 - say so; the switch shows what is stored
            log.warning("memory off: %s", e)
            self.app.call_from_thread(
                self.app.notify, f"Could not switch memory: {e}", severity="error"
            )
            self.app.call_from_thread(self.conversation_opened, self.conversation_id)

    # ------------------------------------------------------------------ session state
    def restore_session(self) -> None:
        """Called once memory is open: bring back the sidebar width, and the open conversation,
        the unsent draft and the model/persona chosen for a new chat (after a restart or a
        crash: the session state lives in Redis with AOF, and SQLite keeps a copy)."""
        self._restoring = True
        self._read_ui_state(session_name())

    @work(thread=True, group="session")
    def _read_ui_state(self, session: str) -> None:
        root, store = self.app.root_store or self.app.store, self.app.store
        try:
            width = root.get_mark(SIDEBAR_MARK)
        except Exception as e:  # noqa: BLE001 - the default width then
            log.warning("sidebar width: %s", e)
            width = None
        if width and str(width).isdigit():
            self.app.call_from_thread(self.set_sidebar_width, int(width))
        state: dict = {}
        try:
            state = store.get_session_state(session)
            cid = state.get("conversation_id")
            if cid:
                store.get_conversation(cid)  # deleted since: NotFound, start fresh
        except Exception as e:  # noqa: BLE001 - a fresh start
            log.info("session state not restored: %s", e)
            state.pop("conversation_id", None)
        self.app.call_from_thread(self._restore, state)  # type: ignore[arg-type]

    async def _restore(self, state: dict) -> None:
        try:
            if self.streaming or self.conversation_id is not None or self.incognito:
                return  # the person started something while memory opened: keep it
            cid = state.get("conversation_id")
            if cid:
                await self.open_conversation(cid)
            else:
                self.pending_model = state.get("model") or None
                self.pending_persona = state.get("persona") or None
                self.refresh_model()
            draft = state.get("draft") or ""
            if draft and not self.prompt.text:
                self.prompt.set_prompt(draft)
        finally:
            self._restoring = False

    def save_session(self) -> None:
        """Keep the open conversation, the draft and a new chat's model/persona in the
        session state (in a thread). Nothing of an incognito chat is kept."""
        if self._restoring or self.incognito or self.app.store is None:
            return
        state = {
            "conversation_id": self.conversation_id,
            "draft": self.prompt.expanded(self.prompt.text),
            "model": self.pending_model,
            "persona": self.pending_persona,
        }
        self._write_session(self.app.store, session_name(), state)

    @work(thread=True, exclusive=True, group="session-write")
    def _write_session(self, store, session: str, state: dict) -> None:
        try:
            store.set_session_state(session, **state)
        except Exception as e:  # noqa: BLE001 - a nicety: chatting goes on
            log.warning("session state not kept: %s", e)

    def on_text_area_changed(self, event) -> None:
        """The draft is kept once typing pauses."""
        if getattr(event.text_area, "id", None) != "prompt":
            return
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_SAVE_SECONDS, self.save_session)

    # ------------------------------------------------------------------ sidebar width
    def set_sidebar_width(self, width: int) -> int:
        width = max(SIDEBAR_MIN, min(SIDEBAR_MAX, width))
        sidebar = self.sidebar
        sidebar.styles.width = width
        sidebar.styles.max_width = "75%"  # a width chosen by hand is kept on a wide screen
        return width

    def action_sidebar_width(self, step: int) -> None:
        """Narrower (-1) or wider (+1) by SIDEBAR_STEP columns; the width is kept."""
        sidebar = self.sidebar
        if not sidebar.display:
            sidebar.display = True
        width = self.set_sidebar_width((sidebar.outer_size.width or 32) + step * SIDEBAR_STEP)
        self._save_sidebar_width(width)

    @work(thread=True, exclusive=True, group="sidebar-width")
    def _save_sidebar_width(self, width: int) -> None:
        store = self.app.root_store or self.app.store
        if store is None:
            return
        try:
            store.set_mark(SIDEBAR_MARK, str(width))
        except Exception as e:  # noqa: BLE001 - a UI nicety
            log.warning("could not keep the sidebar width: %s", e)

    # ------------------------------------------------------------------ reply versions
    def _prompt_of(self, view: MessageView) -> str | None:
        """The id of the prompt a reply answers (the user turn before it)."""
        prompt = None
        for v in self.transcript.views():
            if v is view:
                return prompt
            if v.role == "user":
                prompt = v.message_id
        return None

    def refresh_versions(self, view: MessageView | None = None) -> None:
        """Show "‹ n/N ›" on replies whose prompt has several answers (all, or ``view``)."""
        if self.app.store is None or self.conversation_id is None:
            return
        views = [view] if view is not None else self.transcript.views()
        pairs = [
            (p, v)
            for v in views
            if v.role == "assistant" and v.message_id and (p := self._prompt_of(v))
        ]
        if pairs:
            self._load_versions(self.conversation_id, pairs)

    @work(thread=True, group="versions")
    def _load_versions(self, conversation_id: str, pairs: list) -> None:
        store = self.app.store
        try:
            versioned = set(store.versioned_prompts(conversation_id))
            for prompt, view in pairs:
                if prompt in versioned:
                    rv = store.reply_versions(prompt, view.message_id)
                    self.app.call_from_thread(view.set_versions, rv.current + 1, len(rv.versions))
        except Exception as e:  # noqa: BLE001 - the reply shows without its count
            log.info("reply versions: %s", e)

    def _answer_view(self) -> MessageView | None:
        view = self._target_view()
        if view is not None and view.role == "assistant":
            return view
        replies = [v for v in self.transcript.views() if v.role == "assistant" and v.message_id]
        return replies[-1] if replies else None

    def action_flip_version(self, step: int) -> None:
        view = self._answer_view()
        if view is None:
            self.app.notify("No reply yet.", severity="warning")
            return
        self.flip(view, step)

    def on_message_view_flip_requested(self, event: MessageView.FlipRequested) -> None:
        event.stop()
        self.flip(event.view, event.step)

    def flip(self, view: MessageView, step: int) -> None:
        """Show the earlier (-1) or later (+1) answer to the same prompt; the conversation goes
        on from the one shown."""
        if self.streaming:
            self.app.notify("A reply is still streaming — Esc stops it first.", severity="warning")
            return
        prompt = self._prompt_of(view)
        if self.app.store is None or prompt is None or view.message_id is None:
            return
        self._flip(view, prompt, view.message_id, step)

    @work(thread=True, exclusive=True, group="versions-flip")
    def _flip(self, view: MessageView, prompt: str, reply_id: str, step: int) -> None:
        store = self.app.store
        try:
            rv = store.reply_versions(prompt, reply_id)
            target = rv.current + step
            if len(rv.versions) < 2:
                note = "Only one answer so far: ctrl+r regenerates (earlier answers are kept)."
                self.app.call_from_thread(self.app.notify, note)
                return
            if not 0 <= target < len(rv.versions):
                which = "first" if step < 0 else "last"
                self.app.call_from_thread(self.app.notify, f"This is the {which} answer.")
                return
            msg = store.select_reply_version(prompt, reply_id, rv.versions[target].id)
        except Exception as e:  # noqa: BLE001 - say so; the reply stays as it was
            log.warning("flip failed: %s", e)
            self.app.call_from_thread(
                self.app.notify, f"Could not show that answer: {e}", severity="error"
            )
            return
        self.app.call_from_thread(self._flipped, view, msg, target + 1, len(rv.versions))  # type: ignore[arg-type]

    async def _flipped(self, view: MessageView, msg: Message, shown: int, total: int) -> None:
        await view.set_text(msg.content)
        view.set_status(msg.status, msg.model)
        view.set_versions(shown, total)
        if view.memories is not None:  # this answer's memories, not the last one's
            from tui.widgets.memories import MemoryItem

            items = [MemoryItem.from_used(u) for u in msg.used_memories]
            view.memories.set_items(items, msg.memory_tokens or 0, msg.prompt_tokens)

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

    # ------------------------------------------------------------------ delete
    def confirm_delete(self, conversation_id: str, title: str) -> None:
        """Ask before deleting a conversation, saying how many memories came from it and
        offering to forget them too."""
        self._count_for_delete(conversation_id, title)

    @work(thread=True, group="delete")
    def _count_for_delete(self, conversation_id: str, title: str) -> None:
        from tui.screens.chat_dialogs import DeleteConversationDialog

        try:
            mems = self.app.store.memories_from_conversation(conversation_id)
        except Exception as e:  # noqa: BLE001 - still offer the delete itself
            log.warning("memories of %s: %s", conversation_id, e)
            mems = []
        ids = [m.id for m in mems]
        previews = [_preview(m.content) for m in mems[:5]]

        def answered(what: str | None) -> None:
            if what:
                self._delete(conversation_id, title, ids if what == "all" else [])

        self.app.call_from_thread(
            self.app.push_screen, DeleteConversationDialog(title, len(ids), previews), answered
        )

    @work(thread=True, group="delete")
    def _delete(self, conversation_id: str, title: str, forget: list[str]) -> None:
        from tui.screens.inspector_cleanup import sync_vectors

        store = self.app.store
        try:
            store.delete_conversation(conversation_id)
            forgotten = (
                store.curation.delete_many(forget, reason="forgotten with its conversation")
                if forget
                else []
            )
        except Exception as e:  # noqa: BLE001 - say so; the list shows what is left
            log.warning("delete failed: %s", e)
            self.app.call_from_thread(self.app.notify, f"Could not delete: {e}", severity="error")
            return
        note = f"Deleted “{title}”."
        if forgotten:
            n = len(forgotten)
            note += f" Forgot {'1 memory' if n == 1 else f'{n} memories'} (F2 restores them)."
        self.app.call_from_thread(self._deleted, conversation_id, note)  # type: ignore[arg-type]
        sync_vectors(store)

    async def _deleted(self, conversation_id: str, note: str) -> None:
        if conversation_id == self.conversation_id:
            await self.open_conversation(None)
        self.refresh_sidebar()
        self.app.notify(note)

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

        self.app.push_screen(ExportDialog(_tilde(self.export_dir())), chosen)

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
        self.app.call_from_thread(self.app.notify, f"Exported to {_tilde(path)}", timeout=10)


def _preview(text: str, n: int = 70) -> str:
    line = " ".join(text.split())
    return line if len(line) <= n else line[: n - 1] + "…"


def _tilde(path: Path) -> str:
    """``path`` as a person writes it (~ for the home folder)."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + "/") else text
