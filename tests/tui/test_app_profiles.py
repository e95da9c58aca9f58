"""Profiles and incognito in the chat app, driven by keys against the fake LLM and real Valkey."""

from __future__ import annotations

import os

import pytest
import redis
from pilot_helpers import opened, send, wait_for

from memory.errors import NotFound
from memory.store import MemoryStore
from tests.canary import files_containing
from tui.app import MemchatApp
from tui.screens.dialogs import ProfilePicker

SIZE = (110, 34)


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(worker=False, warm=False)


def seed_two_profiles() -> None:
    with MemoryStore() as home:
        c = home.new_conversation("Home chat")
        home.add_message(c.id, "user", "my cat is called Miso")
        home.add_memory("The user's cat is called Miso", section="facts")
        work = home.for_profile("work")
        c = work.new_conversation("Work chat")
        work.add_message(c.id, "user", "my manager is called Dana")
        work.add_memory("The user's manager is called Dana", section="facts")


async def pick_profile(app, pilot, name: str, *, new: bool = False) -> None:
    await pilot.press("f3")
    await wait_for(pilot, lambda: isinstance(app.screen, ProfilePicker), what="the profile picker")
    picker = app.screen
    if new:
        picker.query_one("#new-profile").focus()
        picker.query_one("#new-profile").value = name
    else:
        ol = picker.query_one("#profiles")
        ol.highlighted = next(i for i, o in enumerate(ol.options) if o.id == name)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.store.profile == name, what=f"profile {name} to open")
    await pilot.pause()


async def test_switching_profile_shows_only_that_profiles_chats_and_memories(app, fake_llm):
    seed_two_profiles()
    fake_llm.script("Dana, I believe.")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        assert [it.title for it in chat.sidebar.items] == ["Home chat"]
        assert chat.status.profile == "default"

        await pilot.press("f3")
        await wait_for(pilot, lambda: isinstance(app.screen, ProfilePicker))
        listed = [o.id for o in app.screen.query_one("#profiles").options]
        assert listed == ["default", "work", "__new__"]
        await pilot.press("escape")

        await pick_profile(app, pilot, "work")
        await wait_for(pilot, lambda: [it.title for it in chat.sidebar.items] == ["Work chat"])
        assert "profile work" in str(chat.status.render())
        assert app.assistant.store is app.store
        texts = [
            h.text for h in app.store.recall("who is called what? cat manager", token_budget=None)
        ]
        assert any("Dana" in t for t in texts)
        assert not any("Miso" in t for t in texts)

        reply = await send(app, pilot, "what is my manager called, and my cat?")
        prompt = " ".join(str(m["content"]) for m in fake_llm.last_messages())
        assert "Dana" in prompt and "Miso" not in prompt
        assert all(it.text is None or "Miso" not in it.text for it in reply.memories.items)
        assert app.store.get_conversation(chat.conversation_id).profile == "work"

        await pick_profile(app, pilot, "fresh", new=True)
        await wait_for(pilot, lambda: chat.sidebar.items == [], what="an empty list")
        assert chat.status.profile == "fresh"
        assert app.store.recall("cat manager", token_budget=None) == []

        await pick_profile(app, pilot, "default")
        await wait_for(pilot, lambda: [it.title for it in chat.sidebar.items] == ["Home chat"])


async def test_incognito_reads_memory_and_leaves_nothing_behind(app, fake_llm):
    with MemoryStore() as s:
        s.add_memory("The user's cat is called Miso", section="facts")
    fake_llm.script("Your cat is Miso.", default=True)
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        await pilot.press("f4")
        await wait_for(pilot, lambda: chat.status.incognito, what="incognito on")
        assert "incognito" in str(chat.status.render())

        reply = await send(app, pilot, "what is my cat called?")
        assert reply.text == "Your cat is Miso."
        assert "Miso" in " ".join(str(m["content"]) for m in fake_llm.last_messages())  # read
        cid = chat.conversation_id
        assert app.store.get_conversation(cid).incognito
        assert chat.sidebar.items == []  # never listed
        assert app.store.recent_turns(cid)  # the chat itself works like any other

        await pilot.press("ctrl+n")  # leave it
        await wait_for(pilot, lambda: chat.conversation_id is None)
        with pytest.raises(NotFound):
            app.store.get_conversation(cid)
        assert (
            app.store.db.scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (cid,))
            == 0
        )
        assert app.store.short.recent_turns(app.store.profile, cid, 50) == []
        assert [k for k in r.scan_iter(f"*{cid}*")] == []
        assert chat.status.incognito  # still incognito: the next chat is too

        await send(app, pilot, "one more, then quit")
        second = chat.conversation_id
        assert app.store.get_conversation(second).incognito

    with MemoryStore() as s:
        assert s.list_conversations(archived=None) == []
        assert s.db.scalar("SELECT COUNT(*) FROM messages") == 0
        assert [m.content for m in s.list_memories(status=None)] == [
            "The user's cat is called Miso"
        ]
        assert "what is my cat called?" not in s.commands()
        from tasks import api as tasks_api

        assert tasks_api.pending_count(s) == 0
    assert [k for k in r.scan_iter(f"*{second}*")] == []
    assert [k for k in r.scan_iter("*debounce*")] == []


async def test_incognito_off_and_opening_a_kept_chat_end_incognito(app, fake_llm):
    with MemoryStore() as s:
        c = s.new_conversation("Kept chat")
        s.add_message(c.id, "user", "hello")
    fake_llm.script("ok", default=True)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        await pilot.press("f4")
        await send(app, pilot, "secret musing")
        cid = chat.conversation_id
        chat.sidebar.option_list.focus()
        chat.sidebar.option_list.highlighted = 0
        await pilot.press("enter")  # open the kept chat: the incognito one goes
        await wait_for(pilot, lambda: chat.conversation_id != cid)
        assert not chat.status.incognito
        with pytest.raises(NotFound):
            app.store.get_conversation(cid)
        await pilot.press("f4")
        await send(app, pilot, "another musing")
        cid = chat.conversation_id
        await pilot.press("f4")  # incognito off: leaves and deletes it
        await wait_for(pilot, lambda: not chat.status.incognito)
        with pytest.raises(NotFound):
            app.store.get_conversation(cid)
        assert [c.title for c in app.store.list_conversations()] == ["Kept chat"]


CANARY = "Plimbertwix"


async def test_an_incognito_chat_writes_no_byte_to_the_data_dir_open_or_after_quit(
    home, fake_llm, monkeypatch, model_dir
):
    # no REDIS_URL: the app starts the embedded Valkey, its AOF in the data dir
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    app = MemchatApp(worker=False, warm=False)
    fake_llm.script(f"{CANARY}? Lovely.", chunk_size=3, delay=0.005, default=True)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        await pilot.press("f4")
        await wait_for(pilot, lambda: chat.status.incognito, what="incognito on")
        reply = await send(app, pilot, f"my hobby is {CANARY}")
        assert reply.text == f"{CANARY}? Lovely." and reply.status == "complete"
        await send(app, pilot, "what did I just say?")
        assert CANARY in " ".join(m["content"] for m in fake_llm.last_messages())  # history
        app.store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert any("aof" in f.name for f in home.rglob("*"))  # Redis is in use, with its AOF
        assert files_containing(home, CANARY) == []  # while it is open
    assert files_containing(home, CANARY) == []  # and after quitting


async def test_each_profile_comes_back_with_its_own_open_chat_and_draft(app, fake_llm):
    seed_two_profiles()
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        home_chat = chat.sidebar.items[0].conversation_id
        await chat.open_conversation(home_chat)
        chat.prompt.set_prompt("a half-written thought about Miso")
        await pilot.pause(0.8)  # typing paused: the draft is kept

        await pick_profile(app, pilot, "work")
        await wait_for(pilot, lambda: [it.title for it in chat.sidebar.items] == ["Work chat"])
        await wait_for(pilot, lambda: not chat._restoring, what="work's session to be read")
        assert chat.conversation_id is None  # work had no open chat: not home's
        work_chat = chat.sidebar.items[0].conversation_id
        await chat.open_conversation(work_chat)
        chat.prompt.set_prompt("")
        await pilot.pause(0.8)

        await pick_profile(app, pilot, "default")
        await wait_for(pilot, lambda: chat.conversation_id == home_chat, what="home's chat back")
        await wait_for(pilot, lambda: chat.prompt.text == "a half-written thought about Miso")

        chat.prompt.set_prompt("")
        await pick_profile(app, pilot, "work")
        await wait_for(pilot, lambda: chat.conversation_id == work_chat, what="work's chat back")
