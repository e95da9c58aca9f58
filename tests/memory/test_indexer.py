"""memory.indexer: the outbox replay and reindex, against real SQLite + Chroma in temp dirs."""

from __future__ import annotations

import shutil

import pytest

from memory.config import load_settings
from memory.store import MemoryStore
from memory.vectors import VectorIndex, collection_name

PARAPHRASE = ("My daughter starts kindergarten in September", "when does the kid begin school?")


@pytest.fixture
def store(model_dir):
    s = MemoryStore(start_redis=False)
    yield s
    s.close()


def outbox_rows(store) -> list[dict]:
    return store.db.query("SELECT * FROM index_outbox ORDER BY id")


def test_replay_collapses_ops_and_empties_the_outbox(store):
    m = store.add_memory("The car needs new tyres before winter")
    store.update_memory(m.id, content="The car needs new winter tyres")
    gone = store.add_memory("A memory that is deleted before indexing")
    store.delete_memory(gone.id)
    c = store.new_conversation()
    msg = store.add_message(c.id, "user", "Let's plan the garden")
    store.add_message(c.id, "system", "ignored")
    assert len(outbox_rows(store)) == 5
    assert store.index_pending() == 5
    assert outbox_rows(store) == []
    assert store.vectors.ids(store.profile) == {f"mem:{m.id}", f"msg:{msg.id}"}


def test_outbox_repairs_a_crash_between_sqlite_and_chroma(store, monkeypatch):
    def boom(self, profile, items):
        raise RuntimeError("chroma went away")

    monkeypatch.setattr(VectorIndex, "upsert", boom)
    m = store.add_memory(PARAPHRASE[0])
    assert store.index_pending() == 0
    [row] = outbox_rows(store)
    assert row["attempts"] == 1 and "chroma went away" in row["last_error"]
    # lexical recall still works meanwhile
    assert [h.id for h in store.recall("kindergarten", token_budget=None)] == [m.id]
    monkeypatch.undo()
    assert store.index_pending() == 1
    assert outbox_rows(store) == []
    assert store.recall(PARAPHRASE[1], limit=1, token_budget=None)[0].id == m.id


def test_writes_without_a_vector_tier_are_indexed_later(monkeypatch, model_dir, tmp_path):
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "no-model-here"))
    with MemoryStore(start_redis=False) as s:
        assert s.vectors is None
        m = s.add_memory(PARAPHRASE[0])
        assert s.index_pending() == 0
        assert len(outbox_rows(s)) == 1
        assert s.recall("kindergarten", token_budget=None)[0].id == m.id  # lexical only
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(model_dir))
    with MemoryStore(start_redis=False) as s:
        assert s.recall(PARAPHRASE[1], limit=1, token_budget=None)[0].id == m.id
        assert outbox_rows(s) == []


def test_reindex_rebuilds_after_the_chroma_dir_is_lost(model_dir):
    with MemoryStore(start_redis=False) as s:
        m = s.add_memory(PARAPHRASE[0])
        for text in ("I like jazz", "The car needs new tyres", "Dentist on Friday at 3"):
            s.add_memory(text)
        c = s.new_conversation()
        s.add_message(c.id, "user", "hello there")
        s.index_pending()
        assert s.vectors.count(s.profile) == 5
    shutil.rmtree(load_settings().chroma_path)
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # what a new process would see
    with MemoryStore(start_redis=False) as s:
        assert s.vectors.count(s.profile) == 0
        calls = []
        assert s.reindex(progress=lambda done, total: calls.append((done, total))) == 5
        assert calls[0] == (0, 5) and calls[-1] == (5, 5)
        assert s.vectors.count(s.profile) == 5
        assert s.recall(PARAPHRASE[1], limit=1, token_budget=None)[0].id == m.id


def test_another_embedding_model_triggers_a_reembed(store):
    store.add_memory("I like jazz")
    vec = store.vectors
    old = vec.client.create_collection(
        collection_name(store.profile),
        embedding_function=None,
        metadata={"hnsw:space": "cosine", "embedding_model": "old-model", "dim": 8},
    )
    old.add(ids=["mem:stale"], embeddings=[[0.1] * 8])
    assert vec.model_mismatch(store.profile)
    m = store.add_memory(PARAPHRASE[0])
    store.index_pending()  # sees the mismatch and rebuilds the profile instead of crashing
    assert not vec.model_mismatch(store.profile)
    assert vec.count(store.profile) == 2 and "mem:stale" not in vec.ids(store.profile)
    assert store.recall(PARAPHRASE[1], limit=1, token_budget=None)[0].id == m.id
