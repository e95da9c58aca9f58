"""The chat screen: sidebar, transcript, prompt, status bar. Turns live in chat_turns,
memory actions in chat_memory, profiles and incognito in chat_session; this module holds
the layout and the conversations. Dialogs are imported where they open: none is part of the
first screen."""

from __future__ import annotations

import logging
import threading
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical

from tui.screens.chat_extras import ExtrasMixin
from tui.screens.chat_memory import MemoryMixin
from tui.screens.chat_session import INCOGNITO_TEXT, SessionMixin
from tui.screens.chat_turns import TurnsMixin
from tui.widgets.footer import KeyFooter
from tui.widgets.prompt import PromptInput
from tui.widgets.sidebar import Sidebar, SidebarItem
from tui.widgets.status import StatusBar
from tui.widgets.transcript import EMPTY_TEXT, Transcript

log = logging.getLogger("memchat.tui")


class ChatScreen(TurnsMixin, MemoryMixin, SessionMixin, ExtrasMixin):
    BINDINGS = [
        Binding("escape", "stop", "Stop", id="stop"),
        Binding("ctrl+n", "new_conversation", "New chat", id="new_conversation"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
        Binding("ctrl+g", "edit_last", "Edit last", id="edit_last", show=False),
        Binding("ctrl+o", "pick_model", "Model", id="pick_model"),
        Binding("ctrl+s", "edit_persona", "Persona", id="system_prompt", show=False),
        Binding("f3", "switch_profile", "Profile", id="switch_profile"),
        Binding("f4", "toggle_incognito", "Incognito", id="incognito"),
        Binding("ctrl+f", "search", "Search", id="search", show=False),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="toggle_sidebar", show=False),
        Binding("ctrl+t", "focus_transcript", "Messages", id="focus_transcript", show=False),
        Binding("ctrl+l", "focus_prompt", "Prompt", id="focus_prompt", show=False),
        Binding("question_mark", "app.help", "Help", id="help_question", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="chat")
        self.conversation_id: str | None = None
        self.pending_model: str | None = None
        self.pending_persona: str | None = None
        self.show_archived = False
        self._search_serial = 0
        self._incognito_ids: set[str] = set()  # incognito chats started here, deleted on leaving
        self.turn_idle = threading.Event()
        self.turn_idle.set()

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="main"):
                yield Transcript(id="transcript")
                yield PromptInput(id="prompt")
        yield StatusBar(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.prompt.focus()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    # ------------------------------------------------------------------ backend
    async def backend_ready(self) -> None:
        """The app opened the store and the assistant: fill everything in."""
        store = self.app.store
        self.status.profile = store.profile
        await self.sidebar.populate()
        self.refresh_sidebar()
        self.refresh_model()
        try:
            self.prompt.prompt_history = store.commands(500)
        except Exception as e:  # noqa: BLE001
            log.warning("no prompt history: %s", e)
        self.restore_session()  # chat_extras: sidebar width, draft, open conversation
        self.run_queued()

    def refresh_model(self) -> None:
        choice = None
        assistant = self.app.assistant
        if assistant is not None:
            try:
                choice = assistant.model_choice(self.conversation_id)
            except Exception as e:  # noqa: BLE001 - e.g. a bad per-conversation model
                log.warning("model lookup failed: %s", e)
        model = self.pending_model or (choice.model if choice else None)
        self.status.model = model or "no model"

    def refresh_sidebar(self) -> None:
        store = self.app.store
        if store is None or self.sidebar.searching:
            return
        convs = store.list_conversations(archived=None if self.show_archived else False)
        items = [SidebarItem(c.id, c.title, c.updated_at, archived=c.archived) for c in convs]
        self.sidebar.current_id = self.conversation_id
        self.sidebar.show(
            items, title="All conversations" if self.show_archived else "Conversations"
        )

    # ------------------------------------------------------------------ conversations
    async def open_conversation(
        self, conversation_id: str | None, *, focus_message: str | None = None
    ) -> None:
        if self.streaming:
            self.app.notify("A reply is still streaming — Esc stops it first.", severity="warning")
            return
        store = self.app.store
        if self._incognito_ids:  # leaving an incognito chat: it is not kept
            self.discard_incognito()
        if self.incognito and conversation_id is not None:
            self.set_incognito(False)  # a kept conversation is never incognito
        self.set_editing(False)
        self.conversation_id = conversation_id
        self.pending_model = self.pending_persona = None
        if focus_message is None:  # now: what is typed while the messages load goes there
            self.prompt.focus()
        if conversation_id is None or store is None:
            self.transcript.show_empty(INCOGNITO_TEXT if self.incognito else EMPTY_TEXT)
        else:
            messages = store.messages(conversation_id)
            views = await self.transcript.show_messages(messages)
            by_id = {m.id: m for m in messages}
            for v in views:
                m = by_id.get(v.message_id or "")
                if m is None:
                    continue
                self.show_used_memories(v, m)
                if m.error:
                    v.note(f"⚠ {m.error}", error=True)
                if v.message_id == focus_message:
                    v.focus()
                    v.scroll_visible()
        self.sidebar.current_id = conversation_id
        self.sidebar.highlight_current()
        self.refresh_model()
        self.conversation_opened(conversation_id)

    async def action_new_conversation(self) -> None:
        await self.open_conversation(None)

    @on(Sidebar.Selected)
    async def _sidebar_selected(self, event: Sidebar.Selected) -> None:
        await self.open_conversation(
            event.item.conversation_id, focus_message=event.item.message_id
        )

    @on(Sidebar.ActionRequested)
    async def _sidebar_action(self, event: Sidebar.ActionRequested) -> None:
        item, store = event.item, self.app.store
        if event.action == "new":
            await self.action_new_conversation()
            return
        if item is None or store is None:
            return
        cid = item.conversation_id
        if event.action == "rename":
            from tui.screens.dialogs import TextDialog

            def renamed(title: str | None) -> None:
                if title is not None and title.strip():
                    store.update_conversation(cid, title=title.strip())
                    self.refresh_sidebar()

            self.app.push_screen(TextDialog("Rename conversation", item.title), renamed)
        elif event.action == "delete":  # says how many memories came from it (chat_extras)
            self.confirm_delete(cid, item.title or "New chat")
        elif event.action == "archive":
            store.update_conversation(cid, archived=not item.archived)
            self.app.notify(
                "Unarchived." if item.archived else "Archived (palette: show archived)."
            )
            if cid == self.conversation_id and not item.archived and not self.show_archived:
                await self.open_conversation(None)
            self.refresh_sidebar()

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.refresh_sidebar()

    def action_rename(self) -> None:
        if self.conversation_id is not None:
            self._act_on_current("rename")

    def action_delete(self) -> None:
        if self.conversation_id is not None:
            self._act_on_current("delete")

    def action_archive(self) -> None:
        if self.conversation_id is not None:
            self._act_on_current("archive")

    def _act_on_current(self, action: str) -> None:
        c = self.app.store.get_conversation(self.conversation_id)
        self.post_message(
            Sidebar.ActionRequested(
                action, SidebarItem(c.id, c.title, c.updated_at, archived=c.archived)
            )
        )

    # ------------------------------------------------------------------ search
    @on(Sidebar.Search)
    def _search(self, event: Sidebar.Search) -> None:
        self._search_serial += 1
        if not event.query:
            self.sidebar.searching = False
            self.refresh_sidebar()
            return
        self._run_search(event.query, self._search_serial)

    @work(thread=True, exclusive=True, group="search")
    def _run_search(self, query: str, serial: int) -> None:
        time.sleep(0.12)  # debounce: a newer keystroke supersedes this search
        if serial != self._search_serial or self.app.store is None:
            return
        store = self.app.store
        items: list[SidebarItem] = []
        seen: set[str] = set()
        try:
            hits = store.search_messages(query, limit=30)
        except Exception as e:  # noqa: BLE001
            log.warning("search failed: %s", e)
            hits = []
        from memory.models import RecallFilters

        for msg, _score in hits:
            seen.add(msg.id)
            items.append(
                SidebarItem(
                    msg.conversation_id,
                    "",
                    msg.created_at,
                    snippet=_snippet(msg.content),
                    message_id=msg.id,
                )
            )
        self.app.call_from_thread(self._show_results, query, serial, list(items))
        if not getattr(self.app, "vectors_ready", False):
            return  # semantic results once the vector index has loaded
        try:
            recalled = store.recall(
                query, limit=15, token_budget=None, filters=RecallFilters(include_messages=True)
            )
        except Exception as e:  # noqa: BLE001
            log.warning("semantic search failed: %s", e)
            return
        for h in recalled:
            cid = h.provenance.conversation_id
            if h.kind == "message" and h.id not in seen and cid:
                seen.add(h.id)
                items.append(
                    SidebarItem(cid, "", h.created_at, snippet=_snippet(h.text), message_id=h.id)
                )
        if serial == self._search_serial:
            self.app.call_from_thread(self._show_results, query, serial, items)

    def _show_results(self, query: str, serial: int, items: list[SidebarItem]) -> None:
        if serial != self._search_serial:
            return
        store = self.app.store
        titles: dict[str, str] = {}
        kept = []
        for it in items:
            if it.conversation_id not in titles:
                try:
                    titles[it.conversation_id] = (
                        store.get_conversation(it.conversation_id).title or "New chat"
                    )
                except Exception:  # noqa: BLE001 - deleted meanwhile
                    titles[it.conversation_id] = ""
            if titles[it.conversation_id]:
                it.title = titles[it.conversation_id]
                kept.append(it)
        self.sidebar.show(kept, title=f"{len(kept)} results for “{query}”", searching=True)

    def action_search(self) -> None:
        if self.sidebar.display is False:
            self.sidebar.display = True
        self.sidebar.query_one("#search").focus()

    # ------------------------------------------------------------------ model, persona, focus
    def action_pick_model(self) -> None:
        from tui.screens.model_picker import ModelPicker

        if self.app.assistant is None:
            self.app.notify("Still opening memory…", severity="warning")
            return
        current = self.status.model if self.status.model != "no model" else ""

        def picked(model: str | None) -> None:
            if model is None:
                return
            model = model.strip()
            if self.conversation_id is not None:
                self.app.assistant.set_model(self.conversation_id, model or None)
            else:
                self.pending_model = model or None
                self.save_session()
            self.refresh_model()
            self.app.notify(f"Model: {model or 'the default'}")

        self.app.push_screen(ModelPicker(self.app.assistant, current), picked)

    def action_edit_persona(self) -> None:
        store = self.app.store
        if store is None:
            return
        current = self.pending_persona
        if self.conversation_id is not None:
            current = store.get_conversation(self.conversation_id).system_prompt
        from assistant.settings import settings_for
        from tui.screens.dialogs import TextDialog

        current = current or settings_for(store).system_prompt

        def saved(text: str | None) -> None:
            if text is None:
                return
            value = text.strip() or None
            if self.conversation_id is not None:
                store.update_conversation(self.conversation_id, system_prompt=value)
            else:
                self.pending_persona = value
                self.save_session()
            self.app.notify("System prompt saved for this conversation.")

        self.app.push_screen(
            TextDialog("System prompt / persona for this conversation", current, multiline=True),
            saved,
        )

    def action_toggle_sidebar(self) -> None:
        self.sidebar.display = not self.sidebar.display

    def action_focus_transcript(self) -> None:
        views = self.transcript.views()
        if views:
            views[-1].focus()
            views[-1].scroll_visible()

    def action_focus_prompt(self) -> None:
        self.prompt.focus()


def _snippet(text: str, n: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= n else line[: n - 1] + "…"
