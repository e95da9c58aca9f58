"""A Redis outage while chatting: background jobs are kept in SQLite and replayed, none lost."""

from __future__ import annotations

from pipeline_fakes import exchange, wait_for

from tasks import api


def _facts(store) -> list[str]:
    return sorted(m.content for m in store.list_memories(limit=100))


def test_jobs_queued_during_a_redis_outage_are_kept_and_replayed(stoppable_redis, llm):
    from memory.config import load_settings
    from memory.store import MemoryStore
    from tasks.consumer import EmbeddedConsumer, run_once

    store = MemoryStore(load_settings())
    try:
        assert store.short.mode == "redis-url" and not store.short.degraded
        lisbon, coffee = store.new_conversation(), store.new_conversation()

        stoppable_redis.stop()  # Redis goes away mid-conversation
        outcomes = []
        for i in range(3):  # both conversations go on; every turn is stored in SQLite
            _, a = exchange(store, lisbon.id, f"I moved to Lisbon last month ({i})")
            outcomes.append(api.enqueue_after_turn(store, lisbon.id, a.id))
            _, a = exchange(store, coffee.id, f"I drink my coffee black ({i})")
            outcomes.append(api.enqueue_after_turn(store, coffee.id, a.id))
        assert outcomes == ["deferred"] * 6
        assert api.enqueue_summary(store, lisbon.id) is True
        assert store.short.degraded  # what the status bar and doctor report
        # one pending job per conversation and kind: later turns update the kept job
        jobs = store.deferred_jobs()
        assert sorted((j.name, j.args[0]) for j in jobs) == sorted(
            [("extract", lisbon.id), ("extract", coffee.id), ("summarize", lisbon.id)]
        )
        assert api.snapshot(store)["deferred"] == 3
        assert len(store.messages(lisbon.id)) == len(store.messages(coffee.id)) == 6

        stoppable_redis.ensure_running()  # Redis is back (same data dir, its AOF replayed)
        with EmbeddedConsumer(store, workers=1, periodic=False):
            # both extractions and the summary kept during the outage run
            wait_for(lambda: len(_facts(store)) >= 3 and not store.deferred_count(), timeout=30)
        assert store.deferred_count(all_profiles=True) == 0
        facts = _facts(store)
        assert facts == [
            "The user lives in Lisbon.",
            "The user prefers black coffee.",
            "The user talked about where they live.",  # the summary
        ]

        # Replaying again (a crash between queueing and deleting a row) adds nothing.
        store.defer_job("extract", [lisbon.id, None], f"extract:{lisbon.id}")
        assert run_once(store, periodic=False)["deferred"] == 1
        assert _facts(store) == facts
    finally:
        store.close()


def test_a_deferred_job_updated_during_replay_is_replayed_again(stoppable_redis, llm):
    """The row is deleted only if nobody updated it after it was read (no lost newer turn)."""
    from memory.config import load_settings
    from memory.store import MemoryStore

    store = MemoryStore(load_settings(), start_redis=False)
    try:
        store.defer_job("extract", ["c1", "m1"], "extract:c1")
        (job,) = store.deferred_jobs()
        store.defer_job("extract", ["c1", "m2"], "extract:c1")  # a newer turn meanwhile
        assert not store.deferred_done(job)
        (again,) = store.deferred_jobs()
        assert again.args == ["c1", "m2"] and store.deferred_done(again)
        assert store.deferred_count() == 0
    finally:
        store.close()
