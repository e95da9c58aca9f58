"""Consolidation rules and their history, on a real SQLite store."""

from __future__ import annotations

import pytest

from memory.curation import consolidation as C
from memory.models import Memory


@pytest.fixture
def sqlite_store():
    from memory.config import load_settings
    from memory.store import MemoryStore

    s = MemoryStore(load_settings(), start_redis=False)
    yield s
    s.close()


def _cand(content, **kw):
    return Memory(content, source_conversation_id="c1", source_message_ids=["m2"], **kw)


def test_rules(sqlite_store):
    s = sqlite_store
    old = s.add_memory("The user lives in Lisbon.", key="home_city", source_message_ids=["m1"])
    near = [old]
    assert C.decide(C.Proposal(_cand("the user lives in lisbon")), near).action == "noop"
    d = C.decide(C.Proposal(_cand("The user lives in Porto.", key="home_city")), near)
    assert (d.action, d.target.id) == ("supersede", old.id)
    assert C.decide(C.Proposal(_cand("The user has a cat.")), near).action == "add"
    d = C.decide(C.Proposal(_cand("The user lives in Lisbon, Portugal.")), near)
    assert d.action == "update"
    # an extractor proposal with a valid target wins; an invalid target is ignored
    d = C.decide(C.Proposal(_cand("The user relocated to Porto."), "supersede", old.id[:8]), near)
    assert (d.action, d.target.id) == ("supersede", old.id)
    assert (
        C.decide(C.Proposal(_cand("The user has a dog."), "supersede", "ffffffff"), near).action
        == "add"
    )


def test_apply_writes_history_and_mark_atomically(sqlite_store):
    s = sqlite_store
    old = s.add_memory("The user lives in Lisbon.", key="home_city", source_message_ids=["m1"])
    decisions = [
        C.decide(C.Proposal(_cand("The user lives in Porto.", key="home_city")), [old]),
        C.decide(C.Proposal(_cand("The user has a cat.")), [old]),
    ]
    s.consolidation.apply(decisions, mark=("extracted:c1", "m2"))
    assert s.get_mark("extracted:c1") == "m2"
    retired = s.get_memory(old.id)
    assert retired.superseded_by == decisions[0].result.id and retired.valid_to
    h = s.memory_history(old.id)[-1]
    assert h.action == "superseded" and h.actor == "worker:extract" and "m2" in h.reason

    # a failure midway writes nothing, mark included
    bad = [
        C.decide(C.Proposal(_cand("The user likes tea.")), []),
        C.Decision("add", _cand("broken", section="no-such-section")),
    ]
    with pytest.raises(ValueError):
        s.consolidation.apply(bad, mark=("extracted:c1", "m3"))
    assert s.get_mark("extracted:c1") == "m2"
    assert not s.search_memories("tea")


def test_review_mode_keeps_new_memories_pending(monkeypatch):
    from memory.config import load_settings
    from memory.store import MemoryStore

    monkeypatch.setenv("MEMCHAT_MEMORY__REVIEW", "true")
    with MemoryStore(load_settings(), start_redis=False) as s:
        old = s.add_memory("The user lives in Lisbon.", key="home_city")
        d = C.decide(C.Proposal(_cand("The user lives in Porto.", key="home_city")), [old])
        s.consolidation.apply([d])
        assert d.result.status == "pending"
        assert s.get_memory(old.id).superseded_by is None  # retired only once accepted


def test_a_preference_superseded_by_the_worker_is_not_served_from_a_stale_cache(sqlite_store):
    s = sqlite_store
    s.set_preference("drink", "tea")
    assert s.preferences() == {"drink": "tea"}  # now cached
    old = s.list_memories(section="preferences")[0]
    new = _cand("drink: coffee", section="preferences", key="drink", value="coffee")
    d = C.decide(C.Proposal(new), [old])
    assert d.action == "supersede"
    s.consolidation.apply([d])
    assert s.preferences() == {"drink": "coffee"}
