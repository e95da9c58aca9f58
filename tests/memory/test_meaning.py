"""The review queue sees meaning: near-duplicates by the vectors in the index, conflicts by the
same key or subject with another value (memory.curation.meaning), real SQLite + Chroma +
the offline MiniLM model."""

from __future__ import annotations

import pytest

from memory.curation.meaning import claim
from memory.store import MemoryStore


@pytest.fixture
def store(model_dir):
    with MemoryStore(start_redis=False) as s:
        yield s


def add(store, text, **kw):
    m = store.add_memory(text, actor="cli", **kw)
    store.index_pending()
    return m


def pairs(items):
    return {(i.memory.id, i.other.id) for i in items}


def test_near_duplicate_by_meaning_is_proposed_and_accepting_merges_with_history(store):
    a = add(store, "peanut allergy")
    b = add(store, "allergic to peanuts")
    # related but not the same fact (0.89 similar: a different relation of the same subject)
    add(store, "The user lives in Lisbon")
    add(store, "The user works in Lisbon")
    add(store, "Prefers dark mode")

    dup = store.curation.review_queue("duplicates")
    assert [({i.memory.id, i.other.id}, i.detail) for i in dup] == [
        ({a.id, b.id}, dup[0].detail)
    ], [(i.memory.content, i.other.content, i.detail) for i in dup]
    assert dup[0].detail.endswith("similar in meaning") and int(dup[0].detail[:2]) >= 72
    assert store.curation.review_queue("conflicts") == []

    merged = store.curation.accept(dup[0])
    for old in (a, b):
        m = store.get_memory(old.id)
        assert m.superseded_by == merged.id and not m.is_live
        assert store.memory_history(old.id)[-1].action == "merged"
    assert store.curation.review_queue("duplicates") == []


def test_conflict_by_subject_is_proposed_and_accepting_supersedes_with_history(store):
    old = add(store, "Ana lives in Lisbon")
    new = add(store, "Ana lives in Porto now")
    add(store, "Ana's birthday is in May")

    assert store.curation.review_queue("duplicates") == []  # 0.83 similar, but a conflict
    conflicts = store.curation.review_queue("conflicts")
    assert pairs(conflicts) == {(new.id, old.id)}
    assert "ana lives in" in conflicts[0].detail

    store.curation.accept(conflicts[0])
    kept = store.get_memory(old.id)
    assert kept.superseded_by == new.id and kept.valid_to is not None and not kept.is_live
    assert kept.status == "active"  # kept in history, not deleted
    h = [x for x in store.memory_history(old.id) if x.action == "superseded"]
    assert h and h[-1].reason.startswith(f"superseded by {new.id}")
    assert h[-1].after["superseded_by"] == new.id and not h[-1].before["superseded_by"]
    assert store.curation.review_queue("conflicts") == []
    assert store.curation.review_queue("contradictions") == []  # already decided: not asked again
    assert [h.id for h in store.recall("where does Ana live?") if h.kind == "memory"][:1] == [
        new.id
    ]


def test_conflict_by_key_and_rejecting_keeps_both(store):
    a = add(store, "Editor: vim", key="editor")
    b = add(store, "Editor: VS Code", key="editor")
    conflicts = store.curation.review_queue("conflicts")
    assert pairs(conflicts) == {(b.id, a.id)} and "same key 'editor'" in conflicts[0].detail
    store.curation.reject(conflicts[0])  # both are true
    assert store.curation.review_queue("conflicts") == []
    assert store.get_memory(a.id).is_live and store.get_memory(b.id).is_live


def test_near_duplicates_of_a_new_memory_name_the_existing_one(store):
    old = add(store, "My cat is called Ziggy")
    add(store, "I'm allergic to shellfish")
    add(store, "My dog is called Rex")
    new = add(store, "The user's cat is named Ziggy")
    found = store.curation.near_duplicates(new.id)
    assert [(i.memory.id, i.other.id) for i in found] == [(new.id, old.id)]
    assert found[0].detail.endswith("similar in meaning")
    other = add(store, "Ana lives in Porto now")
    add(store, "Ana lives in Lisbon")
    assert store.curation.near_duplicates(other.id) == []  # a conflict is not a duplicate


def test_claims():
    assert claim("Ana lives in Porto now") == claim("ana lives in Porto.").__class__(
        "ana", "lives in", "porto"
    )
    assert claim("I live in Berlin").subject == claim("The user lives in Munich").subject == "user"
    assert claim("The user's editor is vim").subject == "user editor"
    assert claim("The user is vegetarian") is None  # "is" only after a possessive
    assert claim("peanut allergy") is None


def test_parse_duration():
    from memory.facades import Curation

    assert Curation.parse_duration("30m") == 1800
    assert Curation.parse_duration("2h") == Curation.parse_duration("2 hours") == 7200
    assert Curation.parse_duration("3d") == 3 * 86400
    for bad in ("0h", "soon", "2025-12-31", "-2h", ""):
        with pytest.raises(ValueError, match="as a duration: use 30m, 2h or 3d"):
            Curation.parse_duration(bad)
