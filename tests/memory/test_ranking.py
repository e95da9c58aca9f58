"""memory.recall.ranking: the pure pieces of hybrid recall."""

from __future__ import annotations

import pytest

from memory.recall import ranking


def test_rrf_rewards_agreement_and_weights():
    fused = ranking.rrf([(["a", "b", "c"], 1.0), (["b", "d"], 1.0)])
    assert max(fused, key=fused.get) == "b"  # in both lists beats first in one
    assert fused["a"] == pytest.approx(1 / 61)
    assert ranking.rrf([(["a"], 0.5)])["a"] == pytest.approx(0.5 / 61)
    assert ranking.rrf([]) == {}


def test_recency_halves_each_half_life():
    now = 1_000_000_000.0
    assert ranking.recency(now, now) == 1.0
    assert ranking.recency(now - 30 * 86400, now) == pytest.approx(0.5)
    assert ranking.recency(now + 100, now) == 1.0  # the future counts as now
    assert ranking.recency(now - 3650 * 86400, now) < 1e-30


def test_boost_is_neutral_by_default_and_orders_signals():
    assert ranking.boost() == 1.0
    assert (
        ranking.boost(pinned=True)
        > ranking.boost(importance=0.9)
        > ranking.boost()
        > ranking.boost(importance=0.1)
    )
    assert ranking.boost(access=ranking.access_score(10)) > ranking.boost(
        access=ranking.access_score(1)
    )
    assert ranking.access_score(-3) == 0.0


def test_collapse_keeps_best_of_near_duplicates():
    items = [
        "My cat is called Ziggy",
        "my cat is called ziggy!",
        "I like jazz",
        "My cat is named Ziggy",
    ]
    kept = list(ranking.collapse_duplicates(items, str))
    assert kept == ["My cat is called Ziggy", "I like jazz", "My cat is named Ziggy"]
    assert ranking.jaccard(frozenset(), frozenset()) == 1.0


def test_estimate_tokens():
    assert ranking.estimate_tokens("") == 1
    assert ranking.estimate_tokens("x" * 400) == 100


def test_pack_respects_budget_limit_and_skips_what_does_not_fit():
    items = [("a", 50), ("b", 60), ("c", 30), ("d", 20)]
    cost = lambda t: t[1]  # noqa: E731
    assert ranking.pack(items, 100, cost) == [("a", 50), ("c", 30), ("d", 20)]
    assert ranking.pack(items, None, cost) == items
    assert ranking.pack(items, None, cost, limit=2) == items[:2]
    assert ranking.pack(items, 10, cost) == []
