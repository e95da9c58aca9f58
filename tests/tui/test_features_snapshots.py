"""Snapshot of a dialog the chat app's extras added (issue 18): deleting a conversation says
how many memories came from it, lists a few, and offers to forget them too -- at 80×24."""

from __future__ import annotations

import time

import pytest
from pilot_helpers import steady_cursor

from memory.store import MemoryStore
from tui.app import MemchatApp


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(worker=False, warm=False)


def test_delete_dialog_counts_the_memories_from_the_chat(app, fake_llm, snap_compare):
    from tui.screens.chat_dialogs import DeleteConversationDialog

    with MemoryStore() as s:
        c = s.new_conversation("Moving to Lisbon")
        u = s.add_message(c.id, "user", "I moved to Lisbon with my dog Rex")
        for text in ("Lives in Lisbon since March", "Has a dog called Rex", "Works remotely"):
            s.add_memory(text, source_conversation_id=c.id, source_message_ids=[u.id])

    async def run_before(pilot):
        app = pilot.app
        deadline = time.monotonic() + 30
        while app.store is None or not app.chat.status.worker:
            if app.store is not None and not app.chat.status.worker:
                app._check_health()  # the status bar's worker part, now rather than in 10 s
            assert time.monotonic() < deadline, "the app did not open"
            await pilot.pause(0.1)
        steady_cursor(app.chat.prompt)  # a blinking cursor makes screenshots differ
        app.chat.sidebar.option_list.focus()
        app.chat.sidebar.option_list.highlighted = 0
        await pilot.press("d")
        while not isinstance(app.screen, DeleteConversationDialog):
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
