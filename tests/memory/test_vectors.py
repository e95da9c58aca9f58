"""VectorIndex: real embedded Chroma in tmp dirs, real all-MiniLM-L6-v2 embeddings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from memory.vectors.index import VectorIndex, clean_metadata, collection_name

ROOT = Path(__file__).resolve().parents[2]


FACTS = [
    ("m1", "My cat is called Ziggy", {"section": "facts", "tags": ["pet", "cat"], "x": None}),
    ("m2", "The stock market fell today", {"section": "events", "importance": 0.4}),
    ("m3", "I prefer dark roast coffee without sugar", {"section": "preferences", "pinned": True}),
    ("m4", "My sister lives in Lisbon", {}),
]


@pytest.fixture
def index(tmp_path, embedder) -> VectorIndex:
    return VectorIndex(path=tmp_path / "chroma", embedder=embedder)


def test_round_trip(index):
    assert index.upsert("default", FACTS) == 4
    assert index.count("default") == 4
    assert index.ids("default") == {"m1", "m2", "m3", "m4"}

    hits = index.query("default", "what's the name of my pet?", k=3)
    assert [h[0] for h in hits][0] == "m1"
    assert len(hits) == 3
    sims = [s for _, s in hits]
    assert sims == sorted(sims, reverse=True)
    assert all(-1.0 <= s <= 1.0001 for s in sims)

    index.delete("default", ["m1", "does-not-exist"])
    assert index.count("default") == 3
    assert "m1" not in {i for i, _ in index.query("default", "what's the name of my pet?", k=10)}


def test_similarity_matches_embedding_cosine(index, embedder):
    index.upsert("default", FACTS)
    q = embedder.embed_one("coffee preferences")
    hits = dict(index.query_vector("default", q, k=4))
    expected = float(q @ embedder.embed_one(FACTS[2][1]))
    assert hits["m3"] == pytest.approx(expected, abs=1e-4)


def test_profiles_are_isolated(index):
    index.upsert("alice", [("same", "My cat is called Ziggy", {})])
    index.upsert("bob", [("same", "The stock market fell today", {}), ("b2", "Bonds rallied", {})])
    assert index.count("alice") == 1
    assert index.count("bob") == 2
    assert index.ids("alice") == {"same"}
    [(hit_id, sim)] = index.query("alice", "stock market", k=5)
    assert hit_id == "same" and sim < 0.5  # alice's "same" is the cat sentence
    bob_hits = index.query("bob", "stock market", k=5)
    assert bob_hits[0][0] == "same" and bob_hits[0][1] > sim + 0.3
    index.delete("alice", ["same"])
    assert index.count("bob") == 2


def test_upsert_same_id_keeps_one(index):
    index.upsert("default", [("m1", "My cat is called Ziggy", {"v": 1})])
    index.upsert("default", [("m1", "I drive a red bicycle to work", {"v": 2})])
    index.upsert("default", [("m2", "first", {}), ("m2", "Lisbon is sunny", {})])  # last wins
    assert index.count("default") == 2
    [(hit_id, sim)] = index.query("default", "bicycle commute", k=1)
    assert hit_id == "m1" and sim > 0.4
    assert index.query("default", "weather in Lisbon", k=1)[0][0] == "m2"


def test_empty_and_missing_profiles(index, embedder):
    assert index.query("nobody", "anything", k=5) == []
    assert index.query_vector("nobody", embedder.embed_one("x"), k=5) == []
    assert index.count("nobody") == 0
    assert index.ids("nobody") == set()
    index.delete("nobody", ["a"])  # no error
    assert index.model_mismatch("nobody") is False
    index.upsert("p", [("a", "hello", {})])
    index.delete("p", ["a"])
    assert index.query("p", "hello", k=3) == []
    assert index.query("p", "hello", k=0) == []


def test_reset_and_stale_handles(tmp_path, index, embedder):
    index.upsert("default", FACTS)
    index.reset("default")
    assert index.count("default") == 0
    assert index.query("default", "cat", k=3) == []
    index.reset("default")  # missing collection: no error
    index.upsert("default", FACTS[:1])
    assert index.count("default") == 1

    # Another index on the same path drops the collection under our cached handle.
    other = VectorIndex(path=tmp_path / "chroma", embedder=embedder)
    other.reset("default")
    assert index.count("default") == 0
    index.upsert("default", FACTS[:2])
    assert other.count("default") == 2


def test_model_mismatch(tmp_path, index, embedder):
    index.upsert("default", FACTS[:1])
    assert index.model_mismatch("default") is False

    class OtherModel:
        name = "some-other-model"
        dim = 384

    other = VectorIndex(path=tmp_path / "chroma", embedder=OtherModel())  # type: ignore[arg-type]
    assert other.model_mismatch("default") is True
    assert other.model_mismatch("fresh") is False


def test_persistence_across_processes(tmp_path, index, embedder, model_dir):
    index.upsert("default", FACTS)
    q = embedder.embed_one("what's the name of my pet?")
    np.save(tmp_path / "q.npy", q)
    # A fresh process (chromadb caches clients per path in-process) sees the stored vectors.
    script = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from memory.vectors.embedder import Embedder
        from memory.vectors.index import VectorIndex
        idx = VectorIndex(path=Path({str(tmp_path / "chroma")!r}), embedder=Embedder({str(model_dir)!r}))
        hits = idx.query_vector("default", np.load({str(tmp_path / "q.npy")!r}), 2)
        print(idx.count("default"), sorted(idx.ids("default")), hits[0][0])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "4 ['m1', 'm2', 'm3', 'm4'] m1"


def test_large_upsert_chunks_and_ids_paging(index, monkeypatch):
    import memory.vectors.index as mod

    monkeypatch.setattr(mod, "UPSERT_CHUNK", 7)
    monkeypatch.setattr(mod, "_PAGE", 4)
    items = [(f"id{i}", f"note {i}", {"n": i}) for i in range(30)]
    assert index.upsert("default", items) == 30
    assert index.count("default") == 30
    assert index.ids("default") == {f"id{i}" for i in range(30)}
    index.delete("default", [f"id{i}" for i in range(0, 30, 2)])
    assert index.ids("default") == {f"id{i}" for i in range(1, 30, 2)}


def test_embed_items_then_upsert_vectors_equals_upsert(index, embedder):
    items = [
        ("a", "My cat is called Ziggy", {"n": 1}),
        ("b", "first", {}),
        ("b", "Bonds rallied", {}),
    ]
    ids, vectors, metas = index.embed_items(items)
    assert ids == ["a", "b"] and metas == [{"n": 1}, {}]  # duplicate ids: the last wins
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors[1], embedder.embed_one("Bonds rallied"), atol=1e-5)
    assert index.count("default") == 0  # embedding alone writes nothing
    index.upsert_vectors("default", ids, vectors, metas)
    assert index.query("default", "what is my cat's name", k=1)[0][0] == "a"
    none_ids, none_vectors, none_metas = index.embed_items([])
    assert none_ids == [] and none_metas == [] and none_vectors.shape == (0, 384)


def test_collection_name_rules():
    import re

    ok = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]$")
    assert collection_name("default") == "memchat-default"
    for profile in ["", "a", "work stuff", "ünïcode", "x" * 600, "a..b", "end-", ".", "1.2.3.4"]:
        name = collection_name(profile)
        assert 3 <= len(name) <= 63 and ok.match(name) and ".." not in name, (profile, name)
    assert collection_name("a b") != collection_name("a_b")
    assert collection_name("x" * 600) != collection_name("x" * 599)


def test_clean_metadata():
    assert clean_metadata({"a": None, "b": ["x", "y"], "c": 1, "d": True, "e": 0.5, "f": "s"}) == {
        "b": "x,y",
        "c": 1,
        "d": True,
        "e": 0.5,
        "f": "s",
    }
    assert clean_metadata({}) is None
    assert clean_metadata({"a": None}) is None


def test_url_parsing():
    from memory.vectors.index import _parse_url

    assert _parse_url("http://chroma.local:9000") == {
        "host": "chroma.local",
        "port": 9000,
        "ssl": False,
    }
    assert _parse_url("https://chroma.example.com") == {
        "host": "chroma.example.com",
        "port": 443,
        "ssl": True,
    }
    assert _parse_url("localhost:8000") == {"host": "localhost", "port": 8000, "ssl": False}


def _random_vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_a_write_from_another_process_is_not_lost_by_a_stale_copy(
    tmp_path, index, embedder, model_dir
):
    """Each process keeps its own copy of the HNSW index: after another process wrote, this
    one must reopen the index before writing or reading, else it overwrites the other's
    vectors with its stale copy (the write generation in the lock file tells it). 1,200 a
    step: past Chroma's persist threshold (1,000), where the stale copy lost half of them."""
    n = 1200
    index.upsert_vectors("default", [f"a{i}" for i in range(n)], _random_vectors(n, 1))
    # another store of this process on the same path shares chromadb's in-memory copy
    bystander = VectorIndex(path=tmp_path / "chroma", embedder=embedder)
    assert bystander.count("default") == n
    theirs = _random_vectors(n, 2)
    np.save(tmp_path / "theirs.npy", theirs)
    script = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from memory.vectors.embedder import Embedder
        from memory.vectors.index import VectorIndex
        idx = VectorIndex(path=Path({str(tmp_path / "chroma")!r}), embedder=Embedder({str(model_dir)!r}))
        idx.upsert_vectors("default", [f"b{{i}}" for i in range({n})], np.load({str(tmp_path / "theirs.npy")!r}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    index.upsert_vectors("default", [f"c{i}" for i in range(n)], _random_vectors(n, 3))
    assert index.count("default") == 3 * n
    sample = range(0, n, 40)  # the other process's vectors are searchable here
    assert [index.query_vector("default", theirs[i], 1)[0][0] for i in sample] == [
        f"b{i}" for i in sample
    ]
    assert bystander.query_vector("default", theirs[0], 1)[0][0] == "b0"
    index.close()
    script = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from memory.vectors.embedder import Embedder
        from memory.vectors.index import VectorIndex
        idx = VectorIndex(path=Path({str(tmp_path / "chroma")!r}), embedder=Embedder({str(model_dir)!r}))
        theirs = np.load({str(tmp_path / "theirs.npy")!r})
        print(idx.count("default"), sum(idx.query_vector("default", theirs[i], 1)[0][0] == f"b{{i}}" for i in range(0, {n}, 40)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{3 * n} {len(range(0, n, 40))}"


def test_drop_collections_removes_their_folders(tmp_path, index):
    """Chroma 1.x deletes a collection but leaves its segment folder on disk."""
    index.upsert_vectors("default", [f"a{i}" for i in range(50)], _random_vectors(50, 1))
    index.upsert_vectors("other", [f"a{i}" for i in range(50)], _random_vectors(50, 2))
    folders = lambda: sorted(p.name for p in (tmp_path / "chroma").iterdir() if p.is_dir())  # noqa: E731
    assert len(folders()) == 2
    keep = set(folders())
    assert index.drop_collections([collection_name("default")]) == 1
    assert len(folders()) == 1 and set(folders()) < keep
    assert index.count("default") == 0 and index.count("other") == 50
