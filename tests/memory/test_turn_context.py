"""Each chat turn is searchable with the two turns before it (messages_ctx_fts, migration 8).

An answer is found by the words of the question it answers; text that is deleted or edited
away leaves its neighbours' context as well, so a removed secret cannot be found through them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from memory.config import load_settings
from memory.sqlite import migrations
from memory.store import MemoryStore


@pytest.fixture
def store(home):
    with MemoryStore(load_settings(), start_redis=False) as s:
        yield s


def found(s: MemoryStore, query: str) -> list[str]:
    return [m.id for m, _ in s.chats.search_in_context(s.profile, query)]


def chat(s: MemoryStore, *turns: str) -> list:
    c = s.new_conversation()
    return [
        s.add_message(c.id, "user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)
    ]


def test_a_turn_is_found_by_the_words_of_the_two_turns_before_it(store):
    mention, ask, answer, later = chat(
        store,
        "We're off to Universal Studios next month",
        "Fun! What are you looking forward to most?",
        "Honestly the Harry Potter stuff",
        "And the food, I suppose",
    )
    plain = [m.id for m, _ in store.search_messages("Universal Studios")]
    assert plain == [mention.id]
    assert found(store, "Universal Studios") == [mention.id, ask.id, answer.id]  # not `later`
    assert found(store, "Harry Potter")[0] == answer.id  # its own words count most


def test_deleted_and_edited_text_leaves_the_neighbours_context(store):
    secret, reply, follow = chat(store, "my locker code is zanzibar", "Noted.", "Thanks")
    assert set(found(store, "zanzibar")) == {secret.id, reply.id, follow.id}

    store.update_message(secret.id, content="my locker code is [removed]")
    assert found(store, "zanzibar") == []
    assert set(found(store, "locker")) == {secret.id, reply.id, follow.id}

    store.checkpoint_message(reply.id, "Noted, lighthouse.")  # a streaming reply's checkpoint
    assert set(found(store, "lighthouse")) == {reply.id, follow.id}

    store.delete_messages([secret.id])
    assert found(store, "locker") == []
    assert set(found(store, "lighthouse")) == {reply.id, follow.id}

    other = chat(store, "zebra crossing", "ok")
    store.delete_conversation(other[0].conversation_id)
    rows = store.db.scalar("SELECT COUNT(*) FROM messages_ctx_fts")
    assert rows == store.chats.count_messages(store.profile) == 2


def test_a_turn_inserted_out_of_order_refreshes_the_turns_after_it(store):
    first, last = chat(store, "hello", "goodbye")
    store.add_message(
        first.conversation_id, "user", "the mango tree", created_at=first.created_at + 0.0001
    )
    assert last.id in found(store, "mango")


def test_an_older_database_gets_its_turns_indexed_in_context(home: Path):
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / "memchat.db", isolation_level=None)
    migrations.migrate(conn, upto=7)
    conn.execute(
        "INSERT INTO conversations (id, profile, created_at, updated_at) VALUES ('c', 'default', 1, 1)"
    )
    for i, (role, text) in enumerate(
        [("user", "the fjord trip"), ("assistant", "How was it?"), ("user", "cold")]
    ):
        conn.execute(
            "INSERT INTO messages (id, conversation_id, profile, role, content, created_at) "
            "VALUES (?, 'c', 'default', ?, ?, ?)",
            (f"m{i}", role, text, 10 + i),
        )
    conn.close()
    from memory.sqlite import db as dbmod

    dbmod._migrated.clear()
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert found(s, "fjord") == ["m0", "m1", "m2"]


def test_recall_brings_back_an_answer_by_its_question_words(monkeypatch, home, tmp_path):
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "missing"))  # lexical only
    with MemoryStore(load_settings(), start_redis=False) as s:
        _, _, answer, _ = chat(
            s,
            "We're off to Universal Studios next month",
            "Fun! What are you looking forward to most?",
            "Honestly the Harry Potter stuff",
            "And the food, I suppose",
        )
        hits = s.recall("what am I excited about at universal studios", token_budget=None)
        hit = next(h for h in hits if answer.id in h.provenance.message_ids)
        assert "Harry Potter" in hit.text
        assert hit.scores["context"] > 0 and hit.scores["lexical"] == 0


def test_a_fact_and_a_chat_turn_that_match_alike_score_alike(monkeypatch, home, tmp_path):
    """Turns are in two lexical lists (alone and in context), memories in one: a memory's
    lexical rank counts for both, or every extracted fact would rank below chat turns."""
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "missing"))
    with MemoryStore(load_settings(), start_redis=False) as s:
        fact = s.add_memory("The staging deploy key is ZX-4471-Q")
        [turn] = chat(s, "the staging deploy key is ZX-4471-Q")
        hits = {h.id: h.score for h in s.recall("staging deploy key", token_budget=None)}
        assert hits[fact.id] == pytest.approx(hits[turn.id], rel=0.05)


def test_rebuild_repairs_the_full_text_indexes(store):
    ask, answer = chat(store, "Any plans for the fjord trip?", "Kayaking, mostly")
    with store.db.tx() as c:  # an index out of step with its rows: emptied, and a stray row
        c.execute("INSERT INTO messages_fts(messages_fts) VALUES ('delete-all')")
        c.execute("DELETE FROM messages_ctx_fts")
        c.execute("INSERT INTO messages_ctx_fts(rowid, before, content) VALUES (999, '', 'ghost')")
    assert store.search_messages("kayaking") == [] and found(store, "fjord") == []

    store.rebuild_text_index()
    assert [m.id for m, _ in store.search_messages("kayaking")] == [answer.id]
    assert found(store, "fjord") == [ask.id, answer.id] and found(store, "ghost") == []
