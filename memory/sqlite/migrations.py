"""Numbered schema migrations, applied once each and recorded in ``_migrations``.

Append new steps to MIGRATIONS; never edit one that has shipped. Each runs inside the
same ``BEGIN IMMEDIATE`` transaction as its bookkeeping row, so two processes opening a
fresh database at once cannot both apply it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = tuple[int, str, Callable[[sqlite3.Connection], None]]


def _m001_core(c: sqlite3.Connection) -> None:
    c.executescript(
        """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            model TEXT,
            system_prompt TEXT,
            archived INTEGER NOT NULL DEFAULT 0,
            incognito INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX conversations_profile_updated ON conversations(profile, updated_at DESC);

        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            profile TEXT NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'complete',
            model TEXT,
            created_at REAL NOT NULL,
            used_memories TEXT NOT NULL DEFAULT '[]',
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            memory_tokens INTEGER,
            cost REAL,
            latency_ms REAL,
            error TEXT
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, created_at);
        CREATE INDEX messages_profile ON messages(profile, created_at);

        CREATE TABLE memories (
            id TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            section TEXT NOT NULL,
            content TEXT NOT NULL,
            key TEXT,
            value TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            entity_type TEXT,
            entity_id TEXT,
            confidence REAL NOT NULL DEFAULT 1.0,
            importance REAL NOT NULL DEFAULT 0.5,
            pinned INTEGER NOT NULL DEFAULT 0,
            persistence TEXT NOT NULL DEFAULT 'permanent',
            status TEXT NOT NULL DEFAULT 'active',
            scope TEXT NOT NULL DEFAULT 'global',
            expires_at REAL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_accessed_at REAL,
            access_count INTEGER NOT NULL DEFAULT 0,
            source_conversation_id TEXT,
            source_message_ids TEXT NOT NULL DEFAULT '[]',
            superseded_by TEXT,
            valid_from REAL,
            valid_to REAL,
            deleted_at REAL
        );
        CREATE INDEX memories_profile_section ON memories(profile, section, status);
        CREATE INDEX memories_profile_updated ON memories(profile, updated_at DESC);
        CREATE INDEX memories_key ON memories(profile, section, key);
        CREATE INDEX memories_expires ON memories(expires_at) WHERE expires_at IS NOT NULL;

        CREATE TABLE memory_history (
            id INTEGER PRIMARY KEY,
            memory_id TEXT NOT NULL,
            profile TEXT NOT NULL,
            at REAL NOT NULL,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            before TEXT,
            after TEXT
        );
        CREATE INDEX memory_history_memory ON memory_history(memory_id, at);
        -- The audit trail is append-only.
        CREATE TRIGGER memory_history_no_update BEFORE UPDATE ON memory_history
        BEGIN SELECT RAISE(ABORT, 'memory_history is append-only'); END;
        """
    )


def _m002_fts(c: sqlite3.Connection) -> None:
    c.executescript(
        """
        CREATE VIRTUAL TABLE memories_fts USING fts5(
            content, key, value, tags, entity_id,
            content='memories', content_rowid='rowid', tokenize='porter unicode61'
        );
        CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts(rowid, content, key, value, tags, entity_id)
            VALUES (new.rowid, new.content, new.key, new.value, new.tags, new.entity_id);
        END;
        CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, content, key, value, tags, entity_id)
            VALUES ('delete', old.rowid, old.content, old.key, old.value, old.tags, old.entity_id);
        END;
        CREATE TRIGGER memories_au AFTER UPDATE OF content, key, value, tags, entity_id ON memories BEGIN
            INSERT INTO memories_fts(memories_fts, rowid, content, key, value, tags, entity_id)
            VALUES ('delete', old.rowid, old.content, old.key, old.value, old.tags, old.entity_id);
            INSERT INTO memories_fts(rowid, content, key, value, tags, entity_id)
            VALUES (new.rowid, new.content, new.key, new.value, new.tags, new.entity_id);
        END;
        INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');

        CREATE VIRTUAL TABLE messages_fts USING fts5(
            content, content='messages', content_rowid='rowid', tokenize='porter unicode61'
        );
        CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
        END;
        CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
        END;
        CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
            INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content);
        END;
        INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
        """
    )


def _m003_outbox_kv(c: sqlite3.Connection) -> None:
    c.executescript(
        """
        -- Vector-index writes queued in the same transaction as the row they index.
        CREATE TABLE index_outbox (
            id INTEGER PRIMARY KEY,
            profile TEXT NOT NULL,
            kind TEXT NOT NULL,          -- 'memory' or 'message'
            item_id TEXT NOT NULL,
            op TEXT NOT NULL,            -- 'upsert' or 'delete'
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        CREATE INDEX index_outbox_profile ON index_outbox(profile, id);

        -- Short-term tier when no Redis can be had, and the durable copy synced from Redis.
        CREATE TABLE kv (
            profile TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            expires_at REAL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (profile, key)
        );
        CREATE INDEX kv_expires ON kv(expires_at) WHERE expires_at IS NOT NULL;
        """
    )


def _m004_pinned_index(c: sqlite3.Connection) -> None:
    # Pinned memories are recall candidates on every turn: find them without a table scan.
    c.execute(
        "CREATE INDEX memories_pinned ON memories(profile, importance DESC) "
        "WHERE pinned = 1 AND status = 'active' AND superseded_by IS NULL"
    )


def _m005_inspector_indexes(c: sqlite3.Connection) -> None:
    # The inspector filters by status (pending review, deleted) and by pin, newest first.
    c.execute("CREATE INDEX memories_status_updated ON memories(profile, status, updated_at DESC)")
    c.execute("CREATE INDEX memories_pinned_updated ON memories(profile, pinned, updated_at DESC)")
    # ... and sorts by importance: walking this index beats sorting every live row.
    c.execute("CREATE INDEX memories_importance ON memories(profile, importance DESC, id DESC)")


def _m006_conversation_project(c: sqlite3.Connection) -> None:
    c.execute("ALTER TABLE conversations ADD COLUMN project TEXT")


def _m010_conversation_memory_off(c: sqlite3.Connection) -> None:
    c.execute("ALTER TABLE conversations ADD COLUMN memory_off INTEGER NOT NULL DEFAULT 0")
    # deleting a conversation says how many memories came from it
    c.execute(
        "CREATE INDEX memories_source_conversation ON memories(source_conversation_id)"
        " WHERE source_conversation_id IS NOT NULL"
    )


def _m011_reply_versions(c: sqlite3.Connection) -> None:
    c.executescript(
        """
        CREATE TABLE reply_versions (
            id TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            prompt_id TEXT NOT NULL,
            source_message_id TEXT NOT NULL,
            n INTEGER NOT NULL,
            content TEXT NOT NULL,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'complete',
            used_memories TEXT NOT NULL DEFAULT '[]',
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            memory_tokens INTEGER,
            selected INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE INDEX reply_versions_prompt ON reply_versions(prompt_id, n);
        CREATE INDEX reply_versions_conversation ON reply_versions(conversation_id);
        """
    )


def _m007_job_outbox(c: sqlite3.Connection) -> None:
    c.executescript(
        """
        -- Background jobs that could not be queued (Redis down), replayed when it answers.
        CREATE TABLE job_outbox (
            id INTEGER PRIMARY KEY,
            profile TEXT NOT NULL,
            name TEXT NOT NULL,          -- the task, e.g. 'extract'
            key TEXT NOT NULL,           -- coalescing key: one pending job per key
            args TEXT NOT NULL,          -- JSON list
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,  -- bumped on every update of a pending job
            UNIQUE (profile, key)
        );
        """
    )


# The two turns before a chat turn, for messages_ctx_fts. ``m`` is the turn (a row of messages).
# Migration 8's triggers are built from these: change them only in a new migration that
# recreates the triggers.
_BEFORE = """(SELECT group_concat(content, char(10)) FROM (
    SELECT p.content FROM messages p
    WHERE p.conversation_id = m.conversation_id AND p.role IN ('user', 'assistant')
      AND (p.created_at < m.created_at OR (p.created_at = m.created_at AND p.rowid < m.rowid))
    ORDER BY p.created_at DESC, p.rowid DESC LIMIT 2))"""
# The turn ``x`` (new or old) and the two after it: the rows whose context it is part of.
_AND_AFTER = """SELECT rowid FROM messages WHERE conversation_id = {x}.conversation_id
    AND role IN ('user', 'assistant')
    AND (created_at > {x}.created_at OR (created_at = {x}.created_at AND rowid >= {x}.rowid))
    ORDER BY created_at, rowid LIMIT 3"""


def _refresh_context(x: str) -> str:
    """SQL that rewrites the messages_ctx_fts rows of turn ``x`` and the two turns after it."""
    rows = _AND_AFTER.format(x=x)
    return f"""
            DELETE FROM messages_ctx_fts WHERE rowid IN ({rows});
            INSERT INTO messages_ctx_fts(rowid, before, content)
            SELECT m.rowid, coalesce({_BEFORE}, ''), m.content FROM messages m
            WHERE m.rowid IN ({rows});"""


# Fill messages_ctx_fts from messages (migration 8, and ``fts.rebuild`` as a repair).
CONTEXT_BACKFILL = f"""INSERT INTO messages_ctx_fts(rowid, before, content)
    SELECT m.rowid, coalesce({_BEFORE}, ''), m.content FROM messages m
    WHERE m.role IN ('user', 'assistant')"""


def _m008_turn_context_fts(c: sqlite3.Connection) -> None:
    # Each chat turn searchable together with the two turns before it (as its embedding is):
    # "What is Tim looking forward to at Universal Studios?" finds "the Harry Potter stuff"
    # said right after Universal Studios came up. A plain FTS5 table (it keeps its own copy of
    # the text, so deleting a row needs no old values); triggers rewrite the rows a change
    # touches, so deleted or edited text leaves the neighbours' context too.
    c.executescript(
        f"""
        CREATE VIRTUAL TABLE messages_ctx_fts USING fts5(
            before, content, tokenize='porter unicode61'
        );
        CREATE TRIGGER messages_ctx_ai AFTER INSERT ON messages
        WHEN new.role IN ('user', 'assistant') BEGIN{_refresh_context("new")}
        END;
        CREATE TRIGGER messages_ctx_au AFTER UPDATE OF content, role, created_at ON messages
        BEGIN
            DELETE FROM messages_ctx_fts WHERE rowid = old.rowid;{_refresh_context("old")}{_refresh_context("new")}
        END;
        CREATE TRIGGER messages_ctx_ad AFTER DELETE ON messages BEGIN
            DELETE FROM messages_ctx_fts WHERE rowid = old.rowid;{_refresh_context("old")}
        END;
        {CONTEXT_BACKFILL};
        """
    )


def _m009_outbox_ids_never_reused(c: sqlite3.Connection) -> None:
    # A rebuild deletes the outbox rows up to the id it recorded when it began; with plain
    # rowids a row deleted meanwhile frees its id for a later write, which the switch then
    # deleted unapplied (a lost vector). AUTOINCREMENT never hands an id out twice.
    c.executescript(
        """
        CREATE TABLE index_outbox_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            profile TEXT NOT NULL,
            kind TEXT NOT NULL,
            item_id TEXT NOT NULL,
            op TEXT NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        INSERT INTO index_outbox_new SELECT * FROM index_outbox;
        DROP TABLE index_outbox;
        ALTER TABLE index_outbox_new RENAME TO index_outbox;
        CREATE INDEX index_outbox_profile ON index_outbox(profile, id);
        """
    )


# Where migration 12 looks for text stored before every write was redacted: frozen here (a
# migration must do tomorrow what it did today), so not memory.curation.places.
_M012_TEXT: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("memories", ("content", "key", "value", "tags", "entity_id"), "memory"),
    ("messages", ("content", "error"), "message"),
    ("reply_versions", ("content",), None),
    ("conversations", ("title", "system_prompt"), None),
    ("kv", ("value",), None),
    ("job_outbox", ("args",), None),
    ("index_outbox", ("last_error",), None),
)


def _m012_purge_old_leaks(c: sqlite3.Connection) -> None:
    """What versions before the storage boundary enforced every rule left behind: incognito
    conversations written to SQLite (now never stored at all) and secrets stored unredacted.
    The rows go or are redacted; vectors follow through the index outbox (deleted, or rebuilt
    from the redacted text). ``Database`` merges the FTS segments and truncates the WAL after
    (secure_delete zeroes the freed pages)."""
    from memory.secrets import redact_stored

    c.create_function("memchat_redact", 1, redact_stored, deterministic=True)
    at = time.time()
    gone = "SELECT id FROM conversations WHERE incognito = 1"
    for kind, table, where in (
        ("message", "messages", f"conversation_id IN ({gone})"),
        ("memory", "memories", f"source_conversation_id IN ({gone})"),
    ):
        c.execute(
            "INSERT INTO index_outbox (profile, kind, item_id, op, created_at)"
            f" SELECT profile, ?, id, 'delete', ? FROM {table} WHERE {where}",
            (kind, at),
        )
    c.execute(
        "DELETE FROM memory_history WHERE memory_id IN"
        f" (SELECT id FROM memories WHERE source_conversation_id IN ({gone}))"
    )
    c.execute(f"DELETE FROM memories WHERE source_conversation_id IN ({gone})")
    for table in ("reply_versions", "messages"):
        c.execute(f"DELETE FROM {table} WHERE conversation_id IN ({gone})")
    c.execute(
        "DELETE FROM kv WHERE EXISTS (SELECT 1 FROM conversations v WHERE v.incognito = 1"
        " AND kv.key IN ('session:' || v.id, 'turns:' || v.id))"
    )
    c.execute(
        "DELETE FROM job_outbox WHERE EXISTS (SELECT 1 FROM conversations v WHERE v.incognito = 1"
        " AND instr(job_outbox.args, v.id) > 0)"
    )
    c.execute("DELETE FROM conversations WHERE incognito = 1")

    for name, columns, vector_kind in _M012_TEXT:
        changed = " OR ".join(f"memchat_redact({col}) IS NOT {col}" for col in columns)
        if vector_kind:  # the vector is rebuilt from the redacted row
            c.execute(
                "INSERT INTO index_outbox (profile, kind, item_id, op, created_at)"
                f" SELECT profile, ?, id, 'upsert', ? FROM {name} WHERE {changed}",
                (vector_kind, at),
            )
        sets = ", ".join(f"{col} = memchat_redact({col})" for col in columns)
        c.execute(f"UPDATE {name} SET {sets} WHERE {changed}")
    # the audit trail is append-only, except for this one cleaning
    c.execute("DROP TRIGGER memory_history_no_update")
    cols = ("before", "after", "reason")
    changed = " OR ".join(f"memchat_redact({col}) IS NOT {col}" for col in cols)
    sets = ", ".join(f"{col} = memchat_redact({col})" for col in cols)
    c.execute(f"UPDATE memory_history SET {sets} WHERE {changed}")
    c.execute(
        "CREATE TRIGGER memory_history_no_update BEFORE UPDATE ON memory_history"
        " BEGIN SELECT RAISE(ABORT, 'memory_history is append-only'); END"
    )


# Every column of memories but the access counters, which a recall bumps (a later migration
# that adds a column must recreate memories_generation_au with it).
_M013_WATCHED = (
    "id, profile, section, content, key, value, tags, entity_type, entity_id, confidence, "
    "importance, pinned, persistence, status, scope, expires_at, created_at, updated_at, "
    "source_conversation_id, source_message_ids, superseded_by, valid_from, valid_to, deleted_at"
)


def _m013_memory_generation(c: sqlite3.Connection) -> None:
    # A number per profile that every write to its memories moves on, kept by triggers so no
    # write path can forget it: what a cache of memories (the preferences) is stamped with.
    bump = (
        "INSERT INTO memory_generation (profile, n) VALUES ({p}.profile, 1) "
        "ON CONFLICT(profile) DO UPDATE SET n = n + 1;"
    )
    c.executescript(
        f"""
        CREATE TABLE memory_generation (profile TEXT PRIMARY KEY, n INTEGER NOT NULL);
        CREATE TRIGGER memories_generation_ai AFTER INSERT ON memories BEGIN
            {bump.format(p="new")}
        END;
        CREATE TRIGGER memories_generation_ad AFTER DELETE ON memories BEGIN
            {bump.format(p="old")}
        END;
        CREATE TRIGGER memories_generation_au AFTER UPDATE OF {_M013_WATCHED} ON memories BEGIN
            {bump.format(p="old")}
            {bump.format(p="new")}
        END;
        """
    )


def _m014_pinned_created_index(c: sqlite3.Connection) -> None:
    # Memories listed oldest or newest first (exports page through them oldest first) walk
    # this instead of sorting every live row of the profile for each page.
    c.execute("CREATE INDEX memories_pinned_created ON memories(profile, pinned, created_at)")


MIGRATIONS: list[Migration] = [
    (1, "core tables: conversations, messages, memories, memory_history", _m001_core),
    (2, "FTS5 over memories and messages, kept in sync by triggers", _m002_fts),
    (3, "index outbox and short-term key/value fallback", _m003_outbox_kv),
    (4, "partial index over live pinned memories", _m004_pinned_index),
    (
        5,
        "indexes for the inspector's status and pinned filters and importance sort",
        _m005_inspector_indexes,
    ),
    (6, "conversations belong to an optional project (memory scopes)", _m006_conversation_project),
    (7, "outbox for background jobs queued while Redis is down", _m007_job_outbox),
    (8, "FTS5 over each chat turn with the two turns before it", _m008_turn_context_fts),
    (9, "index outbox ids are never reused", _m009_outbox_ids_never_reused),
    (
        10,
        "a conversation may have memory off; memories indexed by their source conversation",
        _m010_conversation_memory_off,
    ),
    (11, "earlier answers to a regenerated prompt", _m011_reply_versions),
    (12, "incognito rows and unredacted secrets left by older versions", _m012_purge_old_leaks),
    (
        13,
        "a generation number per profile that every memory write moves on",
        _m013_memory_generation,
    ),
    (14, "index for memories listed by creation time", _m014_pinned_created_index),
]

LATEST = MIGRATIONS[-1][0]
PURGE = 12  # after it, the database merges its FTS segments and truncates its WAL


def applied(c: sqlite3.Connection) -> list[int]:
    c.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
    )
    return [r[0] for r in c.execute("SELECT id FROM _migrations ORDER BY id")]


def migrate(c: sqlite3.Connection, upto: int | None = None) -> list[int]:
    """Apply pending migrations (up to ``upto``); returns the ids applied now."""
    done_now: list[int] = []
    for number, name, step in MIGRATIONS:
        if upto is not None and number > upto:
            break
        c.execute("BEGIN IMMEDIATE")
        try:
            if number in applied(c):
                c.execute("COMMIT")
                continue
            # executescript would COMMIT our transaction first; run statements one by one.
            _run_in_transaction(c, step)
            c.execute(
                "INSERT INTO _migrations (id, name, applied_at) VALUES (?, ?, ?)",
                (number, name, time.time()),
            )
            c.execute(f"PRAGMA user_version = {number}")
            c.execute("COMMIT")
            done_now.append(number)
        except BaseException:
            c.execute("ROLLBACK")
            raise
    return done_now


class _NoScript:
    """Adapter that runs ``executescript`` text statement by statement in the open transaction."""

    def __init__(self, c: sqlite3.Connection):
        self.c = c

    def executescript(self, script: str) -> None:
        buf = ""
        for line in script.splitlines(keepends=True):
            if line.strip().startswith("--"):
                continue
            buf += line
            if sqlite3.complete_statement(buf):
                self.c.execute(buf)
                buf = ""
        if buf.strip():
            self.c.execute(buf)

    def execute(self, *a, **kw):
        return self.c.execute(*a, **kw)

    def create_function(self, *a, **kw):
        return self.c.create_function(*a, **kw)


def _run_in_transaction(c: sqlite3.Connection, step) -> None:
    step(_NoScript(c))
