"""memory.curation.edits: merge, tags, expiry, and the review queues (real SQLite files)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory.curation import edits as curation
from memory.store import MemoryStore


@pytest.fixture
def store():
    with MemoryStore(start_redis=False) as s:
        yield s


def test_merge_supersedes_every_source_and_records_merged(store):
    a = store.add_memory("Has a dog", tags=["pets"], source_message_ids=["m1"], confidence=0.4)
    b = store.add_memory(
        "The dog is Rex", tags=["dog"], pinned=True, importance=0.8, source_message_ids=["m2"]
    )
    new = store.curation.merge([a.id, b.id])
    assert new.content == "Has a dog. The dog is Rex."
    assert new.pinned and new.importance == 0.8 and new.confidence == 1.0
    assert set(new.tags) == {"pets", "dog"} and new.source_message_ids == ["m1", "m2"]
    for old in (a, b):
        m = store.get_memory(old.id)
        assert m.superseded_by == new.id and not m.is_live
        h = store.memory_history(old.id)[-1]
        assert (h.action, h.reason) == ("merged", f"merged into {new.id}")
    assert "merged from" in store.memory_history(new.id)[0].reason
    assert [m.id for m in store.list_memories()] == [new.id]
    with pytest.raises(ValueError):
        store.curation.merge([new.id])


def test_tags_expiry_and_parse_when(store):
    m = store.add_memory("x")
    store.curation.set_tags([m.id], curation.parse_tags("#Work, home  home"))
    assert store.get_memory(m.id).tags == ["home", "work"]
    t0 = 1_000_000.0
    assert curation.parse_when("2d", base=t0) == t0 + 2 * 86400
    assert curation.parse_when("90m", base=t0) == t0 + 5400
    assert curation.parse_when("never") is None
    assert curation.parse_when("2030-01-02") > time.time()
    with pytest.raises(ValueError, match="try 7d"):
        curation.parse_when("someday")
    store.curation.set_expiry([m.id], time.time() - 1)
    assert store.count_memories() == 0  # expired: no longer live
    assert store.memory_history(m.id)[-1].action == "expiry set"


def test_pending_queue_accept_retires_what_it_would_supersede(store, monkeypatch):
    old = store.add_memory("Lives in Paris", key="city")
    store.settings.memory.review = True
    pend = store.add_memory(
        "Lives in Berlin",
        key="city",
        actor="worker:extract",
        reason=f"would supersede {old.id}: newer value",
    )
    other = store.add_memory("Maybe likes opera", actor="worker:extract")
    items = store.curation.review_queue("pending")
    assert [i.memory.id for i in items] == [pend.id, other.id]
    assert items[0].other.id == old.id
    store.curation.accept(items[0])
    store.curation.reject(items[1])
    assert store.get_memory(pend.id).status == "active"
    assert store.get_memory(old.id).superseded_by == pend.id
    assert store.get_memory(other.id).status == "deleted"
    assert store.curation.review_queue("pending") == []


def test_duplicates_contradictions_stale_low_confidence(store):
    a = store.add_memory("The user likes green tea")
    b = store.add_memory("the user likes green tea!")
    dup = store.curation.review_queue("duplicates")
    assert len(dup) == 1 and {dup[0].memory.id, dup[0].other.id} == {a.id, b.id}
    store.curation.reject(dup[0])  # not duplicates: leaves the queue, recorded as reviewed
    assert store.curation.review_queue("duplicates") == []
    assert store.memory_history(dup[0].memory.id)[-1].action == "reviewed"

    old = store.add_memory("Works at Acme")
    new = store.supersede_memory(old.id, "Works at Globex")
    con = store.curation.review_queue("contradictions")
    assert [(i.memory.id, i.other.id) for i in con] == [(new.id, old.id)]
    store.curation.reject(con[0])  # the older fact is right
    assert store.get_memory(old.id).is_live and store.get_memory(new.id).status == "deleted"
    assert store.curation.review_queue("contradictions") == []

    stale = store.add_memory("Old habit", created_at=time.time() - 200 * 86400)
    items = store.curation.review_queue("stale")
    assert [i.memory.id for i in items] == [stale.id]
    store.curation.accept(items[0])  # keep it: out of the queue until stale again
    assert store.curation.review_queue("stale") == []

    unsure = store.add_memory("Might have a sister", confidence=0.3)
    items = store.curation.review_queue("low_confidence")
    assert [i.memory.id for i in items] == [unsure.id]
    store.curation.accept(items[0])
    assert store.get_memory(unsure.id).confidence == 1.0
    assert store.curation.review_queue("low_confidence") == []
    assert set(store.curation.review_counts()) == set(curation.QUEUES)


# ------------------------------------------------------------------ near duplicates, fast
_WORDS = ["cat", "miso", "lisbon", "tea", "coffee", "runs", "every", "tuesday", "blue", "car"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_WORDS), min_size=0, max_size=7), min_size=0, max_size=40),
    st.sampled_from([0.5, 0.8, 1.0]),
)
def test_similar_pairs_finds_exactly_what_comparing_each_with_each_finds(texts, threshold):
    from memory.curation.consolidation import overlap, similar_pairs
    from memory.models import Memory

    group = [Memory(content=" ".join(t), section="facts", profile="p") for t in texts]
    brute = [
        (i, j, round(overlap(a.content, b.content), 3))
        for i, a in enumerate(group)
        for j, b in enumerate(group)
        if i < j and overlap(a.content, b.content) >= threshold
    ]
    assert similar_pairs(group, threshold) == brute


def test_near_duplicates_are_found_in_a_section_of_thousands():
    """Every section is compared (there was a cap of 2,000 a section, above which none were
    looked for: comparing each with each took ~25 s at 2,000)."""
    import random
    import time

    from memory.curation.consolidation import duplicate_groups
    from memory.models import Memory

    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(3000)]
    mems = [
        Memory(content=" ".join(rng.sample(vocab, 12)), section="facts", profile="p")
        for _ in range(2500)
    ]
    mems.append(Memory(content=mems[7].content + " again", section="facts", profile="p"))
    t = time.monotonic()
    _, near = duplicate_groups(mems)
    assert time.monotonic() - t < 10
    assert [(a.id, b.id) for a, b, _ in near] == [(mems[7].id, mems[-1].id)]
