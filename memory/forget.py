"""Forget for real: one memory, everything about a topic, or a whole profile, in every tier.

A soft delete (``MemoryStore.delete_memory``) hides a memory and can be undone. Forgetting
removes the text itself: the SQLite row and its FTS entry (with ``secure_delete`` on and FTS
segments merged, so no copy stays in free pages), the before/after snapshots in its history
(replaced by one tombstone row without content), its vector in Chroma, cached copies in
Redis (then the AOF is rewritten), and summaries that quote it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from memory import fts
from memory.models import now


@dataclass
class ForgetReport:
    memories: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    redis_keys: int = 0
    # Messages that still mention what was forgotten: extraction could learn it again.
    source_messages: list[str] = field(default_factory=list)


def _purge_rows(store, memory_ids: list[str], reason: str) -> None:
    with store.db.tx() as conn:
        for mid in memory_ids:
            conn.execute("DELETE FROM memories WHERE id = ? AND profile = ?", (mid, store.profile))
            conn.execute("DELETE FROM memory_history WHERE memory_id = ?", (mid,))
            conn.execute(
                "INSERT INTO memory_history (memory_id, profile, at, action, actor, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (mid, store.profile, now(), "forgotten", "user", reason),
            )
            conn.execute("DELETE FROM index_outbox WHERE item_id = ?", (mid,))
            conn.execute(
                "INSERT INTO index_outbox (profile, kind, item_id, op, created_at) VALUES (?, 'memory', ?, 'delete', ?)",
                (store.profile, mid, now()),
            )


def _purge_messages(store, message_ids: list[str]) -> None:
    with store.db.tx() as conn:
        for mid in message_ids:
            conn.execute("DELETE FROM messages WHERE id = ? AND profile = ?", (mid, store.profile))
            conn.execute(
                "INSERT INTO index_outbox (profile, kind, item_id, op, created_at) VALUES (?, 'message', ?, 'delete', ?)",
                (store.profile, mid, now()),
            )


def _rarest_terms(store, text: str) -> set[str]:
    """The words of ``text`` that the rest of the profile uses least (names, codes, places)."""
    df: dict[str, int] = {}
    for term in fts.terms(text):
        quoted = '"' + term.replace('"', '""') + '"'
        df[term] = int(
            store.db.scalar(
                "SELECT (SELECT COUNT(*) FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
                "        WHERE memories_fts MATCH ? AND m.profile = ? AND m.section != 'summaries') + "
                "       (SELECT COUNT(*) FROM messages_fts JOIN messages g ON g.rowid = messages_fts.rowid "
                "        WHERE messages_fts MATCH ? AND g.profile = ?)",
                (quoted, store.profile, quoted, store.profile),
            )
            or 0
        )
    if not df:
        return set()
    least = min(df.values())
    return {t for t, n in df.items() if n == least}


def _quoting_summaries(store, memories: list, exclude: set[str]) -> list[str]:
    """Summaries built from the same turns, or repeating a memory's rarest words."""
    rows = store.db.query(
        "SELECT id, content, source_message_ids FROM memories WHERE profile = ? AND section = 'summaries'",
        (store.profile,),
    )
    found: list[str] = []
    for m in memories:
        rare = _rarest_terms(store, m.content)
        sources = set(m.source_message_ids)
        for r in rows:
            if r["id"] in exclude or r["id"] in found:
                continue
            if sources & set(json.loads(r["source_message_ids"] or "[]")) or rare & set(
                fts.terms(r["content"])
            ):
                found.append(r["id"])
    return found


def _finish(store, report: ForgetReport) -> ForgetReport:
    vectors = store.vectors
    if vectors is not None:
        store.index_pending()
    report.redis_keys += _scrub_short_term(store, report)
    store.short.drop_prefs_cache(store.profile)
    store.db.scrub()
    return report


def _scrub_short_term(store, report: ForgetReport) -> int:
    """Drop cached turn lists that held forgotten messages; they refill from SQLite."""
    touched = 0
    convs = {
        r["conversation_id"]
        for r in store.db.query(
            "SELECT DISTINCT conversation_id FROM messages WHERE profile = ?", (store.profile,)
        )
    }
    for cid, _ in store.active_sessions():
        convs.add(cid)
    if report.messages:
        for cid in convs:
            turns = store.short.recent_turns(store.profile, cid, 10_000)
            if any(t.get("id") in report.messages for t in turns):
                state = store.short.get_state(store.profile, cid)
                store.short.end_session(store.profile, cid)
                if state:
                    store.short.set_state(store.profile, cid, state, store._ttl)
                touched += 1
    _rewrite_aof(store)
    return touched


def _rewrite_aof(store) -> None:
    primary = getattr(store.short, "primary", None)
    if primary is None or store.short.degraded:
        return
    try:
        primary.r.bgrewriteaof()
    except Exception:  # noqa: BLE001 - AOF off (REDIS_URL) or a rewrite already running
        pass


def forget_memory(store, memory_id: str) -> ForgetReport:
    """Remove one memory everywhere (not undoable)."""
    m = store.get_memory(memory_id)
    report = ForgetReport(memories=[m.id])
    report.summaries = _quoting_summaries(store, [m], {m.id})
    _purge_rows(store, [m.id, *report.summaries], "forgotten at the user's request")
    report.source_messages = list(m.source_message_ids)
    return _finish(store, report)


def forget_about(store, text: str, *, include_messages: bool = True) -> ForgetReport:
    """Remove every memory (and, by default, every chat turn) that mentions ``text``."""
    needle = text.strip()
    if not needle:
        raise ValueError("say what to forget")
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    rows = [
        r
        for r in store.db.query(
            "SELECT id, section, content, value, tags FROM memories WHERE profile = ?",
            (store.profile,),
        )
        if pattern.search(" ".join(str(r[k] or "") for k in ("content", "value", "tags")))
    ]
    mems = [r["id"] for r in rows if r["section"] != "summaries"]
    summaries = [r["id"] for r in rows if r["section"] == "summaries"]  # they quote the topic
    msgs = [
        r["id"]
        for r in store.db.query(
            "SELECT id, content FROM messages WHERE profile = ?", (store.profile,)
        )
        if pattern.search(r["content"])
    ]
    report = ForgetReport(memories=mems, summaries=summaries)
    # The tombstone must not repeat what was forgotten.
    _purge_rows(
        store, mems + report.summaries, "forgotten with a topic (the topic is not recorded)"
    )
    if include_messages:
        _purge_messages(store, msgs)
        report.messages = msgs
    else:
        report.source_messages = msgs
    for key, value, _ttl in store.temporaries():
        if pattern.search(f"{key} {value}"):
            store.short.delete_temp(store.profile, key)
            report.redis_keys += 1
    return _finish(store, report)


def forget_profile(store) -> dict[str, int]:
    """Remove every trace of ``store.profile`` from SQLite, Chroma and Redis."""
    counts: dict[str, int] = {}
    with store.db.tx() as conn:
        for table in (
            "memories",
            "memory_history",
            "messages",
            "conversations",
            "kv",
            "index_outbox",
            "job_outbox",
        ):
            counts[table] = conn.execute(
                f"DELETE FROM {table} WHERE profile = ?", (store.profile,)
            ).rowcount
    vectors = store.vectors
    if vectors is not None:
        vectors.reset(store.profile)
    counts["redis_keys"] = store.wipe_short_term()
    _rewrite_aof(store)
    store.db.scrub()
    store.db.conn.execute("VACUUM")
    return counts


def describe(report: ForgetReport) -> str:
    parts = [f"{len(report.memories)} memories"]
    if report.summaries:
        parts.append(f"{len(report.summaries)} summaries quoting them")
    if report.messages:
        parts.append(f"{len(report.messages)} chat messages")
    return "forgot " + ", ".join(parts)
