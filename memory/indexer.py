"""Keep the vector tier in step with SQLite: replay the index outbox, or rebuild a profile.

SQLite is the system of record. Every memory/message write queues an ``index_outbox`` row in
the same transaction; ``replay_outbox`` applies those rows to Chroma and deletes them only
once Chroma accepted the write, so a crash between the two stores is repaired on the next
replay. ``reindex`` throws a profile's collection away and rebuilds it from SQLite (also the
answer to a collection built with another embedding model). Both embed the next batch while
a background thread writes the last one to Chroma (memory.write_pipeline).

Chroma ids: ``mem:<memory id>`` and ``msg:<message id>``. A message is embedded with a little
context -- the session date and the turns just before it in its conversation -- because a
reply ("yes, last week!") often means nothing on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import chain
from typing import Any

from memory.models import Memory, Message
from memory.write_pipeline import WritePipeline

log = logging.getLogger("memchat.indexer")

MEM_PREFIX, MSG_PREFIX = "mem:", "msg:"
CONTEXT_TURNS = 2  # turns before a message embedded with it
BATCH = 512  # outbox rows / items embedded per call (bigger: less padding, fewer stalls)
MAX_ATTEMPTS = 5  # outbox rows failing this often are left for `memchat memory reindex`
EPISODE = "episode"  # the section reported for chat turns


def chroma_id(kind: str, item_id: str) -> str:
    return (MEM_PREFIX if kind == "memory" else MSG_PREFIX) + item_id


def split_id(cid: str) -> tuple[str, str]:
    """``mem:abc`` -> ("memory", "abc"); ``msg:abc`` -> ("message", "abc")."""
    if cid.startswith(MSG_PREFIX):
        return "message", cid[len(MSG_PREFIX) :]
    return "memory", cid[len(MEM_PREFIX) :] if cid.startswith(MEM_PREFIX) else cid


def day(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts).strftime("%d %B %Y").lstrip("0")
    )  # local date, as people say it


def indexable(m: Message) -> bool:
    return m.role in ("user", "assistant") and bool(m.content.strip())


def memory_doc(m: Memory) -> tuple[str, dict[str, Any]]:
    text = m.content if not m.tags else f"{m.content} ({', '.join(m.tags)})"
    meta = {
        "kind": "memory",
        "section": m.section,
        "tags": m.tags,
        "entity": m.entity_id,
        "pinned": m.pinned,
        "persistence": m.persistence,
        "conversation": m.source_conversation_id,
        "created_at": m.created_at,
    }
    return text, meta


def message_doc(m: Message, before: list[Message]) -> tuple[str, dict[str, Any]]:
    """The text embedded for a chat turn: its date, the turns before it, then the turn."""
    lines = [f"[{day(m.created_at)}]"] + [p.content for p in before[-CONTEXT_TURNS:]] + [m.content]
    meta = {
        "kind": "message",
        "section": EPISODE,
        "role": m.role,
        "conversation": m.conversation_id,
        "created_at": m.created_at,
    }
    return "\n".join(lines), meta


def _previous_turns(store, m: Message) -> list[Message]:
    from memory.rows import row_to_message

    rows = store.db.query(
        "SELECT * FROM messages WHERE conversation_id = ? AND role IN ('user', 'assistant') "
        "AND (created_at < ? OR (created_at = ? AND rowid < (SELECT rowid FROM messages WHERE id = ?))) "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (m.conversation_id, m.created_at, m.created_at, m.id, CONTEXT_TURNS),
    )
    return [row_to_message(r) for r in reversed(rows)]


def pending_count(store) -> int:
    """Outbox rows still worth replaying (a fast indexed count)."""
    return int(
        store.db.scalar("SELECT COUNT(*) FROM index_outbox WHERE attempts < ?", (MAX_ATTEMPTS,))
        or 0
    )


# ---------------------------------------------------------------------------------- replay
def replay_outbox(store, limit: int | None = None) -> int:
    """Apply pending outbox rows (every profile) to the vector tier; returns rows applied.

    Several rows for one item collapse to the last. Rows are deleted only after Chroma
    accepted the write; a failing batch gets ``attempts`` + ``last_error`` and is retried later.
    With no vector tier (no embedding model) nothing happens and the outbox is kept.
    """
    vec = store.vectors
    if vec is None:
        return 0
    applied, last_id = [0], 0
    with WritePipeline() as pipe:
        while limit is None or applied[0] < limit:
            take = BATCH if limit is None else min(BATCH, limit - applied[0])
            rows = store.db.query(
                "SELECT id, profile, kind, item_id, op FROM index_outbox WHERE id > ? "
                "AND attempts < ? ORDER BY id LIMIT ?",
                (last_id, MAX_ATTEMPTS, take),
            )
            if not rows:
                break
            last_id = rows[-1]["id"]
            by_profile: dict[str, list[dict]] = {}
            for r in rows:
                by_profile.setdefault(r["profile"], []).append(r)
            for profile, group in by_profile.items():
                _apply(store, vec, profile, group, pipe, applied)
            if limit is not None:  # the count decides the next batch: wait for this one
                pipe.finish()
    return applied[0]


def _apply(store, vec, profile: str, rows: list[dict], pipe: WritePipeline, applied: list[int]):
    outbox_ids = [r["id"] for r in rows]

    def done(_result=None) -> None:
        _done(store, outbox_ids)
        applied[0] += len(rows)

    def failed(e: Exception) -> None:  # keep the rows, note why, carry on with other profiles
        log.warning("vector index write failed for %d outbox rows: %s", len(rows), e)
        _mark_failed(store, outbox_ids, f"{type(e).__name__}: {e}")

    try:
        if vec.model_mismatch(profile):  # built with another model: rebuild the whole profile
            log.warning(
                "profile %s was indexed with another embedding model; re-embedding", profile
            )
            pipe.finish()
            reindex(store.for_profile(profile) if profile != store.profile else store)
            done()
            return
        last: dict[tuple[str, str], str] = {}
        for r in rows:  # collapse to the last op per item
            last.pop((r["kind"], r["item_id"]), None)
            last[(r["kind"], r["item_id"])] = r["op"]
        upserts, deletes = _plan(store, last)
        embedded = vec.embed_items(upserts) if upserts else None
    except Exception as e:  # noqa: BLE001
        failed(e)
        return

    def write() -> None:
        if deletes:
            vec.delete(profile, deletes)
        if embedded is not None:
            vec.upsert_vectors(profile, *embedded)

    pipe.submit(write, done, failed)


def _plan(store, last: dict[tuple[str, str], str]) -> tuple[list[tuple[str, str, dict]], list[str]]:
    mem_ids = [i for (k, i), op in last.items() if k == "memory" and op == "upsert"]
    msg_ids = [i for (k, i), op in last.items() if k == "message" and op == "upsert"]
    mems = store.memories.get_many(mem_ids) if mem_ids else {}
    msgs = store.chats.messages_by_ids(msg_ids) if msg_ids else {}
    upserts: list[tuple[str, str, dict]] = []
    deletes: list[str] = []
    for (kind, item_id), op in last.items():
        cid = chroma_id(kind, item_id)
        if kind == "memory":
            m = mems.get(item_id)
            if op == "upsert" and m is not None and m.is_live:
                upserts.append((cid, *memory_doc(m)))
            else:
                deletes.append(cid)
        else:
            msg = msgs.get(item_id)
            if op == "upsert" and msg is not None and indexable(msg):
                upserts.append((cid, *message_doc(msg, _previous_turns(store, msg))))
            else:
                deletes.append(cid)
    return upserts, deletes


def _done(store, ids: list[int]) -> None:
    with store.db.tx() as conn:
        conn.executemany("DELETE FROM index_outbox WHERE id = ?", [(i,) for i in ids])


def _mark_failed(store, ids: list[int], error: str) -> None:
    with store.db.tx() as conn:
        conn.executemany(
            "UPDATE index_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            [(error[:500], i) for i in ids],
        )


# ---------------------------------------------------------------------------------- reindex
def _live_memories(store) -> Iterable[Memory]:
    from memory.rows import row_to_memory

    where, params = store.memories._where(store.profile, None, "active", False)
    for r in store.db.query(f"SELECT * FROM memories WHERE {where} ORDER BY created_at", params):
        yield row_to_memory(r)


def _message_docs(store) -> Iterable[tuple[str, str, dict]]:
    convs = [
        r["conversation_id"]
        for r in store.db.query(
            "SELECT DISTINCT conversation_id FROM messages WHERE profile = ?", (store.profile,)
        )
    ]
    for cid in convs:
        turns = [m for m in store.chats.messages(cid) if indexable(m)]
        for i, m in enumerate(turns):
            yield (
                chroma_id("message", m.id),
                *message_doc(m, turns[max(0, i - CONTEXT_TURNS) : i]),
            )


def reindex(store, progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild this profile's collection from SQLite; returns how many items were indexed.

    Drops the collection first, so a collection built with another embedding model (or a
    deleted Chroma directory) is simply re-embedded. Outbox rows of this profile that existed
    when the rebuild started are cleared: the rebuild covers them.
    """
    vec = store.vectors
    if vec is None:
        return 0
    high = int(
        store.db.scalar(
            "SELECT COALESCE(MAX(id), 0) FROM index_outbox WHERE profile = ?", (store.profile,)
        )
        or 0
    )
    total = store.memories.count(store.profile) + int(
        store.db.scalar(
            "SELECT COUNT(*) FROM messages WHERE profile = ? AND role IN ('user', 'assistant') "
            "AND trim(content) != ''",
            (store.profile,),
        )
        or 0
    )
    vec.reset(store.profile)
    done, batch = [0], []
    if progress:
        progress(0, total)
    items = chain(
        ((chroma_id("memory", m.id), *memory_doc(m)) for m in _live_memories(store)),
        _message_docs(store),
    )

    def flush(pipe: WritePipeline, batch: list) -> None:
        embedded = vec.embed_items(batch)  # while the previous batch is written

        def written(_result=None, n: int = len(embedded[0])) -> None:
            done[0] += n
            if progress:
                progress(done[0], total)

        pipe.submit(lambda: vec.upsert_vectors(store.profile, *embedded), written)

    with WritePipeline() as pipe:
        for item in items:
            batch.append(item)
            if len(batch) >= BATCH:
                flush(pipe, batch)
                batch = []
        if batch:
            flush(pipe, batch)
    if progress:
        progress(done[0], max(total, done[0]))
    with store.db.tx() as conn:
        conn.execute(
            "DELETE FROM index_outbox WHERE profile = ? AND id <= ?", (store.profile, high)
        )
    return done[0]
