"""MemoryStore: the one facade the assistant, the worker, the CLI and the TUI call.

It owns the SQLite long-term tier (system of record), the Redis short-term tier (embedded
server, ``REDIS_URL``, or SQLite when neither can be had) and, lazily, the vector tier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from memory.config import Settings, load_settings
from memory.ephemeral import Ephemeral
from memory.errors import ShortTermUnavailable
from memory.fsutil import open_data_dir
from memory.models import (
    SECTIONS,
    Conversation,
    DeferredJob,
    HealthCheck,
    HistoryEntry,
    Memory,
    Message,
    RecallConsidered,
    RecallFilters,
    RecallHit,
    ReplyVersion,
    ReplyVersions,
    ShortTermStatus,
    TierStats,
    VectorHealth,
    now,
)
from memory.shortterm.tiers import RedisShortTerm, ResilientShortTerm, SqliteShortTerm
from memory.sqlite.chats import Chats
from memory.sqlite.db import Database
from memory.sqlite.deferred import DeferredJobs
from memory.sqlite.long_term import LongTermMemories

if TYPE_CHECKING:
    from memory.facades import Browse, Consolidation, Curation, Forgetting, Transfer
    from memory.health import Health

log = logging.getLogger("memchat.store")


def _connect_short_term(
    settings: Settings, db: Database, start_redis: bool
) -> tuple[ResilientShortTerm, Any, list[str]]:
    """Pick the short-term backend; returns it, the embedded server handle (or None) and warnings."""
    warnings: list[str] = []
    fallback = SqliteShortTerm(db)
    if settings.redis_url:
        import redis  # ~0.15 s: only when a Redis is used (`memory list` reads SQLite alone)

        primary = RedisShortTerm(settings.redis_url)
        try:
            primary.ping()
        except (redis.RedisError, OSError) as e:
            warnings.append(
                f"REDIS_URL {settings.redis_url} is unreachable ({e}); short-term memory is kept in "
                "SQLite until it answers. Start that server or unset REDIS_URL to use the embedded one."
            )
        return ResilientShortTerm(primary, fallback, "redis-url"), None, warnings
    if not start_redis:
        return ResilientShortTerm(None, fallback, "sqlite"), None, warnings
    from memory.shortterm.embedded_server import EmbeddedRedis

    server = EmbeddedRedis(settings.home)
    try:
        url = server.ensure_running()
        server.attach()
    except ShortTermUnavailable as e:
        from memory.shortterm.embedded_server import DamagedAOF

        damaged = isinstance(e, DamagedAOF)  # its message says what to do, SQLite included
        warnings.append(
            str(e) if damaged else f"{e}; short-term memory is kept in SQLite meanwhile"
        )
        short = ResilientShortTerm(None, fallback, "sqlite")
        short.degraded_reason, short.startup_error = str(e), e
        return short, None, warnings
    return (
        ResilientShortTerm(RedisShortTerm(url), fallback, "embedded", restart=server.attach),
        server,
        warnings,
    )


def validate_scope(scope: str) -> str:
    """A memory scope: "global", "project:<name>" or "conversation:<id>"."""
    kind, sep, name = scope.partition(":")
    if scope == "global" or (sep and name.strip() and kind in ("project", "conversation")):
        return scope
    raise ValueError(f"unknown scope {scope!r}: use global, project:<name> or conversation:<id>")


class MemoryStore:
    """Both memory tiers behind one profile-scoped API."""

    db: Database
    short: ResilientShortTerm
    ephemeral: Ephemeral
    warnings: list[str]
    _server: Any  # the embedded Valkey this store started, if any
    _parent: MemoryStore | None  # the store whose connections a for_profile() copy shares

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        profile: str | None = None,
        start_redis: bool = True,
        _shared: MemoryStore | None = None,
    ):
        self.settings = settings or load_settings()
        self.profile = profile or self.settings.profile
        if _shared is not None:  # another profile over the same connections
            self.db, self.short, self._server, self.warnings = _shared.db, _shared.short, None, []
            self.ephemeral = _shared.ephemeral
            self._parent = _shared
        else:
            open_warning = open_data_dir(self.settings.home)
            self.db = Database(self.settings.db_path)
            self.short, self._server, self.warnings = _connect_short_term(
                self.settings, self.db, start_redis
            )
            if open_warning:
                self.warnings.insert(0, open_warning)
            # incognito conversations: in this process only, never in any tier (memory.ephemeral)
            self.ephemeral = Ephemeral()
            self._parent = None
        self.memories = LongTermMemories(self.db)
        self.chats = Chats(self.db)
        self.deferred = DeferredJobs(self.db)
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings | None = None, **kw: Any) -> MemoryStore:
        return cls(settings, **kw)

    def for_profile(self, profile: str) -> MemoryStore:
        """The same store seen from another profile (shares connections and servers)."""
        return MemoryStore(
            self.settings.model_copy(update={"profile": profile}), profile=profile, _shared=self
        )

    def close(self) -> None:
        if self._closed or self._parent is not None:
            return
        self._closed = True
        try:  # keep durable copies of the short-term data this process worked with
            self.sync_commands()
            for session, _at in self.active_sessions()[:50]:
                self.sync_session_state(session)
        except Exception as e:  # noqa: BLE001 - closing must not raise
            log.warning("could not sync short-term memory on exit: %s", e)
        if self._server is not None:
            try:
                self._server.release()
            except Exception as e:  # noqa: BLE001 - closing must not raise
                log.warning("could not stop the embedded Redis cleanly: %s", e)
        self.db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _ttl(self) -> float:
        return self.settings.memory.session_ttl_hours * 3600

    # ------------------------------------------------------------------ memories
    def add_memory(
        self,
        content: str,
        *,
        section: str = "facts",
        actor: str = "user",
        reason: str = "",
        **fields: Any,
    ) -> Memory:
        content = content.strip()
        if not content:
            raise ValueError("a memory needs some text")
        if section == "temporary" and "expires_at" not in fields:
            fields["expires_at"] = now() + self.settings.memory.temporary_ttl_seconds
            fields.setdefault("persistence", "temporary")
        if self.settings.memory.review and actor.startswith("worker"):
            fields.setdefault("status", "pending")
        validate_scope(fields.get("scope", "global"))
        m = Memory(content=content, section=section, profile=self.profile, **fields)
        return self.memories.add(m, actor=actor, reason=reason)

    def add_temporary(
        self, content: str, seconds: float, *, section: str = "temporary", **fields: Any
    ) -> Memory:
        """A memory recalled for ``seconds`` from now, then not (``expire_temporaries`` retires
        it). ``memory add --for 2h`` and the inspector's short-term tab make these."""
        if seconds <= 0:
            raise ValueError("a temporary memory needs a lifetime above zero")
        fields.setdefault("persistence", "temporary")
        return self.add_memory(content, section=section, expires_at=now() + seconds, **fields)

    def expiring_memories(self, limit: int = 50) -> list[Memory]:
        """Live memories that have an expiry, the soonest first (the short-term tab's list)."""
        return self.memories.expiring(self.profile, limit=limit)

    def get_memory(self, memory_id: str) -> Memory:
        return self.memories.get(memory_id, self.profile)

    def update_memory(
        self, memory_id: str, *, actor: str = "user", reason: str = "", **changes: Any
    ) -> Memory:
        return self.memories.update(memory_id, self.profile, actor=actor, reason=reason, **changes)

    def delete_memory(self, memory_id: str, *, actor: str = "user", reason: str = "") -> Memory:
        return self.memories.delete(memory_id, self.profile, actor=actor, reason=reason)

    def restore_memory(self, memory_id: str, *, actor: str = "user") -> Memory:
        return self.memories.restore(memory_id, self.profile, actor=actor)

    def pin_memory(self, memory_id: str, pinned: bool = True, *, actor: str = "user") -> Memory:
        return self.memories.pin(memory_id, self.profile, pinned, actor=actor)

    def supersede_memory(
        self, old_id: str, content: str, *, actor: str = "worker", reason: str = "", **fields: Any
    ) -> Memory:
        old = self.get_memory(old_id)
        fields.setdefault("section", old.section)
        new = Memory(content=content, profile=self.profile, **fields)
        return self.memories.supersede(old.id, new, actor=actor, reason=reason)

    def list_memories(
        self,
        *,
        section: str | None = None,
        status: str | None = "active",
        limit: int = 100,
        offset: int = 0,
        order: str = "updated_at DESC",
    ) -> list[Memory]:
        return self.memories.list(
            self.profile, section=section, status=status, limit=limit, offset=offset, order=order
        )

    def count_memories(self, *, section: str | None = None, status: str | None = "active") -> int:
        return self.memories.count(self.profile, section=section, status=status)

    def memories_from_conversation(self, conversation_id: str) -> list[Memory]:
        """This profile's live memories (active or pending) that came from a conversation
        (``source_conversation_id``), pinned first: what deleting it could forget too."""
        return self.memories.from_conversation(self.profile, conversation_id)

    def get_memories(self, ids: list[str]) -> dict[str, Memory]:
        """The memories of this profile among ``ids`` (any status), by id; unknown ids are left out."""
        return {i: m for i, m in self.memories.get_many(ids).items() if m.profile == self.profile}

    def memory_history(self, memory_id: str) -> list[HistoryEntry]:
        return self.memories.history(self.get_memory(memory_id).id)

    def search_memories(self, query: str, *, limit: int = 20) -> list[tuple[Memory, float]]:
        """Lexical search over live memories (BM25; higher is better)."""
        return self.memories.search(self.profile, query, limit=limit)

    # ------------------------------------------------------------------ preferences
    def set_preference(self, key: str, value: str, *, actor: str = "user") -> Memory:
        existing = self.memories.find_by_key(self.profile, "preferences", key)
        content = f"{key}: {value}"
        if existing:
            m = self.update_memory(
                existing.id, actor=actor, reason="preference changed", value=value, content=content
            )
        else:
            m = self.add_memory(content, section="preferences", key=key, value=value, actor=actor)
        return m

    def preferences(self) -> dict[str, str]:
        """All live preferences: from the short-term cache while it is current, else SQLite
        (and then cached). The cache is stamped with the memories' generation (every write
        moves it on, kept by SQLite triggers) and the soonest expiry among them, and checked
        on every read: no write path has to remember to drop it."""
        generation = self.memories.generation(self.profile)
        hit = self.short.cached_prefs(self.profile)
        if hit is not None:
            stamp, prefs = hit
            gen, _, until = stamp.partition(" ")
            if gen == str(generation) and (not until or float(until) > now()):
                return prefs
        mems = [m for m in self.list_memories(section="preferences", limit=10_000) if m.key]
        prefs = {m.key: m.value or "" for m in mems}
        until = min((m.expires_at for m in mems if m.expires_at), default=None)
        self.short.cache_prefs(self.profile, prefs, f"{generation} {until or ''}".strip())
        return prefs

    def get_preference(self, key: str, default: str | None = None) -> str | None:
        return self.preferences().get(key, default)

    # ------------------------------------------------------------------ session state and temporaries
    def set_session_state(self, session: str, **values: Any) -> None:
        self.short.set_state(self.profile, session, values, self._ttl)

    def get_session_state(self, session: str) -> dict[str, Any]:
        state = self.short.get_state(self.profile, session)
        if not state and not self.short.degraded:
            durable = self.short.fallback.get_state(self.profile, session)
            if durable:  # synced copy from an earlier run: warm Redis again
                self.short.set_state(self.profile, session, durable, self._ttl)
                return durable
        return state

    def sync_session_state(self, session: str) -> None:
        """Copy a session's Redis state into SQLite (kept by the sync job)."""
        state = self.short.get_state(self.profile, session)
        if state:
            self.short.fallback.set_state(self.profile, session, state, self._ttl)

    def set_temporary(self, key: str, value: str, ttl: float | None = None) -> None:
        self.short.set_temp(
            self.profile, key, value, ttl or self.settings.memory.temporary_ttl_seconds
        )

    def get_temporary(self, key: str) -> str | None:
        return self.short.get_temp(self.profile, key)

    def temporaries(self) -> list[tuple[str, str, float | None]]:
        return self.short.temp_items(self.profile)

    def active_sessions(self) -> list[tuple[str, float]]:
        return self.short.active_sessions(self.profile)

    COMMANDS_KEPT = 500

    def push_command(self, text: str, conversation_id: str | None = None) -> None:
        """Remember a prompt for up-arrow recall (Redis; `sync_commands` keeps a SQLite copy).

        A prompt sent in an incognito conversation (``conversation_id``) is never kept."""
        if text.strip() and not self.ephemeral.has_conversation(conversation_id):
            self.short.push_command(self.profile, text, self.COMMANDS_KEPT)

    def commands(self, n: int = 100) -> list[str]:
        """Earlier prompts, oldest first: Redis, else the durable copy (which refills Redis)."""
        got = self.short.commands(self.profile, n)
        if got or self.short.degraded:
            return got
        durable = self.short.fallback._get(self.profile, "command_history") or []
        for text in durable:
            self.short.push_command(self.profile, text, self.COMMANDS_KEPT)
        return durable[-n:]

    def sync_commands(self) -> int:
        """Copy the prompt history from Redis into SQLite (run by the sync job and on exit)."""
        if self.short.degraded:
            return 0
        got = self.short.commands(self.profile, self.COMMANDS_KEPT)
        if got:
            self.short.fallback._set(self.profile, "command_history", got, None)
        return len(got)

    # ------------------------------------------------------------------ conversations and messages
    def new_conversation(
        self,
        title: str = "",
        *,
        model: str | None = None,
        system_prompt: str | None = None,
        incognito: bool = False,
        project: str | None = None,
        memory_off: bool = False,
    ) -> Conversation:
        """A new conversation. ``incognito``: it and its messages live in this process's
        memory only (memory.ephemeral) -- never in SQLite, Redis, Chroma or a log.
        ``memory_off``: nothing is recalled into its prompts or learned from its turns."""
        c = Conversation(
            profile=self.profile,
            title=title,
            model=model,
            system_prompt=system_prompt,
            incognito=incognito,
            project=project,
            memory_off=memory_off,
        )
        return self.ephemeral.create(c) if incognito else self.chats.create(c)

    def profiles(self) -> list[str]:
        """Every profile with data in any table, plus this one."""
        rows = self.db.query(
            "SELECT profile FROM memories UNION SELECT profile FROM conversations"
            " UNION SELECT profile FROM messages UNION SELECT profile FROM index_outbox"
            " UNION SELECT profile FROM job_outbox"
        )
        return sorted({r["profile"] for r in rows} | {self.profile})

    # ------------------------------------------------------------------ deferred jobs
    def defer_job(self, name: str, args: list[Any], key: str | None = None) -> int:
        """Keep a background job in SQLite until the queue can take it (see memory.sqlite.deferred)."""
        return self.deferred.add(self.profile, name, args, key)

    def deferred_jobs(self, *, all_profiles: bool = True, limit: int = 500) -> list[DeferredJob]:
        return self.deferred.pending(profile=None if all_profiles else self.profile, limit=limit)

    def deferred_count(self, *, all_profiles: bool = False) -> int:
        return self.deferred.count(None if all_profiles else self.profile)

    def deferred_done(self, job: DeferredJob) -> bool:
        return self.deferred.done(job)

    def get_conversation(self, conversation_id: str) -> Conversation:
        if self.ephemeral.has_conversation(conversation_id):
            return self.ephemeral.get(conversation_id, self.profile)
        return self.chats.get(conversation_id, self.profile)

    def list_conversations(
        self, *, archived: bool | None = False, limit: int = 200
    ) -> list[Conversation]:
        return self.chats.list(self.profile, archived=archived, limit=limit)

    def update_conversation(self, conversation_id: str, **changes: Any) -> Conversation:
        if self.ephemeral.has_conversation(conversation_id):
            return self.ephemeral.update(conversation_id, self.profile, **changes)
        return self.chats.update(conversation_id, self.profile, **changes)

    def delete_conversation(self, conversation_id: str) -> int:
        if self.ephemeral.has_conversation(conversation_id):
            self.ephemeral.get(conversation_id, self.profile)  # this profile's, or NotFound
            return self.ephemeral.drop(conversation_id)
        c = self.get_conversation(conversation_id)
        self.short.end_session(self.profile, c.id)
        return self.chats.delete(c.id, self.profile)

    def add_message(self, conversation_id: str, role: str, content: str, **fields: Any) -> Message:
        """Store a chat turn in SQLite first (durable), then in the session's recent turns
        (an incognito conversation's turn: in this process's memory only)."""
        m = Message(
            conversation_id=conversation_id,
            role=role,
            content=content,
            profile=self.profile,
            **fields,
        )
        if self.ephemeral.has_conversation(conversation_id):
            return self.ephemeral.add_message(m)
        m = self.chats.add_message(m)
        self._push_turn(m)
        return m

    def update_message(self, message_id: str, **changes: Any) -> Message:
        if self.ephemeral.has_message(message_id):
            return self.ephemeral.update_message(message_id, self.profile, **changes)
        m = self.chats.update_message(message_id, self.profile, **changes)
        if "content" in changes or "status" in changes:
            self._refresh_turns(m.conversation_id)
        return m

    def checkpoint_message(self, message_id: str, content: str) -> None:
        """Save a streaming reply's text so far (SQLite only, cheap): a crash keeps it as 'partial'.
        (The connection redacts it, as every write: see memory.sqlite.db.)"""
        if self.ephemeral.has_message(message_id):
            self.ephemeral.update_message(message_id, self.profile, content=content)
            return
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE messages SET content = ? WHERE id = ? AND profile = ?",
                (content, message_id, self.profile),
            )

    def delete_messages(self, message_ids: list[str]) -> None:
        """Delete chat turns (e.g. a reply being regenerated); their sessions' recent turns refill."""
        conversations = set()
        for mid in message_ids:
            if self.ephemeral.has_message(mid):
                self.ephemeral.delete_message(mid, self.profile)
                continue
            m = self.chats.get_message(mid, self.profile)
            self.chats.delete_message(m.id, self.profile)
            conversations.add(m.conversation_id)
        for cid in conversations:
            self._refresh_turns(cid)

    def _push_turn(self, m: Message) -> None:
        """Copy a stored turn into the session's recent turns: best effort, since the turn is
        already durable in SQLite (a caller told "it failed" would store it twice on retry)."""
        try:
            self.short.push_turn(
                self.profile,
                m.conversation_id,
                {"id": m.id, "role": m.role, "content": m.content, "at": m.created_at},
                self.settings.memory.recent_turns,
                self._ttl,
            )
        except Exception as e:  # noqa: BLE001 - recent turns are rebuilt from SQLite on demand
            log.warning("recent turns of %s not updated: %s", m.conversation_id, e)

    def _refresh_turns(self, conversation_id: str) -> None:
        try:
            self.short.end_session(self.profile, conversation_id)
        except Exception as e:  # noqa: BLE001 - as in _push_turn
            log.warning("recent turns of %s not cleared: %s", conversation_id, e)
        for m in self.chats.messages(conversation_id, limit=self.settings.memory.recent_turns):
            self._push_turn(m)

    # ------------------------------------------------------------------ reply versions
    def keep_reply_version(self, prompt_id: str, reply: Message) -> None:
        """Keep a reply about to be regenerated as an earlier version of the answer to
        ``prompt_id`` (an incognito chat keeps none: it keeps nothing)."""
        if self.ephemeral.has_message(reply.id):
            return
        self.chats.keep_reply_version(self.profile, prompt_id, reply)

    def reply_versions(self, prompt_id: str, reply_id: str | None = None) -> ReplyVersions:
        """Every answer to ``prompt_id``, oldest first, and which one the live reply
        ``reply_id`` shows."""
        live = None
        if reply_id is not None and not self.ephemeral.has_message(reply_id):
            live = self.chats.get_message(reply_id, self.profile)
        elif reply_id is not None:
            live = self.ephemeral.get_message(reply_id, self.profile)
            return ReplyVersions(prompt_id, [_live_version(live)], 0)
        return self.chats.reply_versions(self.profile, prompt_id, live)

    def select_reply_version(self, prompt_id: str, reply_id: str, version_id: str) -> Message:
        """Show version ``version_id`` in the live reply ``reply_id`` (its text then goes into
        the next prompts, as in ChatGPT); the answer it showed stays a version."""
        live = self.chats.get_message(reply_id, self.profile)
        with self.atomic():
            fields = self.chats.select_reply_version(self.profile, prompt_id, live, version_id)
            return self.update_message(live.id, **fields)

    def versioned_prompts(self, conversation_id: str) -> list[str]:
        """The prompts of a conversation that have more than one answer kept."""
        if self.ephemeral.has_conversation(conversation_id):
            return []
        return self.chats.versioned_prompts(self.profile, conversation_id)

    def drop_reply_versions(self, prompt_id: str) -> None:
        """Forget the earlier answers to a prompt (it was edited: they answer another text)."""
        if self.ephemeral.has_message(prompt_id):
            return  # an incognito chat keeps none
        self.chats.drop_reply_versions(self.profile, prompt_id)

    def get_message(self, message_id: str) -> Message:
        if self.ephemeral.has_message(message_id):
            return self.ephemeral.get_message(message_id, self.profile)
        return self.chats.get_message(message_id, self.profile)

    def messages_by_ids(self, ids: list[str]) -> dict[str, Message]:
        """The chat turns of this profile among ``ids``, by id; unknown ids are left out."""
        found = self.chats.messages_by_ids(ids)
        return {i: m for i, m in found.items() if m.profile == self.profile}

    def messages(self, conversation_id: str, *, limit: int | None = None) -> list[Message]:
        if self.ephemeral.has_conversation(conversation_id):
            return self.ephemeral.messages(conversation_id, limit=limit)
        return self.chats.messages(conversation_id, limit=limit)

    def recent_turns(self, conversation_id: str, n: int = 20) -> list[dict[str, Any]]:
        """The last ``n`` turns: Redis when it has them, else SQLite (and Redis is refilled)."""
        if self.ephemeral.has_conversation(conversation_id):
            return [
                {"id": m.id, "role": m.role, "content": m.content, "at": m.created_at}
                for m in self.ephemeral.messages(conversation_id, limit=n)
            ]
        turns = self.short.recent_turns(self.profile, conversation_id, n)
        if turns:
            # A reply cut off by a crash: its copy here holds the first chunk only (streaming
            # checkpoints go to SQLite), so take the text SQLite kept.
            cut = self.chats.partial_texts([t.get("id") for t in turns if t.get("id")])
            for t in turns:
                if t.get("id") in cut:
                    t["content"] = cut[t["id"]]
            return turns
        msgs = self.chats.messages(conversation_id, limit=n)
        if msgs and not self.short.degraded:
            for m in msgs:
                self._push_turn(m)
        return [
            {"id": m.id, "role": m.role, "content": m.content, "at": m.created_at} for m in msgs
        ]

    def search_messages(self, query: str, *, limit: int = 20) -> list[tuple[Message, float]]:
        return self.chats.search_messages(self.profile, query, limit=limit)

    # ------------------------------------------------------------------ vectors and recall
    @property
    def vectors(self):
        """The Chroma vector tier, or None when no embedding model is available."""
        if self._parent is not None:
            return self._parent.vectors
        with self._lock:
            if not hasattr(self, "_vectors"):
                from memory.vectors.embedder import get_embedder
                from memory.vectors.index import VectorIndex

                embedder = get_embedder(
                    self.settings.embedding_model,
                    quantize=self.settings.memory.embedding_int8,
                    cache_dir=self.settings.models_path,
                )
                if embedder is None:
                    self._vectors = None
                else:
                    url = self.settings.chroma_url
                    self._vectors = VectorIndex(
                        path=None if url else self.settings.chroma_path,
                        url=url,
                        embedder=embedder,
                        states=self.vector_states,
                    )
            return self._vectors

    @property
    def vector_states(self):
        """Which Chroma collection serves each profile, and rebuilds in progress (SQLite)."""
        from memory.vectors.state import VectorStates

        return VectorStates(self.db)

    def vector_health(self) -> VectorHealth:
        """This profile's vector index against SQLite: expected vs actual count, writes
        waiting, rebuild state, error. The one source for doctor, the inspector and the worker."""
        from memory.vectors.indexer import vector_health

        return vector_health(self)

    def index_backlog(self) -> int:
        """Index outbox rows of every profile not yet applied to the vector index."""
        from memory.vectors.indexer import pending_count

        return pending_count(self)

    def resume_rebuilds(self) -> dict[str, int]:
        """Finish vector rebuilds (any profile) left incomplete by a killed process."""
        from memory.vectors.indexer import resume_rebuilds

        return resume_rebuilds(self)

    def index_pending(self, limit: int | None = None) -> int:
        """Replay the index outbox into the vector tier; returns how many entries were applied."""
        from memory.vectors.indexer import replay_outbox

        return replay_outbox(self, limit=limit)

    def rebuild_text_index(self) -> None:
        """Rebuild the full-text indexes (every profile: they are shared) from SQLite's rows."""
        from memory.sqlite import fts

        fts.rebuild(self.db)

    def reindex(self, progress=None) -> int:
        """Rebuild this profile's vectors from SQLite into a new collection and switch it in
        when complete (recall keeps the old one meanwhile); continues a rebuild a killed
        process left. ``progress(done, total)`` is called as it goes."""
        from memory.vectors.indexer import reindex

        return reindex(self, progress=progress)

    def recall(
        self,
        query: str,
        *,
        limit: int | None = None,
        token_budget: int | None = -1,
        filters: RecallFilters | None = None,
        relevance_floor: float | None = None,
    ) -> list[RecallHit]:
        """Memories and past turns relevant to ``query``, best first, each with scores and provenance.

        ``token_budget=-1`` uses the configured budget; ``None`` means no budget.
        ``relevance_floor`` drops hits whose learned probability of being relevant
        (``RecallHit.relevance``) is below it: ``-1`` uses ``memory.relevance_floor`` (what a
        prompt does), ``None`` keeps every hit (search).
        """
        from memory.recall.hybrid import recall

        limit, token_budget, relevance_floor = self._recall_args(
            limit, token_budget, relevance_floor
        )
        return recall(
            self,
            query,
            limit=limit,
            token_budget=token_budget,
            filters=filters or RecallFilters(),
            relevance_floor=relevance_floor,
        )

    def recall_considered(
        self,
        query: str,
        *,
        limit: int | None = None,
        token_budget: int | None = -1,
        filters: RecallFilters | None = None,
        relevance_floor: float | None = -1,
    ) -> RecallConsidered:
        """What :meth:`recall` returns, and the best candidates it left out below the floor
        (each with its probability): why a memory was or was not in a prompt."""
        from memory.recall.hybrid import recall_considered

        limit, token_budget, floor = self._recall_args(limit, token_budget, relevance_floor)
        used, below = recall_considered(
            self,
            query,
            limit=limit,
            token_budget=token_budget,
            filters=filters or RecallFilters(),
            relevance_floor=floor,
        )
        return RecallConsidered(used=used, below_floor=below, floor=floor)

    def _recall_args(
        self, limit: int | None, token_budget: int | None, floor: float | None
    ) -> tuple[int, int | None, float | None]:
        if limit is None:
            limit = self.settings.memory.recall_limit
        if token_budget == -1:
            token_budget = self.settings.memory.token_budget
        if floor == -1:
            floor = self.settings.memory.relevance_floor
        return limit, token_budget, floor

    def always_on(
        self, *, filters: RecallFilters | None = None, token_budget: int | None = -1
    ) -> list[RecallHit]:
        """The preferences and pinned memories that go into every prompt, before recalled ones
        (memory.recall.always), packed into ``token_budget`` (-1: ``memory.always_token_budget``;
        None: all). ``filters`` gives the place (conversation, project) for scopes."""
        from memory.recall.always import always_on

        if token_budget == -1:
            token_budget = self.settings.memory.always_token_budget
        return always_on(self, budget=token_budget, filters=filters)

    # ------------------------------------------------------------------ sub-facades
    @cached_property
    def curation(self) -> Curation:
        """Merge, tag, expire, edit in bulk and the review queues (memory.facades.Curation)."""
        from memory.facades import Curation
        from memory.parts import curation_parts

        return Curation(curation_parts(self))

    @cached_property
    def browse(self) -> Browse:
        """The inspector's filtered, sorted pages of memories and their figures."""
        from memory.facades import Browse
        from memory.parts import browse_parts

        return Browse(browse_parts(self))

    @cached_property
    def consolidation(self) -> Consolidation:
        """How extracted candidates are filed against what memory already holds."""
        from memory.facades import Consolidation
        from memory.parts import consolidation_parts

        return Consolidation(consolidation_parts(self))

    @cached_property
    def forgetting(self) -> Forgetting:
        """Forget a memory, a topic or the whole profile, in every tier."""
        from memory.facades import Forgetting
        from memory.parts import forgetting_parts

        return Forgetting(forgetting_parts(self))

    @cached_property
    def transfer(self) -> Transfer:
        """Export, import, backup and restore."""
        from memory.facades import Transfer
        from memory.parts import transfer_parts

        return Transfer(transfer_parts(self))

    # ------------------------------------------------------------------ health
    @cached_property
    def health(self) -> Health:
        """Checks and repairs of the SQLite and short-term tiers (see memory.health)."""
        from memory.health import Health

        root = self._parent or self
        return Health(self.settings, self.db, self.short, root._server)

    @staticmethod
    def check_data_dir(settings: Settings) -> HealthCheck:
        """The data dir exists and is private (needs no open store)."""
        from memory.health import check_data_dir

        return check_data_dir(settings)

    @staticmethod
    def repair_data_dir(settings: Settings) -> HealthCheck:
        """Make every file 0600 and folder 0700 under the data dir."""
        from memory.health import fix_permissions

        return fix_permissions(settings.home)

    @staticmethod
    def repair_damaged_aof(settings: Settings) -> HealthCheck | None:
        """When the embedded Redis refuses its damaged append-only file: move the file aside
        and start the server afresh (needs no open store; then open one and call
        ``store.health.rebuild_short_term()``). None when there is nothing to repair."""
        from memory.health import repair_damaged_aof

        return repair_damaged_aof(settings)

    @staticmethod
    def stale_server_files(settings: Settings) -> list[str]:
        """Leftovers of a crashed embedded Redis (removed when a store starts it again)."""
        from memory.health import stale_redis

        return stale_redis(settings)

    def short_term_status(self) -> ShortTermStatus:
        return self.health.short_term()

    def redis_url(self) -> str:
        """The Redis this store uses (for huey's broker); raises ShortTermUnavailable when none."""
        st = self.short_term_status()
        if st.url and not st.degraded:
            return st.url
        if self.settings.redis_url:
            return self.settings.redis_url
        raise ShortTermUnavailable(
            st.reason or "no Redis server: the background pipeline needs one (set REDIS_URL)"
        )

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Group several writes into one SQLite transaction (all or nothing)."""
        with self.db.tx():
            yield

    def get_mark(self, name: str) -> str | None:
        """A durable progress mark of this profile (e.g. the last turn extracted)."""
        from memory.curation.consolidation import get_mark

        return get_mark(self.db, self.profile, name)

    def set_mark(self, name: str, value: str) -> None:
        from memory.curation.consolidation import set_mark

        set_mark(self.db, self.profile, name, value)

    def profile_counts(self) -> list[dict[str, Any]]:
        """Every profile with its active memories, messages and conversations:
        [{profile, memories, messages, conversations}]."""
        rows = self.db.query(
            "SELECT profile, SUM(kind = 'memory') AS memories, SUM(kind = 'message') AS messages,"
            " SUM(kind = 'conversation') AS conversations FROM ("
            " SELECT profile, 'memory' AS kind FROM memories WHERE status = 'active'"
            " UNION ALL SELECT profile, 'message' FROM messages"
            " UNION ALL SELECT profile, 'conversation' FROM conversations)"
            " GROUP BY profile ORDER BY profile"
        )
        return [
            {
                "profile": r["profile"],
                "memories": r["memories"] or 0,
                "messages": r["messages"] or 0,
                "conversations": r["conversations"] or 0,
            }
            for r in rows
        ]

    def message_count(self, conversation_id: str) -> int:
        return int(
            self.db.scalar(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND profile = ?",
                (conversation_id, self.profile),
            )
            or 0
        )

    def session_view(self, session: str, turns: int = 4) -> dict[str, Any]:
        """A short-term session as the inspector shows it: state, its TTL and the last turns."""
        return {
            "state": self.short.get_state(self.profile, session),
            "ttl": self.short.state_ttl(self.profile, session),
            "turns": self.short.recent_turns(self.profile, session, turns),
        }

    def expire_temporaries(self) -> int:
        """Retire temporary memories past their expiry (every profile); how many."""
        return len(self.memories.expire())

    def purge_deleted(self, older_than_days: float) -> dict[str, int]:
        """Purge soft-deleted memories past the grace period (every profile), drop expired
        short-term copies kept in SQLite, and let SQLite optimize itself."""
        purged = self.memories.purge_deleted(older_than_days)
        kv = self.short.fallback.purge_expired()
        self.db.conn.execute("PRAGMA optimize")
        return {"purged": purged, "kv_expired": kv}

    def stats(self) -> list[TierStats]:
        long_counts = self.memories.counts_by_section(self.profile)
        long_counts["messages"] = self.chats.count_messages(self.profile)
        long_counts["conversations"] = len(
            self.chats.list(self.profile, archived=None, limit=1_000_000)
        )
        tiers = [TierStats("sqlite", True, str(self.settings.db_path), long_counts)]
        short_counts = {
            "active_sessions": len(self.active_sessions()),
            "temporaries": len(self.temporaries()),
        }
        detail = self.short.degraded_reason or self.short.mode
        tiers.append(TierStats("redis", not self.short.degraded, detail, short_counts))
        return tiers

    def wipe_short_term(self) -> int:
        return self.short.wipe_profile(self.profile)


def _live_version(m: Message) -> ReplyVersion:
    return ReplyVersion(m.id, 1, m.content, m.model, m.status, m.created_at)


__all__ = ["MemoryStore", "SECTIONS"]
