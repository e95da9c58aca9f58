"""Forget for real: one memory, everything about a topic, or a whole profile, in every tier.

A soft delete (``MemoryStore.delete_memory``) hides a memory and can be undone. Forgetting
removes the text itself. What to clean is not listed here but in ``memory.curation.places`` (every
SQLite table with its text columns, the FTS indexes, the Redis keys, the files); this module
walks those lists and knows one way of cleaning per kind of place:

- memories go with their history (replaced by one tombstone row without content), their
  vector and the summaries that quote them; chat turns go with their vectors;
- conversation titles and system prompts that name the topic are blanked (the conversation
  stays: it shows as untitled, and uses the default system prompt);
- prompt history, session state, recent turns, temporaries and the preference cache lose
  the entries that mention it, in Redis and in their SQLite copy (``kv``);
- then no byte is left: FTS segments are merged (``secure_delete`` zeroes the freed pages),
  the WAL is truncated, and the Redis AOF is rewritten and waited for.

Backups made before are never touched: the report names those that still hold the text.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.curation import places
from memory.models import ForgetPreview, now
from memory.sqlite import fts

if TYPE_CHECKING:
    from memory.parts import ForgettingParts

log = logging.getLogger("memchat.forget")

Mentions = Callable[[Any], bool]


@dataclass
class ForgetReport:
    memories: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    redis_keys: int = 0
    # Conversations whose title or system prompt named it (blanked, kept).
    conversations: list[str] = field(default_factory=list)
    # History snapshots, prompt-history entries, session state and other short-term rows cleaned.
    history: int = 0
    short_term: int = 0
    log_lines: int = 0
    # Messages that still mention what was forgotten: extraction could learn it again.
    source_messages: list[str] = field(default_factory=list)
    # Backups (folders under <home>/backups) made before that still hold the text.
    backups: list[str] = field(default_factory=list)
    # Tiers forget could not reach (Redis down): their copies are still there.
    unreached: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- matching
def _mentions(needle: str, *, whole: bool = False) -> Mentions:
    """A test for "this value mentions ``needle``" (any case), looking inside JSON text;
    with ``whole``, only a value that is ``needle`` itself counts."""
    body = re.escape(needle.strip())
    pattern = re.compile(rf"\A\s*{body}\s*\Z" if whole else body, re.IGNORECASE)

    def test(value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            if pattern.search(value):
                return True
            if value[:1] in '[{"' and "\\u" in value:  # JSON with escaped non-ASCII text
                try:
                    return test(json.loads(value))
                except ValueError:
                    return False
            return False
        if isinstance(value, dict):
            return any(test(k) or test(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return any(test(v) for v in value)
        return False

    return test


def _clean_json(value: Any, mentions: Mentions) -> Any:
    """``value`` without the list items / dict fields that mention it; None if all of it does."""
    if isinstance(value, list):
        return [v for v in value if not mentions(v)]
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if not (mentions(k) or mentions(v))}
    return None if mentions(value) else value


# ----------------------------------------------------------------------------- SQLite places
def _purge_rows(parts: ForgettingParts, memory_ids: list[str], reason: str) -> None:
    with parts.db.tx() as conn:
        for mid in memory_ids:
            conn.execute("DELETE FROM memories WHERE id = ? AND profile = ?", (mid, parts.profile))
            conn.execute("DELETE FROM memory_history WHERE memory_id = ?", (mid,))
            conn.execute(
                "INSERT INTO memory_history (memory_id, profile, at, action, actor, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (mid, parts.profile, now(), "forgotten", "user", reason),
            )
            conn.execute("DELETE FROM index_outbox WHERE item_id = ?", (mid,))
            conn.execute(
                "INSERT INTO index_outbox (profile, kind, item_id, op, created_at) VALUES (?, 'memory', ?, 'delete', ?)",
                (parts.profile, mid, now()),
            )


def _purge_messages(parts: ForgettingParts, message_ids: list[str]) -> None:
    with parts.db.tx() as conn:
        for mid in message_ids:
            conn.execute("DELETE FROM messages WHERE id = ? AND profile = ?", (mid, parts.profile))
            conn.execute(
                "INSERT INTO index_outbox (profile, kind, item_id, op, created_at) VALUES (?, 'message', ?, 'delete', ?)",
                (parts.profile, mid, now()),
            )


def _on_memories(parts: ForgettingParts, table, rows, report, mentions, keep_messages) -> None:
    mems = [r["id"] for r in rows if r["section"] != "summaries"]
    summaries = [r["id"] for r in rows if r["section"] == "summaries"]  # they quote the topic
    # The tombstone must not repeat what was forgotten.
    _purge_rows(parts, mems + summaries, "forgotten with a topic (the topic is not recorded)")
    report.memories += mems
    report.summaries += summaries


def _on_messages(parts: ForgettingParts, table, rows, report, mentions, keep_messages) -> None:
    ids = [r["id"] for r in rows]
    if keep_messages:
        report.source_messages += ids
        return
    _purge_messages(parts, ids)
    report.messages += ids


def _on_history(parts: ForgettingParts, table, rows, report, mentions, keep_messages) -> None:
    # An edit away from the topic kept it in ``before``; the rest of the trail stays.
    _delete_rowids(parts, table, rows)
    report.history += len(rows)


def _on_blank(parts: ForgettingParts, table, rows, report, mentions, keep_messages) -> None:
    with parts.db.tx() as conn:
        for r in rows:
            for col in table.columns:
                if mentions(r[col]):
                    conn.execute(
                        f"UPDATE {table.name} SET {col} = '' WHERE rowid = ?", (r["_rowid"],)
                    )
    report.conversations += [r["id"] for r in rows]


def _on_json(parts: ForgettingParts, table, rows, report, mentions, keep_messages) -> None:
    with parts.db.tx() as conn:
        for r in rows:
            if keep_messages and str(r["key"]).startswith("turns:"):
                continue  # cached copies of chat turns the user chose to keep
            try:
                value = json.loads(r["value"])
            except ValueError:
                value = r["value"]
            cleaned = None if mentions(r["key"]) else _clean_json(value, mentions)
            if cleaned is None or cleaned in ([], {}):
                conn.execute(f"DELETE FROM {table.name} WHERE rowid = ?", (r["_rowid"],))
            else:
                conn.execute(
                    f"UPDATE {table.name} SET value = ?, updated_at = ? WHERE rowid = ?",
                    (json.dumps(cleaned), now(), r["_rowid"]),
                )
            report.short_term += 1


def _on_delete(parts: ForgettingParts, table, rows, report, mentions, keep_messages) -> None:
    _delete_rowids(parts, table, rows)


def _delete_rowids(parts: ForgettingParts, table, rows) -> None:
    with parts.db.tx() as conn:
        conn.executemany(
            f"DELETE FROM {table.name} WHERE rowid = ?", [(r["_rowid"],) for r in rows]
        )


_HANDLERS = {
    "memory": _on_memories,
    "message": _on_messages,
    "history": _on_history,
    "blank": _on_blank,
    "json": _on_json,
    "delete": _on_delete,
}


def _walk_sqlite(
    parts: ForgettingParts,
    mentions: Mentions,
    report: ForgetReport,
    *,
    kinds: set[str],
    keep_messages: bool,
) -> None:
    for table in places.SQLITE_TABLES:
        if table.on_match not in kinds:
            continue
        rows = [
            r
            for r in parts.db.query(
                f"SELECT rowid AS _rowid, * FROM {table.name} WHERE profile = ?", (parts.profile,)
            )
            if any(mentions(r[c]) for c in table.columns)
        ]
        if rows:
            _HANDLERS[table.on_match](parts, table, rows, report, mentions, keep_messages)


# ----------------------------------------------------------------------------- Redis places
def _walk_redis(
    parts: ForgettingParts, mentions: Mentions, report: ForgetReport, *, keep_messages: bool
) -> None:
    """Clean every registered key of the profile in Redis, by type (see ``places.RedisKey``)."""
    primary = getattr(parts.short, "primary", None)
    if primary is None:
        return  # no Redis: the short-term tier lives in SQLite's kv, cleaned above
    if parts.short.degraded:
        report.unreached.append("Redis (unreachable: its copies were not cleaned)")
        return
    r = primary.r
    try:
        for place in places.REDIS_KEYS:
            if keep_messages and place.pattern.startswith("turns:"):
                continue
            match = _glob_escape(primary.k(parts.profile, "")) + place.pattern
            for key in r.scan_iter(match=match, count=500):
                if _clean_redis_key(r, key, mentions):
                    report.redis_keys += 1
    except Exception as e:  # noqa: BLE001 - Redis died meanwhile
        report.unreached.append(f"Redis ({e}: some copies may be left)")


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis glob (a profile may be named "a*b")."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _clean_redis_key(r, key: str, mentions: Mentions) -> bool:
    kind = r.type(key)
    if kind == "string":
        if mentions(key) or mentions(r.get(key)):
            return bool(r.delete(key))
    elif kind == "list":
        hits = [v for v in r.lrange(key, 0, -1) if mentions(v)]
        for v in hits:
            r.lrem(key, 0, v)
        return bool(hits)
    elif kind == "hash":
        hits = [f for f, v in r.hgetall(key).items() if mentions(f) or mentions(v)]
        if hits:
            r.hdel(key, *hits)
        return bool(hits)
    elif kind == "zset":
        hits = [m for m in r.zrange(key, 0, -1) if mentions(m)]
        if hits:
            r.zrem(key, *hits)
        return bool(hits)
    return False


def rewrite_aof(parts: ForgettingParts, report: ForgetReport | None = None) -> None:
    """Rewrite Redis's AOF so deleted values leave its files, and wait for it to finish.

    A rewrite already running started from a snapshot taken before the deletes, so it is
    waited for first and a new one started after it."""
    from memory.shortterm.embedded_server import wait_aof_rewrite

    primary = getattr(parts.short, "primary", None)
    if primary is None or parts.short.degraded:
        return
    r = primary.r
    try:
        if r.config_get("appendonly").get("appendonly") != "yes":
            return
        wait_aof_rewrite(r)
        r.bgrewriteaof()
        if not wait_aof_rewrite(r) and report is not None:
            report.unreached.append("the Redis AOF (its rewrite did not finish in time)")
    except Exception as e:  # noqa: BLE001 - CONFIG refused (a managed REDIS_URL) or Redis gone
        log.warning("could not rewrite the Redis AOF after a forget: %s", e)


# ----------------------------------------------------------------------------- Chroma files
# Metadata of vectors that were deleted later (or whose collection is gone), still kept by
# Chroma's write-ahead queue until its next compaction. Replaying such an entry re-adds the
# vector and then deletes it again, so its metadata is never read.
_CHROMA_DEAD_METADATA = """
    UPDATE embeddings_queue SET metadata = NULL
    WHERE metadata IS NOT NULL AND metadata != '{}' AND (
        EXISTS (SELECT 1 FROM embeddings_queue d
                WHERE d.id = embeddings_queue.id AND d.topic = embeddings_queue.topic
                  AND d.operation = 3 AND d.seq_id > embeddings_queue.seq_id)
        OR NOT EXISTS (SELECT 1 FROM collections c WHERE embeddings_queue.topic LIKE '%/' || c.id))
"""


def scrub_chroma(parts: ForgettingParts) -> None:
    """Leave no metadata (tags, entity ids) of deleted vectors in Chroma's SQLite file: drop it
    from the write-ahead queue and VACUUM (Chroma does not set ``secure_delete``, so its
    deletes leave the old rows in free space). Embedded Chroma only; best effort."""
    import sqlite3

    if parts.settings.chroma_url:
        return
    path = Path(parts.settings.chroma_path) / "chroma.sqlite3"
    if not path.exists():
        return
    try:
        con = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            con.execute("PRAGMA secure_delete = ON")
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if {"embeddings_queue", "collections"} <= tables:
                con.execute(_CHROMA_DEAD_METADATA)
            con.execute("VACUUM")
        finally:
            con.close()
    except sqlite3.Error as e:
        log.warning("could not scrub %s after a forget: %s", path, e)


# ----------------------------------------------------------------------------- log files
def _scrub_logs(parts: ForgettingParts, mentions: Mentions) -> int:
    """Drop the log lines that mention it (an error can quote what the user typed). Rewritten
    in place, so a process appending to the file keeps writing to it."""
    log_dir = Path(parts.settings.log_dir)
    dropped = 0
    for path in sorted(log_dir.glob("*.log*")) if log_dir.is_dir() else []:
        try:
            with open(path, "r+b") as f:
                lines = f.read().splitlines(keepends=True)
                keep = [line for line in lines if not mentions(line)]
                if len(keep) == len(lines):
                    continue
                f.seek(0)
                f.write(b"".join(keep))
                f.truncate()
                dropped += len(lines) - len(keep)
        except OSError as e:
            log.warning("could not scrub %s after a forget: %s", path, e)
    return dropped


# ----------------------------------------------------------------------------- backups
def _backups_root(parts: ForgettingParts) -> Path:
    return Path(parts.settings.home) / "backups"


def _file_holds(path: Path, pattern: re.Pattern[bytes]) -> bool:
    """Searched through a read-only mapping: no copy of the file's bytes (a backup holding
    the forgotten text) passes through this process's heap."""
    import mmap

    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return False
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return pattern.search(m) is not None
    except (OSError, ValueError):
        return False


def backups_holding(parts: ForgettingParts, needle: str) -> list[str]:
    """Backup folders under ``<home>/backups`` with a file whose bytes hold ``needle`` (any
    ASCII case). They are not touched: a backup is the user's to delete."""
    root = _backups_root(parts)
    if not root.is_dir():
        return []
    pattern = re.compile(re.escape(needle.encode()), re.IGNORECASE)
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if any(p.is_file() and _file_holds(p, pattern) for p in folder.rglob("*")):
            found.append(str(folder))
    return found


def backups_with_profile(parts: ForgettingParts) -> list[str]:
    """Backup folders whose database has rows of ``store.profile``."""
    import sqlite3

    root = _backups_root(parts)
    found = []
    for db in sorted(root.glob("*/memchat.db")) if root.is_dir() else []:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                n = con.execute(
                    "SELECT (SELECT COUNT(*) FROM memories WHERE profile = ?) + "
                    "(SELECT COUNT(*) FROM messages WHERE profile = ?)",
                    (parts.profile, parts.profile),
                ).fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            continue
        if n:
            found.append(str(db.parent))
    return found


# ----------------------------------------------------------------------------- forget
def _rarest_terms(parts: ForgettingParts, text: str) -> set[str]:
    """The words of ``text`` that the rest of the profile uses least (names, codes, places)."""
    df: dict[str, int] = {}
    for term in fts.terms(text):
        quoted = '"' + term.replace('"', '""') + '"'
        df[term] = int(
            parts.db.scalar(
                "SELECT (SELECT COUNT(*) FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
                "        WHERE memories_fts MATCH ? AND m.profile = ? AND m.section != 'summaries') + "
                "       (SELECT COUNT(*) FROM messages_fts JOIN messages g ON g.rowid = messages_fts.rowid "
                "        WHERE messages_fts MATCH ? AND g.profile = ?)",
                (quoted, parts.profile, quoted, parts.profile),
            )
            or 0
        )
    if not df:
        return set()
    least = min(df.values())
    return {t for t, n in df.items() if n == least}


def _quoting_summaries(parts: ForgettingParts, memories: list, exclude: set[str]) -> list[str]:
    """Summaries built from the same turns, or repeating a memory's rarest words."""
    rows = parts.db.query(
        "SELECT id, content, source_message_ids FROM memories WHERE profile = ? AND section = 'summaries'",
        (parts.profile,),
    )
    found: list[str] = []
    for m in memories:
        rare = _rarest_terms(parts, m.content)
        sources = set(m.source_message_ids)
        for r in rows:
            if r["id"] in exclude or r["id"] in found:
                continue
            if sources & set(json.loads(r["source_message_ids"] or "[]")) or rare & set(
                fts.terms(r["content"])
            ):
                found.append(r["id"])
    return found


def _finish(parts: ForgettingParts, report: ForgetReport) -> ForgetReport:
    """Apply the deletes to the vectors, then leave no byte behind in SQLite and Redis."""
    if parts.vectors() is not None:
        parts.index_pending()
        scrub_chroma(parts)
    parts.db.scrub()
    rewrite_aof(parts, report)
    return report


def _walk(
    parts: ForgettingParts,
    mentions: Mentions,
    report: ForgetReport,
    *,
    kinds: set[str],
    keep_messages: bool,
) -> None:
    """Every place in ``memory.curation.places``: SQLite tables, Redis keys, log files."""
    _walk_sqlite(parts, mentions, report, kinds=kinds, keep_messages=keep_messages)
    _walk_redis(parts, mentions, report, keep_messages=keep_messages)
    report.log_lines += _scrub_logs(parts, mentions)


def forget_memory(parts: ForgettingParts, memory_id: str) -> ForgetReport:
    """Remove one memory everywhere (not undoable), and short-term copies of its text."""
    m = parts.memories.get(memory_id, parts.profile)
    report = ForgetReport(memories=[m.id])
    report.summaries = _quoting_summaries(parts, [m], {m.id})
    _purge_rows(parts, [m.id, *report.summaries], "forgotten at the user's request")
    report.source_messages = list(m.source_message_ids)
    # Copies of its text elsewhere (a snapshot, a temporary, a prompt). A short memory ("tea")
    # would match unrelated text, so below a sentence's length only an exact copy counts.
    mentions = _mentions(m.content, whole=len(m.content.strip()) < 16)
    _walk(parts, mentions, report, kinds={"history", "json"}, keep_messages=True)
    report.backups = backups_holding(parts, m.content)
    return _finish(parts, report)


def forget_about(
    parts: ForgettingParts, text: str, *, include_messages: bool = True
) -> ForgetReport:
    """Remove everything that mentions ``text`` (any case) from every place in
    ``memory.curation.places``: memories, chat turns (unless ``include_messages`` is False), history
    snapshots, titles and system prompts, prompt history, session state, temporaries."""
    needle = text.strip()
    if not needle:
        raise ValueError("say what to forget")
    mentions = _mentions(needle)
    report = ForgetReport()
    keep = not include_messages
    _walk(parts, mentions, report, kinds=set(_HANDLERS), keep_messages=keep)
    report.backups = backups_holding(parts, needle)
    return _finish(parts, report)


def preview_about(
    parts: ForgettingParts, text: str, *, include_messages: bool = True
) -> ForgetPreview:
    """What :func:`forget_about` would remove from memories, chat turns and conversation
    titles, found the same way (the same places, the same matching) and changing nothing."""
    needle = text.strip()
    if not needle:
        raise ValueError("say what to forget")
    mentions = _mentions(needle)
    preview = ForgetPreview(text=needle)
    kinds = {"memory", "blank"} | ({"message"} if include_messages else set())
    for table in places.SQLITE_TABLES:
        if table.on_match not in kinds:
            continue
        for r in parts.db.query(f"SELECT * FROM {table.name} WHERE profile = ?", (parts.profile,)):
            if not any(mentions(r[c]) for c in table.columns):
                continue
            if table.on_match == "memory":
                into = preview.summaries if r["section"] == "summaries" else preview.memories
                into.append((r["id"], r["content"] or ""))
            elif table.on_match == "message":
                preview.messages.append((r["id"], r["content"] or ""))
            else:
                preview.conversations.append(r["id"])
    return preview


def forget_profile(parts: ForgettingParts) -> dict[str, int]:
    """Remove every trace of ``store.profile`` from SQLite, Chroma and Redis."""
    counts: dict[str, int] = {}
    with parts.db.tx() as conn:
        for table in places.SQLITE_TABLES:
            counts[table.name] = conn.execute(
                f"DELETE FROM {table.name} WHERE profile = ?", (parts.profile,)
            ).rowcount
    vectors = parts.vectors()
    if vectors is not None:
        vectors.reset(parts.profile)
        scrub_chroma(parts)
    counts["redis_keys"] = parts.short.wipe_profile(parts.profile)
    rewrite_aof(parts)
    parts.db.scrub()
    parts.db.conn.execute("VACUUM")
    parts.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def describe(report: ForgetReport) -> str:
    """One line: what was forgotten."""

    def count(n: int, one: str, many: str) -> str:
        return f"{n} {one if n == 1 else many}"

    parts = [count(len(report.memories), "memory", "memories")]
    if report.summaries:
        parts.append(count(len(report.summaries), "summary", "summaries") + " quoting them")
    if report.messages:
        parts.append(count(len(report.messages), "chat message", "chat messages"))
    if report.conversations:
        parts.append(
            count(
                len(report.conversations),
                "conversation title/system prompt",
                "conversation titles/system prompts",
            )
            + " (blanked)"
        )
    cleaned = report.history + report.short_term + report.redis_keys
    if cleaned:
        parts.append(f"{cleaned} history, prompt-history and short-term entries")
    if report.log_lines:
        parts.append(count(report.log_lines, "log line", "log lines"))
    return "forgot " + ", ".join(parts)


def notes(report: ForgetReport) -> list[str]:
    """What forget left where it was, one line each (backups made before, unreachable tiers)."""
    out = []
    if report.backups:
        out.append(
            f"{len(report.backups)} backup(s) made before still hold it (not deleted; remove "
            "them yourself if it must go from there too): " + ", ".join(report.backups)
        )
    for what in report.unreached:
        out.append(f"not cleaned: {what}")
    return out
