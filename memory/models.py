"""Plain dataclasses that cross layer boundaries.

Everything the assistant, the worker and the TUI learn about memory arrives as one of these
types; none of them carries a database handle, so they are safe to pass between threads.
Timestamps are UNIX epoch seconds (float, UTC).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

# The memory sections memchat knows about (the seeds' sections).
SECTIONS: tuple[str, ...] = (
    "preferences",
    "facts",
    "events",
    "summaries",
    "session_state",
    "command_history",
    "temporary",
)
PERSISTENCE: tuple[str, ...] = ("permanent", "session", "temporary")
# active: recallable; pending: waiting for review; deleted: soft-deleted, purged later.
STATUSES: tuple[str, ...] = ("active", "pending", "deleted")
ROLES: tuple[str, ...] = ("system", "user", "assistant")
# complete: a whole reply; partial: still streaming or cut by a crash;
# cancelled / failed: the stream stopped early and the partial text is kept.
MESSAGE_STATUSES: tuple[str, ...] = ("complete", "partial", "cancelled", "failed")


def new_id() -> str:
    """A new random id (32 hex characters); commands accept any unique prefix."""
    return uuid.uuid4().hex


def now() -> float:
    return time.time()


@dataclass
class Memory:
    content: str
    section: str = "facts"
    profile: str = "default"
    id: str = field(default_factory=new_id)
    key: str | None = None
    value: str | None = None
    tags: list[str] = field(default_factory=list)
    entity_type: str | None = None
    entity_id: str | None = None
    confidence: float = 1.0
    importance: float = 0.5
    pinned: bool = False
    persistence: str = "permanent"
    status: str = "active"
    scope: str = "global"  # "global", "project:<name>" or "conversation:<id>"
    expires_at: float | None = None
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    last_accessed_at: float | None = None
    access_count: int = 0
    source_conversation_id: str | None = None
    source_message_ids: list[str] = field(default_factory=list)
    superseded_by: str | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    deleted_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_live(self) -> bool:
        """True when recall may return it: active, not superseded, not expired."""
        if self.status != "active" or self.superseded_by or self.deleted_at:
            return False
        return self.expires_at is None or self.expires_at > now()


@dataclass
class HistoryEntry:
    memory_id: str
    action: str  # added, updated, superseded, pinned, unpinned, deleted, restored, merged, ...
    actor: str = "user"  # user, cli, worker:extract, import, ...
    reason: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    at: float = field(default_factory=now)
    id: int | None = None


@dataclass
class Conversation:
    id: str = field(default_factory=new_id)
    profile: str = "default"
    title: str = ""
    model: str | None = None
    system_prompt: str | None = None
    project: str | None = None  # memories scoped "project:<name>" are recalled only here
    archived: bool = False
    incognito: bool = False
    # the app's "memory off" (ask --no-memory for a whole conversation): nothing recalled
    # into its prompts, nothing extracted or summarized from its turns
    memory_off: bool = False
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)


@dataclass
class UsedMemory:
    """A memory the assistant put into a prompt, as recorded on the reply."""

    id: str
    score: float
    kind: str = "memory"  # "memory" or "message"
    always: bool = False  # an always-on note (preference or pinned), not a recalled one


@dataclass
class Message:
    conversation_id: str
    role: str
    content: str
    profile: str = "default"
    id: str = field(default_factory=new_id)
    status: str = "complete"
    model: str | None = None
    created_at: float = field(default_factory=now)
    used_memories: list[UsedMemory] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    memory_tokens: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Provenance:
    conversation_id: str | None
    message_ids: list[str]


@dataclass
class RecallHit:
    """One recalled item: a stored memory or an episodic chat turn, with why it ranked."""

    id: str  # memory id, or message id for episodic hits
    kind: str  # "memory" or "message"
    text: str
    section: str
    score: float
    scores: dict[str, float]  # vector, lexical, recency, importance, pinned, access
    provenance: Provenance
    created_at: float
    tokens: int = 0
    memory: Memory | None = None
    message: Message | None = None
    # The learned, calibrated probability that this hit is relevant to the query
    # (memory.recall.score); None when recall ran on the hand-set fusion (no usable weights).
    relevance: float | None = None


@dataclass
class RecallConsidered:
    """What a recall put forward (``used``, best first) and the candidates it left out because
    their probability of being relevant is below ``floor`` (``below_floor``, best first)."""

    used: list[RecallHit]
    below_floor: list[RecallHit]
    floor: float | None


@dataclass
class DeferredJob:
    """A background job kept in SQLite because the queue (Redis) could not take it."""

    id: int
    profile: str
    name: str
    key: str
    args: list[Any]
    created_at: float
    updated_at: float
    version: int = 1


@dataclass
class RecallFilters:
    sections: list[str] | None = None
    tags: list[str] | None = None
    entity_id: str | None = None
    conversation_id: str | None = None
    since: float | None = None
    until: float | None = None
    include_messages: bool = True
    exclude_conversation_id: str | None = None
    # Where the recall happens, for memory scopes: a memory scoped "conversation:<id>" is only
    # recalled in that conversation, "project:<name>" only in conversations of that project.
    # None (e.g. a search from the CLI) means every scope.
    context_conversation_id: str | None = None
    context_project: str | None = None


@dataclass
class TierStats:
    name: str
    ok: bool
    detail: str
    counts: dict[str, int] = field(default_factory=dict)


class HealthCheck(NamedTuple):
    """One line of `memchat doctor`: status OK/WARN/FAIL/FIXED, the component, and a detail
    that names the fix when there is one."""

    status: str
    component: str
    detail: str


@dataclass
class ShortTermStatus:
    """Where short-term memory lives now: mode "embedded", "redis-url" or "sqlite" (degraded
    or configured so); ``url`` is the Redis URL when one is in use."""

    mode: str
    configured: str
    degraded: bool
    reason: str | None = None
    url: str | None = None


@dataclass
class VectorHealth:
    """The vector index of one profile measured against SQLite (``MemoryStore.vector_health``).

    ``expected`` is what SQLite says the index should hold (live memories + non-empty chat
    turns); ``actual`` is what the live Chroma collection holds (None when it cannot be read).
    ``status``/``detail`` are the verdict doctor, the inspector and the worker share.
    """

    profile: str
    expected: int
    pending: int = 0  # index outbox rows waiting to be applied
    actual: int | None = None
    collection: str = ""
    where: str = ""
    model: str = ""
    dim: int = 0
    model_mismatch: bool = False
    rebuilding: bool = False  # a rebuild is recorded and not switched in yet
    rebuild_alive: bool = False  # ... and a live process is working on it
    rebuild_done: int = 0  # vectors already in the collection being built
    rebuild_started_at: float | None = None
    error: str | None = None  # no vector tier, or the index could not be read

    FIX = "`memchat memory reindex`"

    @property
    def rebuild_incomplete(self) -> bool:
        return self.rebuilding and not self.rebuild_alive

    @property
    def status(self) -> str:
        """OK only when the index is readable, built with this model, and its count matches."""
        if self.error is not None:
            return "FAIL" if self.where else "WARN"
        if self.rebuilding or self.model_mismatch or self.actual != self.expected:
            return "WARN"
        return "OK"

    @property
    def detail(self) -> str:
        """One line: what is wrong and the fix, or the counts."""
        counts = f"{self.actual if self.actual is not None else '?'} of {self.expected} vectors"
        waiting = f", {self.pending} writes waiting to be indexed" if self.pending else ""
        if self.error is not None:
            if not self.where:
                return self.error
            return (
                f"the vector index cannot be read ({self.error}); recall uses full-text "
                f"search only. Fix: {self.FIX}"
            )
        if self.rebuilding:
            progress = f"{self.rebuild_done} of {self.expected} vectors rebuilt"
            if self.rebuild_alive:
                return (
                    f"rebuild in progress ({progress}); recall uses the previous index ({counts})"
                )
            return (
                f"rebuild incomplete ({progress}); recall uses the previous index ({counts}"
                f"{waiting}). Fix: {self.FIX} (the worker also finishes it)"
            )
        if self.model_mismatch:
            return f"built with another embedding model ({counts}). Fix: {self.FIX}"
        if self.actual != self.expected:
            if self.pending:
                return (
                    f"{counts}{waiting}; the worker indexes them (or run `memchat worker --once`)"
                )
            return f"{counts}: the index does not match SQLite. Fix: {self.FIX}"
        return f"{counts}{waiting}"


@dataclass
class TurnEvent:
    """One step of a chat turn, streamed from the assistant to whoever shows it.

    kind: "user_stored" (message = the stored user turn), "recalled" (hits = the recalled
    memories in the prompt, always = the always-on notes in it, memory_tokens = both blocks),
    "waiting" (text says what it waits for, e.g. the model library loading), "delta"
    (text = the next chunk), "done" (message = the stored reply), "error" (error = one
    actionable line, message = the stored partial reply if any, error_type = class name).
    """

    kind: str
    text: str = ""
    message: Message | None = None
    hits: list[RecallHit] = field(default_factory=list)
    memory_tokens: int = 0
    always: list[RecallHit] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None


# ------------------------------------------------------------------ curation and browsing
@dataclass
class Proposal:
    """A candidate memory plus what the extractor suggests doing with it."""

    candidate: Memory
    action: str | None = None  # one of ACTIONS, or None to let the rules decide
    target: str | None = None  # id (or unique prefix) of the existing memory it acts on
    reason: str = ""


@dataclass
class Decision:
    action: str
    candidate: Memory
    target: Memory | None = None
    reason: str = ""
    result: Memory | None = field(default=None, repr=False)  # the written memory, after apply


@dataclass
class ReviewItem:
    queue: str
    memory: Memory
    other: Memory | None = None  # the duplicate, or the memory that superseded this one
    detail: str = ""


@dataclass
class BrowseQuery:
    """What the memory table shows. ``text`` is free text; the rest are exact filters."""

    text: str = ""
    section: str | None = None
    tag: str | None = None
    entity: str | None = None
    pinned: bool | None = None
    newer_than: float | None = None  # seconds: created within the last N seconds
    older_than: float | None = None  # seconds: created more than N seconds ago
    persistence: str | None = None
    status: str = "active"
    conversation: str | None = None  # source conversation id (or prefix)
    sort: str = "auto"  # "auto", "score" or a key of SORTS
    descending: bool = True
    semantic: bool = False  # rank ``text`` with hybrid recall instead of FTS
    errors: list[str] = field(default_factory=list)

    @property
    def filtered(self) -> bool:
        return bool(
            self.text
            or self.section
            or self.tag
            or self.entity
            or self.pinned is not None
            or self.newer_than
            or self.older_than
            or self.persistence
            or self.conversation
            or self.status != "active"
        )


@dataclass
class BrowsePage:
    rows: list[Memory]
    offset: int
    scores: dict[str, float] = field(default_factory=dict)  # id -> rank score (search only)
    order: str = "updated"  # the order actually used: a SORTS key, "score" or "newest"


@dataclass
class ReplyVersion:
    """One answer to a prompt that was regenerated (``MemoryStore.reply_versions``).

    ``id`` is the version's own id, or the live reply's message id for the newest answer not
    yet kept as a version. ``n`` counts from 1 (the first answer)."""

    id: str
    n: int
    content: str
    model: str | None = None
    status: str = "complete"
    created_at: float = field(default_factory=now)


@dataclass
class ReplyVersions:
    """Every answer to one prompt, oldest first, and which one the conversation shows (its
    index in ``versions``): the live reply holds that version's text."""

    prompt_id: str
    versions: list[ReplyVersion]
    current: int


@dataclass
class TurnEnd:
    """What the end of a chat turn leaves to the caller (``Assistant.finish_turn``), the same
    for the chat app and ``memchat ask``.

    ``extract_upto``: enqueue extraction of the conversation up to this message (None: nothing
    to learn -- the reply was cancelled or failed, or the chat is incognito). ``titled``: the
    conversation just got its first title. ``llm_title``: ask the model for a better one now
    (``Assistant.make_title``; a UI runs it in the background).
    """

    conversation_id: str
    extract_upto: str | None = None
    titled: bool = False
    llm_title: bool = False


@dataclass
class ForgetPreview:
    """What ``Forgetting.about(text)`` would remove, found without changing anything (for a
    confirmation that shows it, and ``memory forget --about TEXT --dry-run``).

    ``memories`` / ``summaries`` / ``messages``: (id, text) pairs; ``conversations``: ids of
    conversations whose title or system prompt would be blanked (they stay). Short-term copies
    (prompt history, session state) are cleaned too but not listed."""

    text: str
    memories: list[tuple[str, str]] = field(default_factory=list)
    summaries: list[tuple[str, str]] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.memories or self.summaries or self.messages or self.conversations)
