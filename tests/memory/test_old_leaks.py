"""Migration 12: a database written by a version from before the storage boundary enforced
every rule (an incognito conversation stored, secrets unredacted) is cleaned when memchat
opens it, down to the bytes of the files, and the vectors follow through the index outbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from memory.config import load_settings
from memory.sqlite import migrations
from memory.store import MemoryStore
from tests.canary import files_containing

TAIL = "Hv4Kp8Ws2Ny6" * 3
SECRET = f"sk-proj-{TAIL}"
INCOGNITO = "quokkamarmalade"
OPEN = "ccccccccccccccccccccccccccccccc1"  # what the incognito conversation said


def _old_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.migrate(conn, upto=11)
    conv = "INSERT INTO conversations (id, profile, title, incognito, created_at, updated_at)"
    conn.execute(
        f"{conv} VALUES ('ccccccccccccccccccccccccccccccc1', 'default', ?, 0, 1, 1)",
        (f"keys {SECRET}",),
    )
    conn.execute(
        f"{conv} VALUES ('ccccccccccccccccccccccccccccccc2', 'default', 'a private one', 1, 1, 1)"
    )
    msg = "INSERT INTO messages (id, conversation_id, profile, role, content, created_at)"
    conn.execute(
        f"{msg} VALUES ('eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1', 'ccccccccccccccccccccccccccccccc1', 'default', 'user', ?, 1)",
        (f"my key {SECRET}",),
    )
    conn.execute(
        f"{msg} VALUES ('eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee2', 'ccccccccccccccccccccccccccccccc1', 'default', 'user', 'the weather is fine', 2)"
    )
    conn.execute(
        f"{msg} VALUES ('eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee3', 'ccccccccccccccccccccccccccccccc2', 'default', 'user', ?, 3)",
        (f"{INCOGNITO} day",),
    )
    mem = (
        "INSERT INTO memories (id, profile, section, content, tags, created_at, updated_at,"
        " source_conversation_id) VALUES (?, 'default', 'facts', ?, ?, 1, 1, ?)"
    )
    conn.execute(
        mem,
        (
            "fffffffffffffffffffffffffffffff1",
            f"The user's key is {SECRET}",
            json.dumps([SECRET]),
            "ccccccccccccccccccccccccccccccc1",
        ),
    )
    conn.execute(
        mem,
        (
            "fffffffffffffffffffffffffffffff2",
            f"The user likes {INCOGNITO}",
            "[]",
            "ccccccccccccccccccccccccccccccc2",
        ),
    )
    conn.execute(
        mem,
        (
            "fffffffffffffffffffffffffffffff3",
            "The user lives in Lisbon",
            "[]",
            "ccccccccccccccccccccccccccccccc1",
        ),
    )
    hist = (
        "INSERT INTO memory_history (memory_id, profile, at, action, actor, before, after)"
        " VALUES (?, 'default', 1, 'update', 'user', ?, ?)"
    )
    conn.execute(hist, ("fffffffffffffffffffffffffffffff1", json.dumps({"content": SECRET}), "{}"))
    conn.execute(
        hist, ("fffffffffffffffffffffffffffffff2", json.dumps({"content": INCOGNITO}), "{}")
    )
    conn.execute(
        "INSERT INTO kv (profile, key, value, updated_at) VALUES ('default', 'turns:ccccccccccccccccccccccccccccccc2', ?, 1)",
        (json.dumps([{"content": INCOGNITO}]),),
    )
    conn.execute(
        "INSERT INTO kv (profile, key, value, updated_at) VALUES ('default', 'commands', ?, 1)",
        (json.dumps([f"remember {SECRET}"]),),
    )
    conn.close()


def test_an_older_database_loses_its_incognito_rows_and_secrets_at_open(home: Path):
    home.mkdir(parents=True)
    _old_database(home / "memchat.db")
    assert files_containing(home, TAIL) and files_containing(home, INCOGNITO)
    from memory.sqlite import db as dbmod

    dbmod._migrated.clear()
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.db.schema_version() == migrations.LATEST
        assert [c.id for c in s.list_conversations()] == [OPEN]
        assert s.db.scalar("SELECT COUNT(*) FROM messages") == 2
        assert [m.id for m in s.list_memories(status=None)].count(
            "fffffffffffffffffffffffffffffff2"
        ) == 0
        assert "[REDACTED:openai-key]" in s.get_message("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1").content
        assert (
            s.get_message("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee2").content == "the weather is fine"
        )  # the rest untouched
        k1 = s.get_memory("fffffffffffffffffffffffffffffff1")
        assert "[REDACTED" in k1.content and "[REDACTED" in k1.tags[0]
        assert (
            s.get_memory("fffffffffffffffffffffffffffffff3").content == "The user lives in Lisbon"
        )
        assert s.get_conversation("ccccccccccccccccccccccccccccccc1").title.startswith(
            "keys [REDACTED"
        )
        work = s.db.query("SELECT kind, item_id, op FROM index_outbox ORDER BY id")
        assert {(r["kind"], r["item_id"], r["op"]) for r in work} >= {
            ("message", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee3", "delete"),
            ("memory", "fffffffffffffffffffffffffffffff2", "delete"),
            ("message", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1", "upsert"),
            ("memory", "fffffffffffffffffffffffffffffff1", "upsert"),
        }
        assert not [h for h in s.recall(INCOGNITO, token_budget=None) if INCOGNITO in h.text]
    assert files_containing(home, TAIL) == []
    assert files_containing(home, INCOGNITO) == []
