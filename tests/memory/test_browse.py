"""memory.curation.browse: the inspector's paged, filtered, sorted query (real SQLite files)."""

from __future__ import annotations

import time

from memory.curation import browse
from memory.parts import browse_parts
from memory.store import MemoryStore


def _store():
    return MemoryStore(start_redis=False)


def test_parse_splits_free_text_and_filters():
    q = browse.parse(
        'cat "green tea" section:fact tag:Pets pinned:yes age:<7d status:pend conv:ab12 sort:+importance'
    )
    assert q.text == "cat green tea"
    assert (q.section, q.tag, q.pinned, q.status, q.conversation) == (
        "facts",
        "pets",
        True,
        "pending",
        "ab12",
    )
    assert q.newer_than == 7 * 86400 and q.sort == "importance" and q.descending is False
    assert browse.parse("age:soon").errors
    base = browse.parse("x section:events")
    assert browse.parse("#pets", base).section is None  # filters come from the text alone


def test_pages_do_not_overlap_and_count_is_total():
    with _store() as s:
        ids = {s.add_memory(f"note {i}").id for i in range(25)}
        q = browse.BrowseQuery()
        seen = []
        for off in range(0, 30, 10):
            seen += [m.id for m in s.browse.page(q, offset=off, limit=10).rows]
        assert len(seen) == 25 and set(seen) == ids
        assert s.browse.count(q) == 25
        assert s.browse.matching_ids(browse.parse("note")) and len(s.browse.matching_ids(q)) == 25


def test_filters_and_statuses():
    with _store() as s:
        cat = s.add_memory(
            "The cat Miso sleeps a lot", section="facts", tags=["pets"], entity_id="miso"
        )
        tea = s.add_memory("Likes green tea", section="preferences", pinned=True)
        old = s.add_memory("An old event", section="events", created_at=time.time() - 40 * 86400)
        gone = s.add_memory("Deleted thing")
        s.delete_memory(gone.id)
        newer = s.supersede_memory(tea.id, "Likes black tea")
        pend = s.add_memory("Pending idea", status="pending")

        def ids(text):
            return [m.id for m in s.browse.page(browse.parse(text)).rows]

        assert ids("mis") == [cat.id]  # prefix while typing
        assert ids("section:events") == [old.id]
        assert ids("tag:pets") == [cat.id] and ids("entity:miso") == [cat.id]
        assert ids("age:>30d") == [old.id] and old.id not in ids("age:<30d")
        assert ids("status:deleted") == [gone.id]
        assert ids("status:superseded") == [tea.id]
        assert ids("status:pending") == [pend.id]
        assert set(ids("")) == {cat.id, old.id, newer.id}
        assert ids("pinned:yes") == []  # the pinned one was superseded
        assert set(ids("pinned:no")) == {cat.id, old.id, newer.id}


def test_sorting_and_relevance():
    with _store() as s:
        low = s.add_memory("tea once", importance=0.1)
        high = s.add_memory("tea tea tea every day", importance=0.9)
        mid = s.add_memory("coffee", importance=0.5)
        q = browse.parse("sort:importance")
        assert [m.id for m in s.browse.page(q).rows] == [high.id, mid.id, low.id]
        q = browse.parse("sort:+importance")
        assert [m.id for m in s.browse.page(q).rows] == [low.id, mid.id, high.id]
        p = s.browse.page(browse.parse("tea"))
        assert (
            p.order == "score"
            and [m.id for m in p.rows][0] == high.id
            and set(p.scores) == {low.id, high.id}
        )


def test_stats_helpers_and_change_marker():
    with _store() as s:
        before = s.browse.change_marker()
        m = s.add_memory("counted")
        assert s.browse.change_marker() != before
        s.pin_memory(m.id)
        assert s.browse.growth_by_day(3)[-1][1] == 1 and len(s.browse.growth_by_day(3)) == 3
        assert s.browse.status_counts() == {"active": 1}
        assert s.browse.prompt_memory_tokens() == {"replies": 0}
        c = s.new_conversation("x")
        s.add_message(c.id, "assistant", "hi", memory_tokens=40, prompt_tokens=400)
        t = s.browse.prompt_memory_tokens()
        assert t["replies"] == 1 and t["mean"] == 40 and abs(t["share"] - 0.1) < 1e-9
        assert browse.vector_expected(browse_parts(s)) == 2
