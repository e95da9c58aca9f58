"""Every place a user's text can live in the data dir, in one list.

``memory.curation.forget`` walks these lists (forget a topic, one memory, a whole profile), so a new
table, column or Redis key that can hold what the user typed is one line here, and forget
reaches it. ``tests/memory/test_forget.py`` checks the places with a canary scan of the files.

How each kind of place is cleaned is named by ``on_match`` and implemented in
``memory.curation.forget`` (one small function per kind):

- ``memory``: the row goes (history replaced by one tombstone without content, vector deleted)
- ``message``: the chat turn goes (its vector too; its session's cached turns refill)
- ``history``: snapshots that mention it go (e.g. an edit away from the topic kept it in ``before``)
- ``blank``: the matching columns are emptied, the row stays (a conversation keeps its turns
  but loses a title or system prompt that names the topic; a new title is made on the next reply
  only if titles are generated, otherwise it shows as untitled)
- ``json``: a JSON value is cleaned element by element (prompt-history lists lose the matching
  prompts, session-state dicts the matching fields, a matching string the whole row)
- ``delete``: the row goes
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A SQLite table (every one has a ``profile`` column) and the columns holding user text."""

    name: str
    columns: tuple[str, ...]
    on_match: str
    what: str


@dataclass(frozen=True)
class RedisKey:
    """Keys ``memchat:<profile>:<pattern>`` of the short-term tier. They are cleaned by type
    (string: deleted; list: matching items removed; hash: matching fields removed; zset:
    matching members removed), so any new key under a registered pattern is covered."""

    pattern: str
    what: str


SQLITE_TABLES: tuple[Table, ...] = (
    Table(
        "memories",
        ("content", "key", "value", "tags", "entity_id"),
        "memory",
        "memories, summaries included",
    ),
    Table(
        "memory_history",
        ("before", "after", "reason"),
        "history",
        "before/after snapshots of each change",
    ),
    Table("messages", ("content", "error"), "message", "chat turns"),
    Table("reply_versions", ("content",), "delete", "earlier answers to a regenerated prompt"),
    Table(
        "conversations",
        ("title", "system_prompt"),
        "blank",
        "conversation titles and system prompts",
    ),
    Table(
        "kv",
        ("key", "value"),
        "json",
        "short-term state kept in SQLite: prompt history (`commands`, `command_history`), session "
        "state, recent turns, temporaries, the preference cache",
    ),
    Table("job_outbox", ("args",), "delete", "background jobs waiting for Redis"),
    Table(
        "index_outbox", ("last_error",), "delete", "vector-index work waiting, with its last error"
    ),
)

# FTS5 indexes keep folded (lower-cased, stemmed) copies of every word in their own segments;
# a delete only adds a tombstone until the segments are merged (``Database.scrub``).
FTS_INDEXES: tuple[str, ...] = ("memories_fts", "messages_fts", "messages_ctx_fts")

REDIS_KEYS: tuple[RedisKey, ...] = (
    RedisKey("commands", "prompt history (up-arrow in the chat prompt)"),
    RedisKey("session:*", "session state"),
    RedisKey("turns:*", "recent turns of each session"),
    RedisKey("tmp:*", "temporary values (the key names too)"),
    RedisKey("prefs", "preference cache"),
    RedisKey("prefs:valid", "preference cache marker"),
    RedisKey("active", "active sessions (ids only)"),
)

# Files and folders under the data dir, and what forget does about each.
FILES: tuple[tuple[str, str], ...] = (
    (
        "memchat.db, memchat.db-wal",
        "secure_delete on every connection, FTS segments merged, WAL truncated",
    ),
    (
        "redis/appendonlydir/",
        "the AOF is rewritten and the rewrite waited for (old pieces removed)",
    ),
    ("chroma/", "vectors deleted by id; their metadata holds tags and entity ids"),
    ("logs/", "records carry ids and errors; a line that quotes it is dropped"),
    ("backups/", "left alone: forget reports the backups that still hold the text"),
)
