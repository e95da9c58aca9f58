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
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        store.db.conn.set_trace_callback(None)
    plans = []
    for sql in seen:
        if not sql.lstrip().upper().startswith("SELECT") or "FROM memories" not in sql:
            continue
        try:  # the trace shows the statement with its values in place (Python >= 3.11)...
            rows = store.db.conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        except sqlite3.ProgrammingError:  # ... or with its placeholders
            params = [None] * sql.count("?")
            rows = store.db.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        plans.append(" / ".join(r[-1] for r in rows))
    return plans


def test_pinned_always_on_and_expiring_lookups_use_their_index_with_statistics(home):
    with MemoryStore(load_settings(), start_redis=False) as store:
        for i in range(30):
            store.add_memory(f"note number {i} about gardening and tomatoes", section="facts")
        pinned = store.add_memory("The user is allergic to peanuts.", section="facts")
        store.pin_memory(pinned.id)
        store.set_preference("editor", "helix")
        store.add_temporary("The user is in Berlin this week.", 3600)
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

        recall = _plans(store, lambda: store.recall("peanuts", limit=8))
        pinned_lookups = [p for p in recall if "memories_pinned" in p]
        assert pinned_lookups, recall
        assert not [p for p in recall if "memories_importance" in p], recall
