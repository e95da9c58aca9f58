"""Keep the vector tier in step with SQLite: replay the index outbox, or rebuild a profile.

SQLite is the system of record. Every memory/message write queues an ``index_outbox`` row in
the same transaction; ``replay_outbox`` applies those rows to Chroma and deletes them only
once Chroma accepted the write, so a crash between the two stores is repaired on the next
replay. Both embed the next batch while a background thread writes the last one to Chroma
(memory.vectors.write_pipeline).

``reindex`` rebuilds a profile from SQLite (also the answer to a collection built with
another embedding model) without ever leaving recall on a half-built index:

1. it records a new collection name as ``building`` in SQLite (``memory.vectors.state``),
   with the outbox high-water mark, and holds a per-profile rebuild lock file while it runs;
2. it fills that collection from SQLite; meanwhile recall keeps using the previous
   collection, and ``replay_outbox`` applies the profile's deletes to it at once but keeps
   every row of the profile in the outbox (whether a row waits is decided under the Chroma
   lock the rebuild was recorded under, so no write falls between the two collections);
3. when it is complete it switches the live pointer (one SQLite transaction, under the Chroma
   lock), deletes the outbox rows the rebuild covered, replays the rest, and deletes the
   previous collection and its folder on disk.

A rebuild that is killed leaves ``building`` set and nobody holding its lock: that is
"rebuild incomplete" in ``vector_health`` (doctor: WARN, fix `memchat memory reindex`), and
the next ``reindex`` -- the CLI, or the worker's reconcile job via ``resume_rebuilds`` --
continues into the same collection, embedding only what it does not hold yet.

``vector_health`` is the one place that says how many vectors there should be
(``expected_count``: live memories plus non-empty chat turns, exactly what a rebuild indexes)
and compares it with Chroma; doctor, the inspector and the worker all read it.

Chroma ids: ``mem:<memory id>`` and ``msg:<message id>``. A message is embedded with a little
context -- the session date and the turns just before it in its conversation -- because a
reply ("yes, last week!") often means nothing on its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memory.models import Memory, Message, VectorHealth
from memory.vectors.write_pipeline import WritePipeline

if TYPE_CHECKING:
    from memory.sqlite.db import Database
    from memory.sqlite.long_term import LongTermMemories

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
    """The text embedded for a memory and its metadata, made of VECTOR_FIELDS only: an update
    of any other field queues no re-embedding (memory.sqlite.long_term)."""
    text = m.content if not m.tags else f"{m.content} ({', '.join(m.tags)})"
    meta = {
        "kind": "memory",
        "section": m.section,
        "tags": m.tags,
        "entity": m.entity_id,
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
    from memory.sqlite.rows import row_to_message

    rows = store.db.query(
        "SELECT * FROM messages WHERE conversation_id = ? AND role IN ('user', 'assistant') "
        "AND (created_at < ? OR (created_at = ? AND rowid < (SELECT rowid FROM messages WHERE id = ?))) "
        "ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (m.conversation_id, m.created_at, m.created_at, m.id, CONTEXT_TURNS),
    )
    return [row_to_message(r) for r in reversed(rows)]


def pending_count(store, profile: str | None = None) -> int:
    """Outbox rows still worth replaying (a fast indexed count), of one profile or all."""
    sql = "SELECT COUNT(*) FROM index_outbox WHERE attempts < ?"
    params: list[Any] = [MAX_ATTEMPTS]
    if profile is not None:
        sql += " AND profile = ?"
        params.append(profile)
    return int(store.db.scalar(sql, tuple(params)) or 0)


def expected_count(db: Database, memories: LongTermMemories, profile: str) -> int:
    """How many vectors the profile's index should hold: what a rebuild indexes (live
    memories and non-empty user/assistant turns). The one place this is computed."""
    turns = db.scalar(
        "SELECT COUNT(*) FROM messages WHERE profile = ? AND role IN ('user', 'assistant') "
        "AND trim(content) != ''",
        (profile,),
    )
    return memories.count(profile) + int(turns or 0)


# ---------------------------------------------------------------------------------- locks
def _rebuild_lock_path(store, profile: str) -> Path:
    digest = hashlib.sha1(profile.encode("utf-8")).hexdigest()[:12]
    return Path(store.settings.home) / "locks" / f"vector-rebuild-{digest}.lock"


@contextmanager
def _rebuild_lock(store, profile: str, *, wait: bool) -> Iterator[bool]:
    """Held by the process rebuilding ``profile`` (released by the kernel if it dies).
    Yields False when ``wait`` is off and another process holds it."""
    path = _rebuild_lock_path(store, profile)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def rebuild_running(store, profile: str) -> bool:
    """Whether a live process is rebuilding ``profile`` right now."""
    with _rebuild_lock(store, profile, wait=False) as got:
        return not got


# ---------------------------------------------------------------------------------- health
def vector_health(store) -> VectorHealth:
    """The vector index of ``store.profile`` against SQLite: see ``VectorHealth``."""
    h = VectorHealth(
        profile=store.profile,
        expected=expected_count(store.db, store.memories, store.profile),
        pending=pending_count(store, store.profile),
    )
    try:
        vec = store.vectors
    except Exception as e:  # noqa: BLE001 - reported, not raised
        h.error = f"{type(e).__name__}: {e}"
        return h
    if vec is None:
        h.error = "no embedding model: recall uses full-text search only"
        return h
    h.where = vec.url or str(vec.path)
    h.model, h.dim = vec.embedder.name, int(vec.embedder.dim)
    state = store.vector_states.get(store.profile)
    h.collection = state.active
    if state.building:
        h.rebuilding = True
        h.rebuild_started_at = state.started_at
        h.rebuild_alive = rebuild_running(store, store.profile)
    try:
        h.actual = vec.count(store.profile)
        h.model_mismatch = vec.model_mismatch(store.profile)
        if state.building:
            h.rebuild_done = vec.count(store.profile, collection=state.building)
    except Exception as e:  # noqa: BLE001 - a broken index is what this reports
        h.actual = None
        h.error = f"{type(e).__name__}: {e}"
    return h


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


class RebuildInProgress(Exception):
    """The profile is being rebuilt: its outbox rows wait for the new collection."""


def _apply(store, vec, profile: str, rows: list[dict], pipe: WritePipeline, applied: list[int]):
    outbox_ids = [r["id"] for r in rows]

    def done(_result=None) -> None:
        _done(store, outbox_ids)
        applied[0] += len(rows)

    def failed(e: Exception) -> None:  # keep the rows, note why, carry on with other profiles
        if isinstance(e, RebuildInProgress):
            return  # kept for the switch; not a failure
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
        building = store.vector_states.get(profile).building
        embedded = vec.embed_items(upserts) if upserts and not building else None
    except Exception as e:  # noqa: BLE001
        failed(e)
        return

    def write() -> None:
        # Decided under the lock a rebuild starts under: a row is either written before the
        # rebuild reads SQLite, or kept for after its switch, never lost in between.
        with vec.exclusive():
            if deletes:  # gone from the live collection at once, even while rebuilding
                vec.delete(profile, deletes)
            if store.vector_states.get(profile).building:
                raise RebuildInProgress(profile)  # the rows stay for the new collection
            if embedded is None and upserts:
                raise RebuildInProgress(profile)  # planned during a rebuild just finished
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
    from memory.sqlite.rows import row_to_memory

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


def reindex(store, progress: Callable[[int, int], None] | None = None, *, wait: bool = True) -> int:
    """Rebuild this profile's vectors from SQLite into a new collection and switch it in;
    returns how many items the new collection holds (see the module doc).

    A rebuild left incomplete by a killed process is continued, not restarted. With ``wait``
    off, returns -1 at once when another process is rebuilding this profile.
    """
    from memory.vectors.index import build_name

    vec = store.vectors
    if vec is None:
        return 0
    profile, states = store.profile, store.vector_states
    with _rebuild_lock(store, profile, wait=wait) as got:
        if not got:
            return -1
        state = states.get(profile)
        name, have = state.building, set()
        if (
            name
            and vec.collection_exists(name)
            and not vec.model_mismatch(profile, collection=name)
        ):
            have = vec.ids(profile, collection=name)  # resume: embed only what is missing
            log.info(
                "continuing the rebuild of %s (%d vectors already in %s)", profile, len(have), name
            )
        else:
            if name:
                state.old.append(name)
            name = build_name(profile)
            state.building, state.started_at = name, time.time()
            with vec.exclusive():  # no outbox write lands in the old collection after this
                state.high = int(
                    store.db.scalar(
                        "SELECT COALESCE(MAX(id), 0) FROM index_outbox WHERE profile = ?",
                        (profile,),
                    )
                    or 0
                )
                states.put(profile, state)
        vec.create_collection(name)
        n = _fill(store, vec, name, have, progress)

        def switch() -> None:
            with store.db.tx() as conn:
                current = states.get(profile)
                if current.active != name:
                    current.old.append(current.active)
                current.active, current.building, current.started_at = name, None, None
                states.put(profile, current, conn)
                conn.execute(
                    "DELETE FROM index_outbox WHERE profile = ? AND id <= ?", (profile, state.high)
                )

        vec.activate(profile, switch)
    replay_outbox(store)  # writes made while it was building
    drop_replaced(store)
    return n


def drop_replaced(store) -> int:
    """Delete collections a rebuild replaced (and their folders); returns folders removed."""
    vec, states = store.vectors, store.vector_states
    if vec is None:
        return 0
    state = states.get(store.profile)
    if not state.old:
        return vec.drop_collections([])  # still sweep folders left by older versions
    old = [n for n in state.old if n not in (state.active, state.building)]
    removed = vec.drop_collections(old)
    gone = [n for n in old if n not in vec.undroppable]  # the rest is retried next time
    state = states.get(store.profile)
    state.old = [n for n in state.old if n not in gone]
    states.put(store.profile, state)
    return removed


def resume_rebuilds(store) -> dict[str, int]:
    """Finish rebuilds left incomplete by a killed process (the worker runs this);
    returns {profile: items indexed}. Rebuilds another live process is running are skipped."""
    done: dict[str, int] = {}
    if store.vectors is None:
        return done
    for profile in store.vector_states.building():
        ps = store if profile == store.profile else store.for_profile(profile)
        if rebuild_running(ps, profile):
            continue
        log.warning("finishing the incomplete vector rebuild of profile %s", profile)
        n = reindex(ps, wait=False)
        if n >= 0:
            done[profile] = n
    return done


def _fill(store, vec, name: str, have: set[str], progress) -> int:
    """Embed and write every item of the profile not in ``have`` into collection ``name``."""
    total = expected_count(store.db, store.memories, store.profile)
    done = [0]
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

        pipe.submit(lambda: vec.upsert_vectors(store.profile, *embedded, collection=name), written)

    batch: list = []
    with WritePipeline() as pipe:
        for item in items:
            if item[0] in have:
                done[0] += 1
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                flush(pipe, batch)
                batch = []
        if batch:
            flush(pipe, batch)
    if progress:
        progress(done[0], max(total, done[0]))
    return done[0]
