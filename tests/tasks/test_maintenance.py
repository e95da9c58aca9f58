"""Summaries and the periodic jobs (sync, cleanup, reconcile, idle summaries, stats)."""

from __future__ import annotations

import time

from click.testing import CliRunner
from pipeline_fakes import exchange

from tasks import queue
from tasks.consumer import run_once


def test_summary_covers_its_turns_once(store, llm):
    queue.bind(store)
    from tasks.extract import summarize

    conv = store.new_conversation()
    u, a = exchange(store, conv.id, "I moved to Lisbon last month", "Lovely city.")
    result = summarize.call_local(store.profile, conv.id, True)
    summary = store.get_memory(result["summary"])
    assert (
        summary.section == "summaries"
        and summary.content == "The user talked about where they live."
    )
    assert summary.source_message_ids == [u.id, a.id] and summary.source_conversation_id == conv.id
    assert summarize.call_local(store.profile, conv.id, True) == {"summary": None, "turns": 0}
    assert store.count_memories(section="summaries") == 1


def test_periodic_jobs_once(store, llm, monkeypatch):
    monkeypatch.setenv("MEMCHAT_TASKS_IDLE_SECONDS", "0")
    monkeypatch.setattr(store.settings.memory, "purge_after_days", 0)
    conv = store.new_conversation()
    exchange(store, conv.id, "I moved to Lisbon last month", "Lovely city.")
    store.set_session_state(conv.id, topic="moving")
    store.push_command("I moved to Lisbon last month")
    temp = store.add_memory("parking spot 42", section="temporary", expires_at=time.time() - 1)
    gone = store.add_memory("an old note")
    store.delete_memory(gone.id)

    first = run_once(store)
    jobs = first["jobs"]
    assert jobs["sync"] == {"sessions": 1, "commands": 1}
    assert store.short.fallback.get_state(store.profile, conv.id) == {"topic": "moving"}
    assert store.short.fallback._get(store.profile, "command_history") == [
        "I moved to Lisbon last month"
    ]
    assert jobs["cleanup"]["expired"] == 1 and jobs["cleanup"]["purged"] == 2  # grace period 0
    assert {m.id for m in store.list_memories(status=None)}.isdisjoint({temp.id, gone.id})
    assert [h.action for h in store.memories.history(temp.id)] == ["added", "expired", "purged"]
    # the turn was extracted by run_once's start-up catch-up (tasks.outbox.catch_up), so
    # the idle catch-up finds nothing left to extract
    assert first["tasks"] == 1
    assert jobs["summarize_idle"] == {"summaries_queued": 1, "extractions_queued": 0}
    assert jobs["stats"]["profiles"]["default"]["sqlite"]["messages"] == 2

    second = run_once(store, periodic=False)  # runs the summary
    assert second["tasks"] == 1
    assert store.count_memories(section="summaries") == 1
    assert [m.content for m in store.list_memories(section="facts")] == [
        "The user lives in Lisbon."
    ]

    from tui.cli import cli

    out = CliRunner().invoke(cli, ["worker", "--status"])
    assert out.exit_code == 0, out.output
    for name in ("sync", "cleanup", "reconcile", "summarize_idle", "stats", "extract"):
        assert f"job:       {name}" in out.output
    assert "1 extractions" in out.output


def test_reconcile_repairs_vector_drift(store):
    queue.bind(store)
    from tasks.maintenance import reconcile

    m = store.add_memory("The user lives in Lisbon.")
    store.index_pending()
    vec = store.vectors
    vec.delete(store.profile, [f"mem:{m.id}"])
    assert f"mem:{m.id}" not in vec.ids(store.profile)
    result = reconcile()
    assert result["repaired"] == {"default": {"missing": 1, "stale": 0}}
    assert f"mem:{m.id}" in vec.ids(store.profile)
    assert reconcile()["repaired"] == {}


def test_optimize_merges_exact_duplicates_and_proposes_near_ones(store):
    queue.bind(store)
    from tasks.maintenance import optimize

    a = store.add_memory("The user lives in Lisbon.", source_message_ids=["m1"], tags=["home"])
    b = store.add_memory("the user lives in Lisbon", source_message_ids=["m2"])
    c = store.add_memory("The user lives in Lisbon, Portugal.")
    result = optimize()
    assert result["merged"] == 1
    assert [{p["a"], p["b"]} for p in result["near_duplicates"]] == [{a.id, c.id}]
    kept = store.get_memory(a.id)
    assert kept.source_message_ids == ["m1", "m2"] and kept.tags == ["home"]
    gone = store.get_memory(b.id)
    assert gone.status == "deleted" and gone.superseded_by == a.id
    assert store.memory_history(b.id)[-1].action == "merged"
    assert optimize()["merged"] == 0


def test_worker_retention_days_option_retires_unused_unpinned_memories(redis_url, monkeypatch):
    from click.testing import CliRunner

    from memory.config import load_settings
    from memory.store import MemoryStore
    from tui.cli import cli

    with MemoryStore(load_settings()) as s:
        old = s.add_memory("an old note nobody used")
        kept = s.add_memory("an old but pinned note", pinned=True)
        fresh = s.add_memory("a fresh note")
        with s.db.tx() as conn:  # two days without use
            conn.execute(
                "UPDATE memories SET updated_at = updated_at - 2 * 86400 WHERE id IN (?, ?)",
                (old.id, kept.id),
            )
    r = CliRunner().invoke(cli, ["worker", "--once", "--no-periodic", "--retention-days", "1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["worker", "--once", "--retention-days", "1", "--json"])
    assert r.exit_code == 0, r.output
    monkeypatch.delenv("MEMCHAT_MEMORY__RETENTION_DAYS", raising=False)
    with MemoryStore(load_settings()) as s:
        assert s.get_memory(old.id).status == "deleted"
        assert s.memory_history(old.id)[-1].reason == "not used for 1 days (retention)"
        assert (
            s.get_memory(kept.id).status == "active" and s.get_memory(fresh.id).status == "active"
        )
