"""The look-ups every prompt makes keep their index once SQLite has statistics.

The worker's daily cleanup runs ``PRAGMA optimize``, which ANALYZEs the memories table. With
those statistics, and none for an empty partial index (no memory pinned yet), SQLite walked the
importance index -- every live row of the profile -- for the pinned and always-on look-ups:
~200 ms a prompt at 100k memories instead of ~0.1 ms. The statistics below are the ones ANALYZE
wrote for a real 100k store (bench/recall_latency.py), imposed on a small one.
"""

from __future__ import annotations

import sqlite3

from memory.config import load_settings
from memory.store import MemoryStore

STATS_AT_100K = {  # index -> sqlite_stat1.stat, as ANALYZE wrote them at 100k memories
    "memories_importance": "100000 100000 100000 1",
    "memories_pinned_updated": "100000 100000 100000 1",
    "memories_status_updated": "100000 100000 100000 1",
    "memories_key": "100000 100000 100000 100000",
    "memories_profile_updated": "100000 100000 1",
    "memories_profile_section": "100000 100000 100000 100000",
    "sqlite_autoindex_memories_1": "100000 1",
}


def _impose_100k_statistics(db_path) -> None:
    c = sqlite3.connect(db_path)
    c.execute("ANALYZE")
    c.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'memories'")  # none for the partial ones
    c.executemany(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('memories', ?, ?)",
        STATS_AT_100K.items(),
    )
    c.commit()
    c.close()


def _plans(store: MemoryStore, call) -> list[str]:
    """The query plan of every statement on the memories table that ``call`` runs."""
    return [plan for _, plan in _statements(store, call)]


def _statements(store: MemoryStore, call) -> list[tuple[str, str]]:
    """(statement, query plan) of every statement on the memories table that ``call`` runs."""
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        store.db.conn.set_trace_callback(None)
    plans: list[tuple[str, str]] = []
    for sql in seen:
        if not sql.lstrip().upper().startswith("SELECT") or "FROM memories" not in sql:
            continue
        try:  # the trace shows the statement with its values in place (Python >= 3.11)...
            rows = store.db.conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        except sqlite3.ProgrammingError:  # ... or with its placeholders
            params = [None] * sql.count("?")
            rows = store.db.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        plans.append((sql, " / ".join(r[-1] for r in rows)))
    return plans


def test_pinned_always_on_and_expiring_lookups_use_their_index_with_statistics(home):
    with MemoryStore(load_settings(), start_redis=False) as store:
        for i in range(30):
            store.add_memory(f"note number {i} about gardening and tomatoes", section="facts")
        pinned = store.add_memory("The user is allergic to peanuts.", section="facts")
        store.pin_memory(pinned.id)
        store.set_preference("editor", "helix")
        store.add_temporary("The user is in Berlin this week.", 3600)
        conv = store.new_conversation("trip")
        store.add_memory("The user flies to Oslo on Friday.", source_conversation_id=conv.id)
    _impose_100k_statistics(home / "memchat.db")

    with MemoryStore(load_settings(), start_redis=False) as store:
        stats = store.db.query("SELECT idx FROM sqlite_stat1 WHERE tbl = 'memories'")
        assert {r["idx"] for r in stats} == set(STATS_AT_100K)  # the planner sees them

        always = _plans(store, store.always_on)
        assert [h.text for h in store.always_on()][:1] == ["The user is allergic to peanuts."]
        assert len(always) == 1, always
        assert "USING INDEX memories_pinned " in always[0], always
        assert "USING INDEX memories_profile_section " in always[0], always

        (expiring,) = _plans(store, store.expiring_memories)
        assert "USING INDEX memories_expires " in expiring, expiring
        assert [m.content for m in store.expiring_memories()] == [
            "The user is in Berlin this week."
        ]

        (learned,) = _plans(store, lambda: store.memories_from_conversation(conv.id))
        assert "USING INDEX memories_source_conversation " in learned, learned
        assert [m.content for m in store.memories_from_conversation(conv.id)] == [
            "The user flies to Oslo on Friday."
        ]

        recall = _plans(store, lambda: store.recall("peanuts", limit=8))
        pinned_lookups = [p for p in recall if "memories_pinned" in p]
        assert pinned_lookups, recall
        assert not [p for p in recall if "memories_importance" in p], recall


ORDERS = {  # list order -> the key it sorts by, after pinned first
    "updated_at DESC": lambda m: -m.updated_at,
    "created_at DESC": lambda m: -m.created_at,
    "created_at ASC": lambda m: m.created_at,
    "importance DESC": lambda m: -m.importance,
    "access_count DESC": lambda m: -m.access_count,
}


def test_listing_pages_put_pinned_first_in_order_and_walk_an_index(home):
    with MemoryStore(load_settings(), start_redis=False) as store:
        made = [
            store.add_memory(f"memory {i} about rivers", section="facts", importance=(i * 7) % 10)
            for i in range(23)
        ]
        for m in made[3::5]:  # five pinned, spread over the creation order
            store.pin_memory(m.id)
        store.update_memory(made[0].id, content="memory 0 about rivers, edited last")
        store.delete_memory(made[1].id)
    _impose_100k_statistics(home / "memchat.db")

    with MemoryStore(load_settings(), start_redis=False) as store:
        everything = store.list_memories(limit=1000)
        assert len(everything) == 22 and made[1].id not in {m.id for m in everything}
        for order, key in ORDERS.items():
            want = sorted(everything, key=lambda m: (not m.pinned, key(m)))
            pages = [store.list_memories(order=order, limit=4, offset=o) for o in range(0, 24, 4)]
            got = [m.id for page in pages for m in page]
            # ties (same importance or count) may come in either order: compare the keys
            assert [(not m.pinned, key(m)) for m in sum(pages, [])] == [
                (not m.pinned, key(m)) for m in want
            ], order
            assert sorted(got) == sorted(m.id for m in want), order
            unpinned = [
                plan
                for sql, plan in _statements(store, lambda o=order: store.list_memories(order=o))
                if "pinned = 0" in sql
            ]
            assert len(unpinned) == 1, order
            if order != "access_count DESC":  # the one order no index keeps
                assert "TEMP B-TREE" not in unpinned[0], (order, unpinned)
