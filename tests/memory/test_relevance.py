"""The learned relevance score (memory/recall/score.py) and the relevance floor."""

from __future__ import annotations

import json

import pytest

from memory.recall import score
from memory.store import MemoryStore

FACTS = [
    "My cat is called Ziggy",
    "My colleague is called Bruno and he sits next to me",
    "I work as a baker in Lyon",
]


@pytest.fixture
def store(model_dir):
    s = MemoryStore(start_redis=False)
    for text in FACTS:
        s.add_memory(text)
    s.index_pending()
    yield s
    s.close()


@pytest.fixture
def weights_at(monkeypatch):
    """Point the score at another weights file (and reload it) for one test."""

    def point(path):
        monkeypatch.setattr(score, "WEIGHTS_PATH", path)
        score.reset()

    yield point
    score.reset()


def texts(hits):
    return [h.text for h in hits]


def test_shipped_weights_load_and_give_probabilities(store):
    score.reset()
    m = score.model()
    assert m is not None, "memory/recall/relevance_weights.json is missing or unusable"
    hits = store.recall("what is my cat called?", token_budget=None)
    assert hits and all(h.relevance is not None and 0.0 < h.relevance < 1.0 for h in hits)


def test_floor_drops_an_irrelevant_hit_and_keeps_the_relevant_one(store):
    score.reset()
    q = "what is my cat called?"
    everything = store.recall(q, token_budget=None)  # no floor: search sees every hit
    assert "My colleague is called Bruno and he sits next to me" in texts(everything)
    floored = store.recall(q, token_budget=None, relevance_floor=-1)
    assert texts(floored) == ["My cat is called Ziggy"]
    considered = store.recall_considered(q, token_budget=None)
    assert texts(considered.used) == ["My cat is called Ziggy"]
    assert considered.floor == store.settings.memory.relevance_floor
    left = {h.text: h.relevance for h in considered.below_floor}
    assert "My colleague is called Bruno and he sits next to me" in left
    assert all(p is not None and p < considered.floor for p in left.values())


def test_nothing_relevant_recalls_nothing_above_the_floor(store):
    score.reset()
    q = "What is the capital of France called?"
    assert len(store.recall(q, token_budget=None)) == 3  # "called" matches: the fusion takes all
    assert store.recall(q, token_budget=None, relevance_floor=-1) == []


@pytest.mark.parametrize(
    "content",
    [
        None,  # missing
        "{not json",
        json.dumps({"version": 1, "features": ["lex_score"], "mean": [0], "scale": [1]}),
        json.dumps({"version": 99}),
    ],
)
def test_missing_or_corrupt_weights_fall_back_to_the_fusion(store, weights_at, tmp_path, content):
    path = tmp_path / "weights.json"
    if content is not None:
        path.write_text(content)
    weights_at(path)
    assert score.model() is None
    hits = store.recall("what is my cat called?", token_budget=None, relevance_floor=0.99)
    assert hits and hits[0].text == "My cat is called Ziggy"
    # no probability, so no floor: the hand-set fusion's order, as before the learned score
    assert all(h.relevance is None for h in hits)
    assert "My colleague is called Bruno and he sits next to me" in texts(hits)


def test_parse_rejects_non_finite_and_accepts_its_own_output():
    m = score.Model(
        mean=(0.0,) * len(score.FEATURES),
        scale=(1.0,) * len(score.FEATURES),
        coef=(0.0,) * len(score.FEATURES),
        intercept=0.0,
    )
    assert score.parse(m.to_json()) == m
    assert m.probability({}) == pytest.approx(0.5)
    bad = m.to_json()
    bad["coef"] = [float("nan")] * len(score.FEATURES)
    with pytest.raises(ValueError):
        score.parse(bad)


def test_lexical_only_recall_uses_the_fusion_and_no_floor(monkeypatch, tmp_path):
    """Without the vector side the learned score would see no similarity anywhere and drop
    every hit: recall falls back to the fusion instead."""
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "missing"))
    score.reset()
    with MemoryStore(start_redis=False) as s:
        assert s.vectors is None
        s.add_memory("My cat is called Ziggy")
        hits = s.recall("what is my cat called?", token_budget=None, relevance_floor=-1)
        assert [(h.text, h.relevance) for h in hits] == [("My cat is called Ziggy", None)]
