"""Pilot tests for the chat app's wording and fit that users of issue 18 tripped over: the
review count in the status bar, "thinking…" instead of "partial", deletions that show what
they delete, an honest copy toast, a proportional sidebar, the footer's undo key."""

from __future__ import annotations

import pytest
from pilot_helpers import opened, send, wait_for

from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.dialogs import ConfirmDialog
from tui.screens.inspector import InspectorScreen
from tui.widgets.memories import MemoryRow


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(worker=False)


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_status_bar_says_tasks_and_memories_to_review(app, monkeypatch):
    monkeypatch.setenv("MEMCHAT_MEMORY__REVIEW", "true")
    with MemoryStore() as s:
        for text in ("The user is allergic to peanuts", "The user maybe likes opera"):
            s.add_memory(text, actor="worker:extract")  # review mode: waits for review
        assert s.count_memories(status="pending") == 2
    async with app.run_test(size=(160, 30)) as pilot:
        await opened(app, pilot)
        app._check_health()
        status = app.chat.status
        await wait_for(pilot, lambda: status.to_review == 2, what="the review count")
        await pilot.pause(0.1)
        text = str(status.render())
        assert "2 to review (F2)" in text, text
        assert "tasks" in text and "pending" not in text, text


async def test_reply_header_says_thinking_then_the_model(app, fake_llm):
    fake_llm.script("Here you are.", stall=1.0)
    async with app.run_test(size=(110, 34)) as pilot:
        await opened(app, pilot)
        app.chat.prompt.insert("hello")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat._reply_view is not None, what="the reply view")
        header = app.chat._reply_view.query_one(".message-header")
        shown = str(header.render())
        assert "thinking…" in shown and "partial" not in shown, shown
        await wait_for(pilot, lambda: not app.chat.streaming, what="the reply")
        reply = [v for v in app.chat.transcript.views() if v.role == "assistant"][-1]
        shown = str(reply.query_one(".message-header").render())
        assert shown == "memchat · openai/fake-model", shown


async def test_bulk_delete_confirmation_lists_the_memories(redis_url, fake_llm, monkeypatch):
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    with MemoryStore() as s:
        for text in ("Likes green tea", "Has a cat called Miso", "Lives in Lisbon"):
            s.add_memory(text)
    app = MemchatApp(start="inspector", warm=False, worker=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen), what="inspector")
        tab = app.screen.longterm
        await wait_for(pilot, lambda: tab.table.row_count == 3, what="rows")
        tab.table.focus()
        tab.table.move_cursor(row=0)
        await pilot.press("space", "space")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question")
        dialog = app.screen
        assert dialog.question == "Delete 2 memories?"
        marked = [tab.table.memories[i].content for i in tab.table.ids[:2]]
        assert sorted(dialog.details) == sorted(marked)
        listed = str(dialog.query_one("#confirm-details").render())
        assert all(f"• {m}" in listed for m in marked), listed
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="no")
        assert app.store.count_memories() == 3


async def test_copy_without_a_clipboard_tool_says_it_used_osc52(app, fake_llm, monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    fake_llm.script("Copy me.")
    async with app.run_test(size=(110, 34)) as pilot:
        await opened(app, pilot)
        reply = await send(app, pilot, "something to copy")
        reply.focus()
        await pilot.press("c")
        assert app.clipboard == "Copy me."
        said = notes(app)[-1]
        assert "OSC 52" in said and "Copied" not in said, said


async def test_sidebar_grows_with_the_terminal_and_titles_use_it(app):
    title = "Planning the garden shed for spring"
    with MemoryStore() as s:
        c = s.new_conversation(title)
        s.add_message(c.id, "user", "hi")
    async with app.run_test(size=(250, 40)) as pilot:
        await opened(app, pilot)
        sidebar = app.chat.sidebar
        await wait_for(pilot, lambda: sidebar.items, what="the conversation list")
        await pilot.pause(0.2)
        assert 50 <= sidebar.size.width <= 56, sidebar.size.width
        line = str(sidebar.option_list.get_option_at_index(0).prompt)
        assert line.startswith(title), line  # whole, where a fixed sidebar cut it at 18


async def test_footer_offers_undo_after_forgetting_a_used_memory(app, fake_llm):
    with MemoryStore() as s:
        s.add_memory("The user's cat is called Miso", section="facts")
    fake_llm.script("Miso.")
    async with app.run_test(size=(160, 40)) as pilot:
        await opened(app, pilot)
        reply = await send(app, pilot, "what is my cat called?")
        reply.focus()
        await pilot.press("m")
        await wait_for(pilot, lambda: bool(reply.memories.rows()), what="the memories used")
        row = reply.memories.rows()[0]
        row.focus()
        await pilot.pause(0.1)

        def shown_keys() -> set[str]:
            return {b.id for _, b, _, _ in app.screen.active_bindings.values() if b.show}

        assert "memory_forget" in shown_keys() and "memory_restore" not in shown_keys()
        await pilot.press("f")
        await wait_for(pilot, lambda: row.item.forgotten, what="the forget")
        await pilot.pause(0.1)
        assert "memory_restore" in shown_keys() and "memory_forget" not in shown_keys()
        assert isinstance(app.focused, MemoryRow)
