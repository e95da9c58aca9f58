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


# First-person facts and prompts in neither bench/personal_train_data.py (training) nor
# bench/offtopic_data.py (the held-out benchmark); checked below.
PERSONAL = [
    "My cat is called Ziggy",
    "I work as a baker in Lyon",
    "My hometown is Valencia",
    "I'm terrified of snakes",
    "I get up at 5 every morning to bake bread",
    "My sister Noor teaches maths",
    "I can't eat eggs",
    "I listen to the radio while cooking",
]
CLOSE_NO_SHARED_WORD = [
    ("Which reptile frightens me?", "I'm terrified of snakes"),
    ("What time do I rise?", "I get up at 5 every morning to bake bread"),
]
GENERIC_SHARING_A_WORD = ("Explain how radio waves travel", "I listen to the radio while cooking")
# General questions on the topic of a stored fact (near misses): version 2's weights, trained
# without such prompts, put the fact at 0.11-0.28 (above the default floor 0.1)
NEAR_MISSES = [
    ("Why do cats knead blankets?", "My cat is called Ziggy"),
    ("What is the history of Lyon?", "I work as a baker in Lyon"),
    ("Who invented radio?", "I listen to the radio while cooking"),
]


@pytest.fixture
def personal_store(model_dir):
    s = MemoryStore(start_redis=False)
    for text in PERSONAL:
        s.add_memory(text)
    conv = s.new_conversation("week")
    for role, text in [
        ("user", "Can you help me plan the week?"),
        ("assistant", "Sure, what do you have on?"),
        ("user", "A delivery on Tuesday and the market on Saturday"),
        ("assistant", "Noted: the delivery on Tuesday, the market on Saturday."),
    ]:
        s.add_message(conv.id, role, text)
    s.index_pending()
    yield s
    s.close()


def _words(text: str) -> set[str]:
    return set(text.lower().replace("?", "").replace("'", " ").split()) - {"i", "m", "me"}


@pytest.mark.parametrize(("prompt", "fact"), CLOSE_NO_SHARED_WORD)
def test_a_first_person_fact_sharing_no_word_with_the_prompt_clears_the_floor(
    personal_store, prompt, fact
):
    """Issue 17: the LoCoMo-only score gave such a fact 0.005-0.015 (it had learned that a
    relevant item repeats the question's words); trained on first-person facts too, it
    clears the default floor and is the prompt's memory."""
    score.reset()
    assert not _words(prompt) & _words(fact)
    hits = personal_store.recall(prompt, token_budget=1000, relevance_floor=-1)
    assert texts(hits)[:1] == [fact]
    assert hits[0].relevance >= personal_store.settings.memory.relevance_floor


def test_a_generic_prompt_sharing_a_word_with_a_fact_injects_nothing(personal_store):
    score.reset()
    prompt, fact = GENERIC_SHARING_A_WORD
    assert fact in texts(personal_store.recall(prompt, token_budget=None))  # search finds it
    assert personal_store.recall(prompt, token_budget=1000, relevance_floor=-1) == []


@pytest.mark.parametrize(("prompt", "fact"), NEAR_MISSES)
def test_a_general_question_on_a_facts_topic_injects_nothing(personal_store, prompt, fact):
    """Issue 17: the off-topic benchmark's generic prompts injected a fact on their topic
    ("Who discovered penicillin?" -> "I'm allergic to penicillin"); trained on near misses
    (bench/personal_train_data.py NEAR_MISS), the score keeps such a fact below the floor."""
    score.reset()
    assert fact in texts(personal_store.recall(prompt, token_budget=None))  # search finds it
    assert personal_store.recall(prompt, token_budget=1000, relevance_floor=-1) == []


def test_the_test_pairs_and_the_training_set_are_apart_from_the_benchmark():
    """The personal training set shares no four-word sequence with the off-topic benchmark,
    and the pairs above are in neither."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import offtopic_data
    import personal_train_data

    assert personal_train_data.check_disjoint() == []
    assert len(personal_train_data.FACTS) >= 150 and len(personal_train_data.GENERIC) >= 150
    assert len(personal_train_data.NEAR_MISS) >= 100
    prompts = personal_train_data.GENERIC + personal_train_data.NEAR_MISS
    assert len(set(prompts)) == len(prompts)
    seen = {
        s.lower()
        for data in (offtopic_data, personal_train_data)
        for pair in data.FACTS
        for s in pair
    } | {s.lower() for s in offtopic_data.GENERIC + prompts}
    ours = [s for pair in CLOSE_NO_SHARED_WORD + NEAR_MISSES for s in pair]
    ours += list(GENERIC_SHARING_A_WORD)
    assert not {s.lower() for s in ours} & seen


def test_version_1_weights_still_load_and_score():
    """A weights file of version 1 (the 21 BASE features, before the per-kind terms) loads and
    scores the features recall computes now."""
    n = len(score.BASE)
    old = score.Model(
        mean=(0.0,) * n, scale=(1.0,) * n, coef=(0.0,) * n, intercept=-1.0, features=score.BASE
    )
    data = old.to_json()
    assert data["version"] == 1 and data["features"] == list(score.BASE)
    m = score.parse(data)
    assert m.features == score.BASE
    x = {name: 1.0 for name in score.BASE + score.KIND + score.QUERY}
    assert m.probability(x) == pytest.approx(1 / (1 + 2.718281828459045))
    data["features"] = list(score.FEATURES)  # a version 1 file over the new list: refused
    with pytest.raises(ValueError):
        score.parse(data)


def test_probabilities_of_many_candidates_equal_one_at_a_time(personal_store):
    """Recall scores a query's candidates in one vectorised call (Model.probabilities); it
    must give exactly the floats Model.probability gives one candidate at a time, for the
    shipped weights, for a version 1 model, on real candidates and on odd inputs (missing
    features, values far outside the clip)."""
    import random

    from memory.recall.hybrid import candidate_features

    score.reset()
    shipped = score.model()
    assert shipped is not None
    rng = random.Random(17)
    n = len(score.BASE)
    v1 = score.Model(
        mean=tuple(rng.uniform(-1, 1) for _ in range(n)),
        scale=tuple(rng.uniform(0.1, 2) for _ in range(n)),
        coef=tuple(rng.uniform(-3, 3) for _ in range(n)),
        intercept=-2.0,
        features=score.BASE,
    )
    real = [
        x
        for q in ("Which reptile frightens me?", "Explain how radio waves travel", "week plan")
        for _kind, _id, _fused, x in candidate_features(personal_store, q)
    ]
    assert len(real) > 5 and {x["is_message"] for x in real} == {0.0, 1.0}
    odd = [
        {
            k: rng.choice((0.0, 1.0, rng.uniform(-50, 50)))
            for k in score.INPUTS
            if rng.random() < 0.8
        }
        for _ in range(200)
    ]
    for m in (shipped, v1):
        for xs in (real, odd):
            assert m.probabilities(xs) == [m.probability(x) for x in xs]
    assert shipped.probabilities([]) == []


def test_a_lexical_candidate_outside_the_vector_results_gets_its_exact_similarity(store):
    """A candidate found by words only (its similarity below what the vector search keeps)
    gets its exact cosine to the query as a feature, looked up beside the rows: "no
    similarity" must not read as "dissimilar"."""
    from memory.recall.hybrid import candidate_features
    from memory.vectors.indexer import chroma_id

    q = "Summarise the causes of the Thirty Years War and what it called for"
    cands = candidate_features(store, q)
    lexical_only = [(i, x) for kind, i, _f, x in cands if x["vec_rr"] == 0.0 and kind == "memory"]
    assert len(lexical_only) >= 1
    qv = store.vectors.embed_query(store.profile, q)
    stored = store.vectors.vectors(store.profile, [chroma_id("memory", i) for i, _ in lexical_only])
    for i, x in lexical_only:
        assert x["vec_sim"] == pytest.approx(max(0.0, float(stored[chroma_id("memory", i)] @ qv)))
    assert any(x["vec_sim"] > 0 for _, x in lexical_only)
