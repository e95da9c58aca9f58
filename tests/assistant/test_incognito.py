"""Incognito is enforced at the memory boundary: an incognito chat lives in its store's process
memory only. Real SQLite, the embedded Valkey with its AOF in the data dir, the fake LLM."""

from __future__ import annotations

import pytest

from assistant.assistant import Assistant
from memory.config import load_settings
from memory.errors import NotFound
from memory.store import MemoryStore
from tests.canary import files_containing

CANARY = "Zorbquillet"  # the user's secret hobby


@pytest.fixture
def store():
    s = MemoryStore(load_settings())  # no REDIS_URL: the embedded Valkey, AOF in the home
    yield s
    s.close()


def test_an_incognito_chat_is_recalled_by_no_store_and_a_crash_leaves_no_byte(
    store, home, fake_llm, model_dir
):
    store.add_memory("The user's cat is called Miso")
    assistant = Assistant(store, timeout=10)
    conv = assistant.start_conversation(incognito=True)

    fake_llm.script(reply=f"{CANARY} sounds fun. Your cat is Miso.")
    reply = assistant.reply(conv.id, f"my hobby is {CANARY}; what is my cat called?")
    assert "Miso" in fake_llm.last_messages()[0]["content"]  # memory is read as usual
    fake_llm.script(reply="You told me.")
    assistant.reply(conv.id, "and what is my hobby?")
    sent = " ".join(m["content"] for m in fake_llm.last_messages())
    assert CANARY in sent  # the chat keeps its own history, in memory
    fake_llm.script(reply=f"Your hobby is {CANARY}.")
    for _ in assistant.regenerate(conv.id):  # the replaced answer is kept nowhere
        pass
    *_, prompt, answer = store.messages(conv.id)
    assert [v.content for v in store.reply_versions(prompt.id, answer.id).versions] == [
        f"Your hobby is {CANARY}."
    ]
    assert store.db.scalar("SELECT COUNT(*) FROM reply_versions") == 0
    assert [m.role for m in store.messages(conv.id)] == ["user", "assistant"] * 2
    store.push_command(f"my hobby is {CANARY}", conv.id)  # the app's prompt history
    assert assistant.finish_turn(conv.id, reply).extract_upto is None  # nothing to learn
    store.index_pending()

    def recalled(s: MemoryStore) -> list[str]:
        return [h.text for h in s.recall(f"what is my hobby? {CANARY}", token_budget=None)]

    assert not any(CANARY in t for t in recalled(store))  # not even this process's recall
    other = MemoryStore(load_settings())  # another process on the same home, meanwhile
    try:
        assert not any(CANARY in t for t in recalled(other))
        with pytest.raises(NotFound):
            other.get_conversation(conv.id)
        assert other.list_conversations(archived=None) == []
        assert CANARY not in " ".join(other.commands())
    finally:
        other.close()

    # kill -9 of the process holding it: nothing is closed or cleaned up, yet no file under
    # the data dir (SQLite + WAL, the AOF, Chroma, logs) has a byte of it
    assert any(p.suffix == ".aof" or "aof" in p.name for p in home.rglob("*"))
    assert files_containing(home, CANARY) == []
    store.close()
    assert files_containing(home, CANARY) == []


def test_leaving_an_incognito_chat_drops_it_and_kept_chats_are_untouched(store):
    kept = store.new_conversation("kept")
    store.add_message(kept.id, "user", "hello")
    conv = store.new_conversation(incognito=True)
    m = store.add_message(conv.id, "user", f"about {CANARY}")
    store.update_message(m.id, content=f"still about {CANARY}")
    assert store.get_message(m.id).content == f"still about {CANARY}"
    assert store.get_conversation(conv.id).incognito
    assert [c.id for c in store.list_conversations()] == [kept.id]
    assert store.delete_conversation(conv.id) == 1
    with pytest.raises(NotFound):
        store.get_message(m.id)
    with pytest.raises(NotFound):
        store.get_conversation(conv.id)
    with pytest.raises(ValueError):  # the SQLite tier never takes an incognito row
        store.chats.create(conv)
    assert [m.content for m in store.messages(kept.id)] == ["hello"]
