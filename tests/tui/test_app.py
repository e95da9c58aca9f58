"""Pilot-driven flows of the chat app against the real Assistant, the fake LLM server and a
real Valkey. Each test starts the app the way `memchat` does (store opened after first paint)."""

from __future__ import annotations

import gc

import pytest
from pilot_helpers import opened, send, wait_for

from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.chat_dialogs import DeleteConversationDialog
from tui.screens.dialogs import TextDialog
from tui.screens.first_run import FirstRunScreen
from tui.screens.help import HelpScreen
from tui.screens.inspector import InspectorScreen
from tui.widgets.memories import MemoryRow
from tui.widgets.message import MessageView

SIZE = (110, 34)


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(worker=False)


def seed(fn) -> None:
    """Prepare data through the public store before the app opens it."""
    with MemoryStore() as store:
        fn(store)


async def test_send_shows_the_streamed_reply_and_stores_it(app, fake_llm):
    fake_llm.script(
        "Hello **there**, friend.\n\n```python\nprint('hi')\n```", chunk_size=3, delay=0.005
    )
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        reply = await send(app, pilot, "say hello")
        assert reply.text.startswith("Hello **there**, friend.")
        assert reply.status == "complete"
        assert app.chat.prompt.text == ""
        cid = app.chat.conversation_id
        stored = app.store.messages(cid)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[1].content == reply.text
        assert [it.title for it in app.chat.sidebar.items] == ["say hello"]
        # the user turn went to the model
        assert fake_llm.last_messages()[-1]["content"].endswith("say hello")


async def test_memories_panel_lists_the_injected_memory_and_pins_and_forgets_it(app, fake_llm):
    ids = {}
    seed(
        lambda s: ids.setdefault(
            "m", s.add_memory("The user's cat is called Miso", section="facts").id
        )
    )
    fake_llm.script("Your cat is Miso.")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        reply = await send(app, pilot, "what is my cat called?")
        panel = reply.memories
        assert panel.display and ids["m"] in [it.id for it in panel.items]
        assert "memor" in str(panel.title) and "used" in str(panel.title)
        reply.focus()
        await pilot.press("m")  # expand
        await wait_for(pilot, lambda: not panel.collapsed and panel.rows(), what="memory rows")
        row = next(r for r in panel.rows() if r.item.id == ids["m"])
        assert "Miso" in str(row.render())
        assert "long-term/facts" in str(row.render())
        row.focus()
        await pilot.press("p")
        await pilot.pause()
        assert app.store.get_memory(ids["m"]).pinned
        await pilot.press("f")
        await pilot.pause()
        assert app.store.get_memory(ids["m"]).status == "deleted"
        assert "forgotten" in str(row.render())
        await pilot.press("u")
        await pilot.pause()
        assert app.store.get_memory(ids["m"]).status == "active"


async def test_escape_stops_the_stream_and_keeps_the_partial_reply(app, fake_llm):
    full = "word " * 400
    fake_llm.script(full, chunk_size=5, delay=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        app.chat.prompt.insert("tell me a long story")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: app.chat._reply_view is not None and len(app.chat._reply_view.text) > 20,
            what="some streamed text",
        )
        reply = app.chat._reply_view
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.chat.streaming, what="the stream to stop")
        assert reply.status == "cancelled"
        stored = app.store.messages(app.chat.conversation_id)[-1]
        assert stored.status == "cancelled"
        assert 0 < len(stored.content) < len(full)
        assert reply.text.startswith(stored.content[:20])


async def test_switch_rename_and_delete_conversations(app, fake_llm):
    def make(s):
        a = s.new_conversation("Alpha chat")
        s.add_message(a.id, "user", "alpha question")
        s.add_message(a.id, "assistant", "alpha answer")
        b = s.new_conversation("Beta chat")
        s.add_message(b.id, "user", "beta question")

    seed(make)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        sidebar = app.chat.sidebar
        assert [it.title for it in sidebar.items] == ["Beta chat", "Alpha chat"]
        sidebar.option_list.focus()
        sidebar.option_list.highlighted = 1
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                [v.text for v in app.chat.transcript.views()] == ["alpha question", "alpha answer"]
            ),
        )
        # rename
        sidebar.option_list.focus()
        sidebar.option_list.highlighted = 1
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog))
        field = app.screen.query_one("#value")
        field.value = "Renamed alpha"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Renamed alpha" in [it.title for it in sidebar.items])
        alpha_id = app.chat.conversation_id
        assert app.store.get_conversation(alpha_id).title == "Renamed alpha"
        # delete: "n" keeps it, "y" deletes it
        sidebar.option_list.focus()
        sidebar.option_list.highlighted = [it.conversation_id for it in sidebar.items].index(
            alpha_id
        )
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteConversationDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeleteConversationDialog))
        assert app.store.get_conversation(alpha_id)
        sidebar.option_list.focus()
        sidebar.option_list.highlighted = [it.conversation_id for it in sidebar.items].index(
            alpha_id
        )
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeleteConversationDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(sidebar.items) == 1)
        assert [c.title for c in app.store.list_conversations()] == ["Beta chat"]
        assert app.chat.conversation_id is None  # the open one was deleted: a fresh chat


async def test_up_arrow_recalls_persisted_prompts(app, fake_llm):
    seed(lambda s: s.push_command("an earlier prompt"))
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, "a new prompt")
        assert app.chat.prompt.text == ""
        await pilot.press("up")
        assert app.chat.prompt.text == "a new prompt"
        await pilot.press("up")
        assert app.chat.prompt.text == "an earlier prompt"
        await pilot.press("down", "down")
        assert app.chat.prompt.text == ""
        await wait_for(
            pilot, lambda: "a new prompt" in app.store.commands(), what="history persisted"
        )


async def test_first_run_screen_without_a_model_and_the_app_still_works(app):
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await wait_for(
            pilot, lambda: isinstance(app.screen, FirstRunScreen), what="the first-run screen"
        )
        text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "MEMCHAT_MODEL" in text
        assert app.chat.status.model == "no model"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, FirstRunScreen))
        reply = await send(app, pilot, "hello?")
        note = str(reply.query_one(".message-note").render())
        assert "MEMCHAT_MODEL" in note or "model" in note.lower()
        assert app.store.messages(app.chat.conversation_id)[0].content == "hello?"  # nothing lost


async def test_provider_error_is_a_line_in_the_transcript(app, fake_llm):
    fake_llm.script(error=401)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        reply = await send(app, pilot, "hi")
        note = reply.query_one(".message-note")
        assert note.has_class("error")
        assert "OPENAI_API_KEY" in str(note.render())
        assert app.is_running


async def test_regenerate_and_edit_last(app, fake_llm):
    fake_llm.script("first answer")
    fake_llm.script("second answer")
    fake_llm.script("answer to the edit")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, "question one")
        await pilot.press("ctrl+r")
        await wait_for(
            pilot,
            lambda: (
                not app.chat.streaming
                and [v.text for v in app.chat.transcript.views()]
                == ["question one", "second answer"]
            ),
        )
        await pilot.press("ctrl+g")
        assert app.chat.prompt.text == "question one" and app.chat.editing
        app.chat.prompt.clear()
        app.chat.prompt.insert("question edited")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                not app.chat.streaming
                and [v.text for v in app.chat.transcript.views()]
                == ["question edited", "answer to the edit"]
            ),
        )
        stored = [m.content for m in app.store.messages(app.chat.conversation_id)]
        assert stored == ["question edited", "answer to the edit"]


async def test_f2_inspector_help_and_copy(app, fake_llm):
    seed(lambda s: s.add_memory("I like tea", section="preferences"))
    fake_llm.script("Here:\n\n```sh\necho hi\n```\n")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        reply = await send(app, pilot, "code please")
        reply.focus()
        await pilot.press("y")
        assert app.clipboard == "echo hi"
        await pilot.press("c")
        assert app.clipboard == reply.text
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        tea = app.store.list_memories(section="preferences")[0]
        await wait_for(
            pilot, lambda: tea.id in app.screen.longterm.table.ids, what="the memory in the table"
        )
        await pilot.press("f2")
        await wait_for(pilot, lambda: not isinstance(app.screen, InspectorScreen))
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        ids = [b.id for _, bindings in app.screen.sections for b in bindings]
        for needed in (
            "send",
            "newline",
            "stop",
            "regenerate",
            "edit_last",
            "memory_pin",
            "sidebar_delete",
        ):
            assert needed in ids
        await pilot.press("escape")


async def test_keymap_from_settings_rebinds_send(app, fake_llm, monkeypatch, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[ui]\nkeymap = { new_conversation = "ctrl+k" }\n')
    monkeypatch.setenv("MEMCHAT_CONFIG", str(cfg))
    fake_llm.script("ok")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, "first")
        assert app.chat.conversation_id is not None
        app.chat.query_one(MessageView).focus()
        await pilot.press("ctrl+k")
        await wait_for(
            pilot, lambda: app.chat.conversation_id is None, what="ctrl+k to start a new chat"
        )


def test_memory_row_refuses_pin_for_past_messages():
    from tui.widgets.memories import MemoryItem, summary_line

    row = MemoryRow(MemoryItem(id="x", kind="message", score=0.5, text="old turn"))
    posted = []
    row.post_message = posted.append  # type: ignore[method-assign]
    row.action_pin()
    row.action_forget()
    assert posted == []
    assert summary_line(2, 100, 400) == "2 memories used · 100 tokens (25% of prompt)"
    assert summary_line(0, None, None) == "no memory used"


async def test_keys_arriving_in_one_burst_send_the_whole_line(app, fake_llm):
    """A terminal delivers fast typing (or tmux send-keys) as one read: Enter must see the text."""
    from textual import events

    fake_llm.script("got it")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        app.chat.prompt.focus()
        await pilot.pause()
        for (
            ch
        ) in "burst line":  # posted together, like the driver does, without waiting between keys
            app.post_message(events.Key("space" if ch == " " else ch, ch))
        app.post_message(events.Key("enter", "\r"))
        await wait_for(
            pilot, lambda: len(app.chat.transcript.views()) >= 2, what="the turn to start"
        )
        await wait_for(pilot, lambda: not app.chat.streaming, what="the reply")
        assert [v.text for v in app.chat.transcript.views() if v.role == "user"] == ["burst line"]
        assert app.chat.prompt.text == ""


async def test_a_new_chat_gets_an_llm_title_after_the_first_exchange(app, fake_llm, monkeypatch):
    monkeypatch.setenv("MEMCHAT_UI__LLM_TITLES", "true")
    fake_llm.script("Ziggy is a fine name for a cat.")
    fake_llm.script("Naming the Cat")  # the title request
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, "what should I call my new kitten, any ideas at all?")
        cid = app.chat.conversation_id
        await wait_for(
            pilot,
            lambda: app.store.get_conversation(cid).title == "Naming the Cat",
            what="the LLM title",
        )
        assert len(fake_llm.chat_requests()) == 2


async def test_the_app_takes_over_the_pipeline_when_the_worker_dies(redis_url, monkeypatch):
    """A `memchat worker` ran the pipeline, so the app started none; when that worker's
    heartbeat stops, the app's next health check starts its own consumer."""
    import tui.app as app_module
    from tasks import queue

    monkeypatch.setattr(app_module, "HEALTH_SECONDS", 0.2)
    with MemoryStore() as store:
        queue.bind(store)
        queue.beat("headless", 2)  # a live headless worker (this process stands in for it)
        app = MemchatApp(worker=True, warm=False)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await opened(app, pilot)
                await wait_for(pilot, lambda: "worker ok" in app.chat.status.worker, what="status")
                await pilot.pause(0.5)  # several health checks: the worker is alive, no takeover
                assert app._consumer is None
                queue.stop_beating()  # the worker died
                await wait_for(pilot, lambda: app._consumer is not None, what="the takeover")
                assert "worker ok" in app.chat.status.worker
        finally:
            queue.unbind()


async def test_a_huge_paste_is_held_behind_a_placeholder_sent_whole_and_drawn_cut(app, fake_llm):
    from textual import events

    from tui.widgets.message import SHOW_MAX

    fake_llm.script("Got it.")
    paste = ("lorem ipsum dolor sit amet " * 8_000)[:200_000] + " UNIQUETOKEN42"
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        app.chat.prompt.focus()
        app.post_message(events.Paste("before "))  # as the terminal driver delivers them
        app.post_message(events.Paste(paste))
        held = f"[pasted text #1: 1 line, {len(paste):,} characters]"
        await wait_for(pilot, lambda: app.chat.prompt.text == "before " + held, what="the paste")
        await pilot.press(*" after")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.chat.transcript.views()) == 2, what="the turn")
        await wait_for(pilot, lambda: not app.chat.streaming, what="the reply")
        sent = "before " + paste + " after"
        user = app.chat.transcript.views()[0]
        assert user.text == sent  # copy (c) gets all of it
        note = str(user.query_one(".message-note").render())
        assert f"first {SHOW_MAX:,} of {len(sent):,} characters" in note
        assert "UNIQUETOKEN42" not in user.body.source  # not drawn
        assert fake_llm.last_messages()[-1]["content"] == sent  # sent whole
        (stored,) = [m for m in app.store.messages(app.chat.conversation_id) if m.role == "user"]
        assert stored.content == sent
        # up recalls it behind a placeholder again, and Enter would send it whole
        app.chat.prompt.focus()
        await pilot.press("up")
        await wait_for(pilot, lambda: app.chat.prompt.text.startswith("[pasted text #1"), what="up")
        assert app.chat.prompt.expanded(app.chat.prompt.text) == sent


async def test_a_stopped_reply_queues_no_extraction_a_complete_one_does(app, fake_llm):
    from tasks import api as tasks_api
    from tasks import queue

    fake_llm.script("word " * 400, chunk_size=5, delay=0.02)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await opened(app, pilot)
            app.chat.prompt.insert("tell me a long story")
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: app.chat._reply_view is not None and len(app.chat._reply_view.text) > 20,
                what="some streamed text",
            )
            await pilot.press("escape")
            await wait_for(pilot, lambda: not app.chat.streaming, what="the stream to stop")
            assert app.store.messages(app.chat.conversation_id)[-1].status == "cancelled"
            assert tasks_api.pending_count(app.store) == 0  # nothing learned from a cut-off reply

            fake_llm.script("Once upon a time.")
            await send(app, pilot, "then just one line")
            assert app.store.messages(app.chat.conversation_id)[-1].status == "complete"
            assert tasks_api.pending_count(app.store) == 1  # the same end as `memchat ask`
    finally:
        queue.unbind()


async def test_the_collector_paused_for_the_first_screen_runs_again_once_it_shows(app):
    """run_app turns the garbage collector off until the first paint (startup speed); the app
    turns it back on then, with the startup objects frozen, and opens memory as usual."""
    gc.disable()
    app.gc_paused = True
    try:
        async with app.run_test(size=SIZE) as pilot:
            await opened(app, pilot)
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
            assert not app.gc_paused
    finally:
        gc.unfreeze()
        gc.enable()
