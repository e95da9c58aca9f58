"""Profiles and incognito for the chat screen.

Switching profile asks the app to re-open the store scoped to that profile (sharing the
connections) and rebuild the Assistant; the screen then shows only that profile's data.

Incognito is a mode, like a private browser window: chats started in it read memory, but the
store keeps them in this process's memory only (memory.ephemeral): nothing of them reaches
SQLite, Redis, Chroma, the prompt history or the pipeline. Leaving one (new chat, another
conversation, another profile, turning incognito off, quitting) just drops it.
"""

from __future__ import annotations

import logging

from textual import work
from textual.screen import Screen

log = logging.getLogger("memchat.tui")

INCOGNITO_TEXT = (
    "[b]Incognito chat[/b]\n\n"
    "memchat still recalls your memories here, but keeps nothing from this chat: no\n"
    "messages, no prompt history, nothing learned. It is deleted when you leave it.\n"
    "[b]F4[/b] turns incognito off."
)


class SessionMixin(Screen):
    """A base of ChatScreen; uses its status, transcript, sidebar and open_conversation."""

    incognito = False

    # ------------------------------------------------------------------ profiles
    def action_switch_profile(self) -> None:
        from tui.screens.dialogs import ProfilePicker

        store = self.app.store
        if store is None:
            self.app.notify("Still opening memory…", severity="warning")
            return
        if self.streaming:
            self.app.notify("A reply is still streaming — Esc stops it first.", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name and name != self.app.store.profile:
                self.switch_profile(name)

        def counted(profiles: list[str], counts: dict[str, tuple[int, int]]) -> None:
            self.app.push_screen(ProfilePicker(profiles, store.profile, counts), chosen)

        self._count_profiles(store, counted)

    @work(thread=True, exclusive=True, group="profiles")
    def _count_profiles(self, store, then) -> None:
        """Each profile with its memory and conversation counts (SQLite), for the picker."""
        counts: dict[str, tuple[int, int]] = {}
        try:
            profiles = store.profiles()
            for r in store.profile_counts():
                counts[r["profile"]] = (r["memories"], r["conversations"])
        except Exception as e:  # noqa: BLE001 - the picker still lists this profile
            log.warning("profile counts: %s", e)
            profiles = [store.profile]
        self.app.call_from_thread(then, profiles, counts)

    def switch_profile(self, name: str) -> None:
        """Leave the open chat (an incognito one is deleted) and open ``name``."""
        if self.streaming:
            self.app.notify("A reply is still streaming — Esc stops it first.", severity="warning")
            return
        self.save_session()  # the profile left keeps its open chat and draft (not incognito)
        self.discard_incognito()
        self.set_incognito(False)
        self.status.activity = f"opening profile {name}…"
        self.app.open_profile(name)

    async def profile_changed(self) -> None:
        """Called by the app once ``app.store``/``app.assistant`` are the new profile's."""
        store = self.app.store
        self.status.activity = ""
        self.status.profile = store.profile
        self.status.memory_tokens = None
        self.status.memory_counts = None
        search = self.sidebar.query("#search")
        if search and search.first().value:
            search.first().value = ""  # posts an empty Search: the list comes back
        self.sidebar.searching = False
        from tui.screens.chat_extras import session_name

        # the new profile's session (its open chat, draft, model for a new chat) comes back;
        # nothing is written to it before it has been read
        self._restoring = True
        await self.open_conversation(None)
        self._read_ui_state(session_name())
        self.refresh_sidebar()
        try:
            self.prompt.prompt_history = store.commands(500)
        except Exception as e:  # noqa: BLE001 - history is a nicety
            log.warning("no prompt history: %s", e)
        self.app.notify(f"Profile: {store.profile}")

    # ------------------------------------------------------------------ incognito
    async def action_toggle_incognito(self) -> None:
        if self.app.store is None:
            self.app.notify("Still opening memory…", severity="warning")
            return
        if self.streaming:
            self.app.notify("A reply is still streaming — Esc stops it first.", severity="warning")
            return
        self.discard_incognito()
        self.set_incognito(not self.incognito)
        await self.open_conversation(None)
        self.app.notify(
            "Incognito: memory is read, nothing is kept." if self.incognito else "Incognito off."
        )

    def set_incognito(self, on: bool) -> None:
        self.incognito = on
        self.status.incognito = on
        self.set_class(on, "incognito")

    def discard_incognito(self) -> int:
        """Drop every incognito conversation this screen started from memory (never stored)."""
        store, ids = self.app.store, list(self._incognito_ids)
        if store is None or not ids:
            return 0
        from memory.errors import NotFound

        deleted = 0
        for cid in ids:
            try:
                store.delete_conversation(cid)
                deleted += 1
            except NotFound:
                pass
            except Exception as e:  # noqa: BLE001 - leaving a chat must not fail
                log.warning("could not delete incognito conversation %s: %s", cid, e)
                continue
            self._incognito_ids.discard(cid)
        return deleted
