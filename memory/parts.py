"""What each sub-facade of ``MemoryStore`` is given: the repositories it uses, and nothing else.

A sub-facade (``memory.facades``) and the functions behind it (``memory.curation``,
``memory.transfer``) never hold the whole store: each gets one frozen dataclass naming the
parts it reads and writes -- the profile, the ``Database``, the memories/chats repositories,
the short-term tier, a getter for the (lazily opened) vector index, ``Settings`` -- and, where
a rule lives in the store and must stay in one place, the store's bound method for it, typed:

- ``add_memory``: the text check, review status for the worker, the temporary TTL and the
  scope check;
- ``update_memory``: the one update path of the store (the preference cache needs no drop:
  it is stamped with the memories' generation, see ``MemoryStore.preferences``);
- ``supersede_memory``: the profile check on the old memory and its section kept;
- ``get_message``, ``delete_messages``, ``get_conversation``, ``messages``: incognito routing
  (an incognito conversation lives in memory.ephemeral, never in SQLite);
- ``recall``: the configured limits and the hybrid ranking of memory.recall;
- ``index_pending``: the replay of the index outbox into the vector tier.

The ``*_parts`` functions at the bottom are the only place a ``MemoryStore`` is taken apart;
the store's cached properties (``store.curation`` ...) call them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memory.config import Settings
from memory.models import Conversation, Memory, Message, RecallHit
from memory.shortterm.tiers import ResilientShortTerm
from memory.sqlite.db import Database
from memory.sqlite.long_term import LongTermMemories

if TYPE_CHECKING:
    from memory.store import MemoryStore
    from memory.vectors.index import VectorIndex

VectorGetter = Callable[[], "VectorIndex | None"]
"""The vector index, opened on first use (loading the embedder takes a second), or None
when no embedding model is available."""


@dataclass(frozen=True)
class BrowseParts:
    """The inspector's pages: SQL over ``memories`` of one profile, and recall for ``semantic``."""

    profile: str
    db: Database
    memories: LongTermMemories
    recall: Callable[..., list[RecallHit]]


@dataclass(frozen=True)
class ConsolidationParts:
    """Filing extracted candidates: neighbours (FTS, keys, vectors) and the writes they lead to."""

    profile: str
    db: Database
    memories: LongTermMemories
    settings: Settings
    vectors: VectorGetter
    add_memory: Callable[..., Memory]
    update_memory: Callable[..., Memory]
    supersede_memory: Callable[..., Memory]


@dataclass(frozen=True)
class CurationParts:
    """Edits, review queues and forgetting chat turns."""

    profile: str
    db: Database
    memories: LongTermMemories
    vectors: VectorGetter
    update_memory: Callable[..., Memory]
    get_message: Callable[[str], Message]
    delete_messages: Callable[[list[str]], None]
    index_pending: Callable[[], int]


@dataclass(frozen=True)
class ForgettingParts:
    """Forget in every tier: SQLite rows, Redis keys (and their AOF), Chroma, logs, backups."""

    profile: str
    db: Database
    memories: LongTermMemories
    short: ResilientShortTerm
    settings: Settings
    vectors: VectorGetter
    index_pending: Callable[[], int]


@dataclass(frozen=True)
class TransferParts:
    """Import into and export from one profile; backups need the settings alone."""

    profile: str
    db: Database
    memories: LongTermMemories
    settings: Settings
    get_conversation: Callable[[str], Conversation]
    messages: Callable[[str], list[Message]]


# ------------------------------------------------------------------------------ wiring
def _vectors_of(store: MemoryStore) -> VectorGetter:
    return lambda: store.vectors


def browse_parts(store: MemoryStore) -> BrowseParts:
    return BrowseParts(store.profile, store.db, store.memories, store.recall)


def consolidation_parts(store: MemoryStore) -> ConsolidationParts:
    return ConsolidationParts(
        profile=store.profile,
        db=store.db,
        memories=store.memories,
        settings=store.settings,
        vectors=_vectors_of(store),
        add_memory=store.add_memory,
        update_memory=store.update_memory,
        supersede_memory=store.supersede_memory,
    )


def curation_parts(store: MemoryStore) -> CurationParts:
    return CurationParts(
        profile=store.profile,
        db=store.db,
        memories=store.memories,
        vectors=_vectors_of(store),
        update_memory=store.update_memory,
        get_message=store.get_message,
        delete_messages=store.delete_messages,
        index_pending=store.index_pending,
    )


def forgetting_parts(store: MemoryStore) -> ForgettingParts:
    return ForgettingParts(
        profile=store.profile,
        db=store.db,
        memories=store.memories,
        short=store.short,
        settings=store.settings,
        vectors=_vectors_of(store),
        index_pending=store.index_pending,
    )


def transfer_parts(store: MemoryStore) -> TransferParts:
    return TransferParts(
        profile=store.profile,
        db=store.db,
        memories=store.memories,
        settings=store.settings,
        get_conversation=store.get_conversation,
        messages=store.messages,
    )


__all__ = [
    "BrowseParts",
    "ConsolidationParts",
    "CurationParts",
    "ForgettingParts",
    "TransferParts",
    "browse_parts",
    "consolidation_parts",
    "curation_parts",
    "forgetting_parts",
    "transfer_parts",
]
