"""Pilot tests of the chat app's features beyond chatting (issue 18: what users of elia, oterm
and ChatGPT memory expect): add a memory, export, memory off, delete with its memories,
profile counts, sidebar width, session state, reply versions. Each drives real keys against
the real store, Valkey and the fake LLM, and checks the result through MemoryStore."""

from __future__ import annotations

import pytest
from pilot_helpers import opened, send, wait_for

from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.add_memory import AddMemoryDialog
from tui.screens.inspector import InspectorScreen

SIZE = (110, 34)


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(worker=False, warm=False)


def seed(fn):
    with MemoryStore() as store:
        return fn(store)


def memories(store) -> list:
    return store.list_memories(limit=1000)


# ---------------------------------------------------------------------- add a memory
async def test_n_in_the_inspector_adds_a_pinned_scoped_memory(redis_url, fake_llm, monkeypatch):
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    app = MemchatApp(start="inspector", warm=False, worker=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen), what="inspector")
        tab = app.screen.longterm
        tab.table.focus()
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, AddMemoryDialog), what="dialog")
        await pilot.press(*"My bike is a green Brompton")
        await pilot.press("tab")
        await pilot.press(*"team:cycling", "ctrl+s")  # not a scope: the dialog says so, stays
        await pilot.pause(0.2)
        assert isinstance(app.screen, AddMemoryDialog) and memories(app.store) == []
        app.screen.query_one("#memory-scope").value = "project:cycling"
        await pilot.press("tab", "space")  # pinned
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(memories(app.store)) == 1, what="the memory")
        m = memories(app.store)[0]
        assert (m.content, m.scope, m.pinned, m.section) == (
            "My bike is a green Brompton",
            "project:cycling",
            True,
            "facts",
        )
        assert app.store.memory_history(m.id)[0].reason == "added in the inspector"
        await wait_for(pilot, lambda: m.id in tab.table.ids, what="the new row")


async def test_r_on_a_message_remembers_it_with_its_source(app, fake_llm):
    fake_llm.script("Noted: your dentist is Dr Okafor.")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, "my dentist is Dr Okafor")
        user = [v for v in app.chat.transcript.views() if v.role == "user"][-1]
        await wait_for(pilot, lambda: user.message_id is not None, what="the stored prompt")
        user.focus()
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, AddMemoryDialog), what="dialog")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(memories(app.store)) == 1, what="the memory")
        m = memories(app.store)[0]
        assert m.content == "my dentist is Dr Okafor"
        assert m.source_conversation_id == app.chat.conversation_id
        assert m.source_message_ids == [user.message_id]
        assert m.scope == "global" and not m.pinned


# ---------------------------------------------------------------------- export
async def test_f5_exports_the_open_conversation_as_markdown_and_json(
    app, fake_llm, tmp_path, monkeypatch
):
    import json

    from tui.cli_chat import export_text
    from tui.screens.chat_dialogs import ExportDialog

    folder = tmp_path / "exports"
    monkeypatch.setenv("MEMCHAT_UI__EXPORT_DIR", str(folder))
    token = "ghp_" + "b" * 36
    fake_llm.script("I will not keep that token.")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, f"my deploy token is {token}")
        cid = app.chat.conversation_id
        app.chat.action_focus_transcript()
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportDialog), what="the dialog")
        await pilot.press("m")
        await wait_for(pilot, lambda: app.chat.exported is not None, what="the markdown file")
        md = app.chat.exported
        assert md.parent == folder and md.suffix == ".md" and cid[:8] in md.name
        assert md.read_text() == export_text(app.store, cid, "markdown")
        assert "my deploy token is [REDACTED:github-token]" in md.read_text()
        app.chat.exported = None
        app.chat.action_export("json")  # the palette's "Export conversation as JSON"
        await wait_for(pilot, lambda: app.chat.exported is not None, what="the json file")
        doc = json.loads(app.chat.exported.read_text())
        assert doc["conversation"]["id"] == cid
        assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
        for f in folder.iterdir():
            assert token not in f.read_text()
            assert f.stat().st_mode & 0o077 == 0


# ---------------------------------------------------------------------- memory off
def _prompt_text(fake_llm) -> str:
    return "\n".join(str(m.get("content")) for m in fake_llm.last_messages())


async def test_memory_off_recalls_nothing_learns_nothing_and_is_kept_with_the_chat(app, fake_llm):
    import redis

    from tasks.extract import debounce_key, mark_name

    seed(lambda s: s.add_memory("The user's cat is called Miso", section="facts"))
    fake_llm.script("I don't know your cat.")
    fake_llm.script("Your cat is Miso.")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await pilot.press("f8")  # before the chat starts: it starts with memory off
        assert app.chat.status.memory_off and "memory off" in str(app.chat.status.render())
        first = await send(app, pilot, "what is my cat called?")
        cid = app.chat.conversation_id
        assert app.store.get_conversation(cid).memory_off
        prompt = _prompt_text(fake_llm)
        assert "what is my cat called?" in prompt
        assert "Miso" not in prompt and "<memories" not in prompt
        r = redis.Redis.from_url(app.store.redis_url())
        assert not r.exists(debounce_key(app.store.profile, cid))  # no extraction queued
        # kept with the conversation: a new chat has memory on, going back shows it off
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert not app.chat.status.memory_off
        await app.chat.open_conversation(cid)
        await pilot.pause()
        assert app.chat.status.memory_off and app.chat.memory_off
        # on again: recall comes back, extraction is queued, the off turns are never learned
        await pilot.press("f8")
        await wait_for(
            pilot, lambda: not app.store.get_conversation(cid).memory_off, what="memory on"
        )
        await wait_for(
            pilot,
            lambda: app.store.get_mark(mark_name(cid)) == first.message_id,
            what="the off turns skipped",
        )
        await send(app, pilot, "and now, what is my cat called?")
        assert "Miso" in _prompt_text(fake_llm)
        assert r.exists(debounce_key(app.store.profile, cid))


# ---------------------------------------------------------------------- delete with its memories
async def test_deleting_a_chat_says_how_many_memories_came_from_it_and_can_forget_them(
    app, fake_llm
):
    from tui.screens.chat_dialogs import DeleteConversationDialog

    def make(s):
        a = s.new_conversation("Moving chat")
        u = s.add_message(a.id, "user", "I moved to Lisbon and my dog is Rex")
        for text in ("Lives in Lisbon", "Has a dog called Rex"):
            s.add_memory(text, source_conversation_id=a.id, source_message_ids=[u.id])
        s.add_memory("Unrelated: likes tea")
        b = s.new_conversation("Plain chat")
        s.add_message(b.id, "user", "hello")
        return a.id, b.id

    moving, plain = seed(make)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        sidebar = app.chat.sidebar

        async def ask_delete(cid):
            # the sidebar refits its titles once it has its width (rebuilding the list): on a
            # busy machine that can land between the highlight and the key, so press again
            for _ in range(20):
                sidebar.option_list.focus()
                ids = [it.conversation_id for it in sidebar.items]
                sidebar.option_list.highlighted = ids.index(cid)
                await pilot.press("d")
                try:
                    await wait_for(
                        pilot,
                        lambda: isinstance(app.screen, DeleteConversationDialog),
                        timeout=1.0,
                        what="the delete dialog",
                    )
                    break
                except AssertionError:
                    continue
            assert isinstance(app.screen, DeleteConversationDialog)
            return app.screen

        dialog = await ask_delete(plain)
        assert dialog.memories == 0
        assert "No memories came from it" in str(
            dialog.query_one("#delete-memories-count").render()
        )
        await pilot.press("f")  # nothing to forget: f does nothing, the dialog stays
        await pilot.pause()
        assert app.screen is dialog
        await pilot.press("y")
        await wait_for(pilot, lambda: len(sidebar.items) == 1, what="the chat deleted")

        dialog = await ask_delete(moving)
        assert dialog.memories == 2
        assert "2 memories came from this conversation" in str(
            dialog.query_one("#delete-memories-count").render()
        )
        await pilot.press("f")
        await wait_for(pilot, lambda: not sidebar.items, what="the chat deleted")
        left = [m.content for m in app.store.list_memories()]
        assert left == ["Unrelated: likes tea"]
        gone = app.store.list_memories(status="deleted")
        assert {m.content for m in gone} == {"Lives in Lisbon", "Has a dog called Rex"}
        assert app.store.memory_history(gone[0].id)[-1].reason == "forgotten with its conversation"


# ---------------------------------------------------------------------- profile counts
async def test_the_profile_picker_shows_memory_and_conversation_counts(app, fake_llm):
    from tui.screens.dialogs import ProfilePicker

    def make(s):
        for i in range(2):
            c = s.new_conversation(f"Home chat {i}")
            s.add_message(c.id, "user", "hello")
        s.add_memory("The user's cat is called Miso")
        gone = s.add_memory("forgotten note")
        s.delete_memory(gone.id)  # not counted
        work = s.for_profile("work")
        work.new_conversation("Work chat")
        for text in ("Manager is Dana", "Office in Porto", "Standup at 9"):
            work.add_memory(text)

    seed(make)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ProfilePicker), what="the picker")
        options = {
            o.id: " ".join(str(o.prompt).split()) for o in app.screen.query_one("#profiles").options
        }
        assert options["default"] == "● default 1 memory · 2 chats"
        assert options["work"] == "work 3 memories · 1 chat"


# ---------------------------------------------------------------------- sidebar width
async def test_the_sidebar_is_resized_with_keys_and_keeps_its_width(
    redis_url, fake_llm, monkeypatch
):
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    seed(lambda s: s.add_message(s.new_conversation("A chat").id, "user", "hello"))
    app = MemchatApp(worker=False, warm=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        sidebar = app.chat.sidebar
        start = sidebar.outer_size.width
        sidebar.option_list.focus()
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: sidebar.outer_size.width == start + 8, what="a wider sidebar")
        await pilot.press("ctrl+left")
        await wait_for(pilot, lambda: sidebar.outer_size.width == start + 4, what="a narrower one")
        await wait_for(
            pilot, lambda: app.store.get_mark("ui:sidebar_width") == str(start + 4), what="kept"
        )
    again = MemchatApp(worker=False, warm=False)  # a restart brings the width back
    async with again.run_test(size=SIZE) as pilot:
        await opened(again, pilot)
        await wait_for(
            pilot, lambda: again.chat.sidebar.outer_size.width == start + 4, what="the kept width"
        )


# ---------------------------------------------------------------------- session state
async def test_the_draft_the_open_chat_and_a_new_chats_model_come_back_after_a_restart(
    redis_url, fake_llm, monkeypatch
):
    from tui.screens.chat_extras import session_name

    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    fake_llm.script("Sure.")
    token = "ghp_" + "c" * 36
    app = MemchatApp(worker=False, warm=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await send(app, pilot, "plan a trip to Porto")
        cid = app.chat.conversation_id
        app.chat.prompt.focus()
        await pilot.press(*"and book the train, key ", *token)

        def state():
            return app.store.get_session_state(session_name())

        # kept while the app runs (Redis with AOF): a crash loses nothing typed
        await wait_for(pilot, lambda: "train" in (state().get("draft") or ""), what="the draft")
        assert state()["conversation_id"] == cid
        assert state()["draft"] == "and book the train, key [REDACTED:github-token]"
        # incognito keeps nothing, not even in the session state
        await pilot.press("f4")
        await pilot.press(*"a secret plan")
        await pilot.pause(1.0)
        assert "secret" not in str(state())
    again = MemchatApp(worker=False, warm=False)
    async with again.run_test(size=SIZE) as pilot:
        await opened(again, pilot)
        chat = again.chat
        await wait_for(pilot, lambda: chat.conversation_id == cid, what="the open chat")
        await wait_for(pilot, lambda: "book the train" in chat.prompt.text, what="the draft")
        assert [v.role for v in chat.transcript.views()] == ["user", "assistant"]
        await pilot.press("ctrl+n")
        await pilot.pause()
        chat.pending_model = "openai/other-model"  # what the model picker (ctrl+o) sets
        chat.save_session()
        await wait_for(
            pilot,
            lambda: (
                again.store.get_session_state(session_name()).get("model") == "openai/other-model"
            ),
            what="the model kept",
        )
        # what a start does with that state (a third start is not worth its seconds here)
        chat.pending_model = None
        await chat._restore(again.store.get_session_state(session_name()))
        assert chat.status.model == "openai/other-model" and chat.conversation_id is None


# ---------------------------------------------------------------------- reply versions
async def test_regenerate_keeps_earlier_answers_and_arrows_flip_between_them(app, fake_llm):
    for text in ("First answer.", "Second answer.", "Third answer.", "Because."):
        fake_llm.script(text)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        await send(app, pilot, "tell me a joke")
        cid = chat.conversation_id

        def reply():
            return [v for v in chat.transcript.views() if v.role == "assistant"][-1]

        for n, text in ((2, "Second answer."), (3, "Third answer.")):
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda t=text: reply().text == t, what=text)
            await wait_for(pilot, lambda: not chat.streaming, what="the turn to end")
            await wait_for(pilot, lambda n=n: reply().versions == (n, n), what=f"{n}/{n}")
        assert "‹ 3/3 ›" in str(reply().query_one(".message-header").render())
        view = reply()
        view.focus()
        await pilot.press("left")
        await wait_for(pilot, lambda: view.versions == (2, 3), what="2/3")
        assert view.text == "Second answer."
        assert app.store.messages(cid)[-1].content == "Second answer."  # the chat goes on from it
        await pilot.press("left")
        await wait_for(pilot, lambda: view.versions == (1, 3), what="1/3")
        await pilot.press("left")  # the first: nothing earlier
        await pilot.pause(0.3)
        assert view.versions == (1, 3) and view.text == "First answer."
        await pilot.press("right")
        await wait_for(pilot, lambda: view.versions == (2, 3), what="2/3 again")
        # the next prompt carries the answer shown, not the others
        await send(app, pilot, "why?")
        history = [m["content"] for m in fake_llm.last_messages() if m["role"] == "assistant"]
        assert history == ["Second answer."]
        # kept: the conversation opened again shows the count
        await app.chat.open_conversation(None)
        await app.chat.open_conversation(cid)
        first_reply = [v for v in chat.transcript.views() if v.role == "assistant"][0]
        await wait_for(pilot, lambda: first_reply.versions == (2, 3), what="2/3 after reopening")
        versions = app.store.reply_versions(app.store.messages(cid)[0].id, first_reply.message_id)
        assert [v.content for v in versions.versions] == [
            "First answer.",
            "Second answer.",
            "Third answer.",
        ]


# ---------------------------------------------------------------------- F1 lists every new key
def test_f1_lists_every_key_these_features_added():
    from tui.app import help_sections
    from tui.screens.inspector import inspector_help_sections

    bindings = [b for _, bs in help_sections() + inspector_help_sections() for b in bs]
    ids = {b.id: b for b in bindings}
    for needed in (
        "remember_message",
        "export_conversation",
        "memory_off",
        "sidebar_narrower",
        "sidebar_wider",
        "sidebar_narrower_key",
        "sidebar_wider_key",
        "version_previous",
        "version_next",
        "inspector_new_memory",
    ):
        assert needed in ids and ids[needed].description, needed
