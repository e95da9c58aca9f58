"""Forgetting removes the text from every tier: checked by scanning the files for a canary."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from memory.config import load_settings
from memory.curation.forget import notes
from memory.shortterm.embedded_server import wait_aof_rewrite
from memory.store import MemoryStore
from tests.canary import files_containing

CANARY = "Xylophonequokka"


@pytest.fixture
def store():
    s = MemoryStore(load_settings())  # embedded Redis with AOF in the test's home
    yield s
    s.close()


def _wait_aof_rewrite(store) -> None:
    wait_aof_rewrite(store.short.primary.r)


def test_forget_memory_removes_text_history_vectors_and_quoting_summaries(store, home):
    m = store.add_memory(f"my childhood pet was called {CANARY}")
    store.update_memory(m.id, content=f"my childhood pet was a parrot called {CANARY}")
    s = store.add_memory(f"Summary: talked about {CANARY} the parrot", section="summaries")
    keep = store.add_memory("I drink tea every morning")
    store.index_pending()
    assert store.vectors.count(store.profile) == 3

    report = store.forgetting.memory(m.id)
    assert report.memories == [m.id] and report.summaries == [s.id]
    assert [x.id for x in store.list_memories(limit=100, status=None)] == [keep.id]
    assert [h.action for h in store.memories.history(m.id)] == ["forgotten"]
    assert store.vectors.count(store.profile) == 1
    assert store.recall(CANARY, token_budget=None) == []
    store.close()
    assert files_containing(home, CANARY) == []


def test_forget_about_a_topic_reaches_every_tier(store, home):
    c = store.new_conversation("pets")
    store.add_message(c.id, "user", f"My parrot {CANARY} says hello")
    store.add_message(c.id, "assistant", "What a lovely parrot!")
    store.add_memory(f"The user's parrot is named {CANARY}", tags=["pets"])
    store.set_temporary("draft", f"note about {CANARY}")
    store.add_memory("The user lives in Porto")
    store.add_memory(f"Summary: chatted about the parrot {CANARY}", section="summaries")
    store.index_pending()
    assert any(
        CANARY in h.text
        for h in store.recall(f"what is my parrot called {CANARY}", token_budget=None)
    )

    report = store.forgetting.about(CANARY.lower())
    assert len(report.memories) == 1 and len(report.messages) == 1 and report.redis_keys >= 1
    assert len(report.summaries) == 1
    assert all(
        CANARY not in h.text for h in store.recall(f"parrot {CANARY}", token_budget=None, limit=50)
    )
    assert all(CANARY not in t["content"] for t in store.recent_turns(c.id, 50))
    assert store.get_temporary("draft") is None
    assert [m.content for m in store.list_memories()] == ["The user lives in Porto"]
    _wait_aof_rewrite(store)
    store.close()
    assert files_containing(home, CANARY) == []


def test_forget_profile_removes_every_trace_and_spares_others(store, home):
    work = store.for_profile("work")
    c = work.new_conversation("secret project")
    work.add_message(c.id, "user", f"project codename {CANARY}")
    work.add_memory(f"codename is {CANARY}")
    work.set_session_state(c.id, codename=CANARY)
    store.add_memory("home profile keeps this")
    store.index_pending()

    counts = work.forgetting.profile()
    assert counts["memories"] == 1 and counts["messages"] == 1 and counts["redis_keys"] >= 1
    assert work.list_memories() == [] and work.list_conversations() == []
    assert work.vectors.count("work") == 0
    assert [m.content for m in store.list_memories()] == ["home profile keeps this"]
    _wait_aof_rewrite(store)
    store.close()
    assert files_containing(home, CANARY) == []


def test_forget_about_reaches_every_place_user_text_lives(store, home):
    """Each place in memory.curation.places: prompt history (Redis and its SQLite copy), a title and a
    system prompt, session state (Redis and kv), a temporary's key name, a history snapshot
    of a memory edited away from it, Chroma metadata (a tag), the three FTS indexes, the AOF."""
    c = store.new_conversation(f"All about {CANARY}", system_prompt=f"You know {CANARY} well")
    other = store.new_conversation("groceries")
    prompt = store.add_message(c.id, "user", f"my cat is called {CANARY}")
    first = store.add_message(c.id, "assistant", f"{CANARY}? A lovely name")
    store.keep_reply_version(prompt.id, first)  # regenerated: kept as an earlier answer
    store.delete_messages([first.id])
    store.add_message(c.id, "assistant", "Nice name!")
    store.add_message(other.id, "user", "buy milk")
    store.push_command(f"my cat is called {CANARY}")
    store.push_command("buy milk")
    store.sync_commands()  # the durable SQLite copy (the sync job and close do this)
    store.set_session_state(c.id, pet=f"cat {CANARY}", mood="fine")
    store.sync_session_state(c.id)
    store.set_temporary(f"{CANARY}-reminder", "feed the cat")
    store.add_memory(f"{CANARY} likes tuna", tags=[f"cat-{CANARY}"])
    renamed = store.add_memory(f"the cat is {CANARY}")
    store.update_memory(renamed.id, content="the cat is Tom")  # the old text stays in history
    store.index_pending()
    (home / "logs").mkdir()
    log = home / "logs" / "memchat.log"
    log.write_text(f"INFO started\nWARNING no LLM title: echoed {CANARY}\nINFO done\n")

    report = store.forgetting.about(CANARY)

    assert store.commands() == ["buy milk"]  # up-arrow no longer brings it back
    assert store.short.fallback._get(store.profile, "command_history") == ["buy milk"]
    conv = store.get_conversation(c.id)
    assert conv.title == "" and not conv.system_prompt  # blanked; the conversation stays
    assert store.get_conversation(other.id).title == "groceries"
    assert store.get_session_state(c.id) == {"mood": "fine"}
    assert store.temporaries() == []
    assert [m.content for m in store.list_memories()] == ["the cat is Tom"]
    assert all(CANARY not in (h.before or "") for h in store.memory_history(renamed.id))
    assert len(report.conversations) == 1 and report.history == 2  # created + edited
    assert [m.content for m in store.messages(c.id)] == ["Nice name!"]
    assert store.reply_versions(prompt.id).versions == []  # the earlier answer went too
    assert log.read_text() == "INFO started\nINFO done\n" and report.log_lines == 1
    store.close()
    assert files_containing(home, CANARY) == []


def test_forget_all_reaches_every_place_user_text_lives(store, home):
    c = store.new_conversation(f"All about {CANARY}", system_prompt=f"You know {CANARY} well")
    store.add_message(c.id, "user", f"my cat is called {CANARY}")
    store.push_command(f"my cat is called {CANARY}")
    store.sync_commands()
    store.set_session_state(c.id, pet=CANARY)
    store.sync_session_state(c.id)
    store.set_temporary(f"{CANARY}-reminder", "feed the cat")
    store.add_memory(f"{CANARY} likes tuna", tags=[f"cat-{CANARY}"])
    store.index_pending()

    store.forgetting.profile()

    assert store.commands() == [] and store.list_conversations() == []
    store.close()
    assert files_containing(home, CANARY) == []


def test_forget_reports_backups_that_still_hold_the_text_and_keeps_them(store, home):
    from memory.transfer.backup import backup

    store.add_memory("unrelated")
    clean = backup(store.settings, home / "backups" / "a-clean-one")
    store.add_memory(f"{CANARY} likes tuna")
    old = backup(store.settings, home / "backups" / "holding-it")

    report = store.forgetting.about(CANARY.lower())

    assert report.backups == [str(old)] and clean.exists()
    assert any(str(old) in line for line in notes(report))
    store.close()
    assert files_containing(old, CANARY)  # kept: a backup is the user's to delete
    left = files_containing(home, CANARY, exclude=("backups",))
    assert left == [], [(p, (home / p).stat().st_size) for p in left]


def test_cli_forget_about_in_a_fresh_process_leaves_no_byte(home):
    """The issue's repro with the real CLI: prompt history typed in the chat, `memory add`,
    `memory forget --about X --yes`; scanned after every memchat process has exited."""
    canary = "Qwertyzzcanary"
    with MemoryStore(load_settings()) as s:  # what the chat prompt does with a prompt
        c = s.new_conversation(f"my cat {canary}")
        s.add_message(c.id, "user", f"my cat is called {canary}")
        s.push_command(f"my cat is called {canary}")
    env = {**os.environ, "MEMCHAT_HOME": str(home)}

    def memchat(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tui", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    added = memchat("memory", "add", f"{canary} likes tuna")
    assert added.returncode == 0, added.stderr
    assert files_containing(home, canary)
    gone = memchat("memory", "forget", "--about", canary, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "1 memory," in gone.stdout and "1 chat message" in gone.stdout

    assert files_containing(home, canary) == []
    with MemoryStore(load_settings()) as s:
        assert s.commands() == [] and s.list_memories() == []
        assert [c.title for c in s.list_conversations()] == [""]


def test_forget_about_without_redis_cleans_the_sqlite_short_term_tier(home):
    with MemoryStore(load_settings(), start_redis=False) as s:  # short-term tier in SQLite's kv
        c = s.new_conversation("pets")
        s.push_command(f"my cat is called {CANARY}")
        s.push_command("buy milk")
        s.set_session_state(c.id, pet=CANARY, mood="fine")
        s.set_temporary("draft", f"about {CANARY}")
        report = s.forgetting.about(CANARY)
        assert s.commands() == ["buy milk"]
        assert s.get_session_state(c.id) == {"mood": "fine"}
        assert s.temporaries() == [] and report.short_term == 3 and not report.unreached
    assert files_containing(home, CANARY) == []
