"""Always-on memories: the user's preferences and pinned memories go into every prompt, before
(and never again among) the recalled ones, within their own small token budget
(``memory.always_token_budget``).

This is a selection, not a ranking: no query is involved. The order is pinned first, then
importance, then the most recently changed; what does not fit the budget (estimated here,
counted exactly by the prompt builder) is left out. Scopes apply as in recall: a memory scoped
to a project or a conversation is always-on only there.
"""

from __future__ import annotations

from memory.models import Memory, Provenance, RecallFilters, RecallHit
from memory.recall.hybrid import in_scope
from memory.recall.ranking import estimate_tokens, pack

MAX_CANDIDATES = 200


def _hit(m: Memory) -> RecallHit:
    return RecallHit(
        id=m.id,
        kind="memory",
        text=m.content,
        section=m.section,
        score=1.0,
        scores={"always": 1.0},
        provenance=Provenance(m.source_conversation_id, list(m.source_message_ids)),
        created_at=m.created_at,
        tokens=estimate_tokens(m.content),
        memory=m,
    )


def always_on(
    store, *, budget: int | None, filters: RecallFilters | None = None
) -> list[RecallHit]:
    """The memories every prompt carries, in order, packed into ``budget`` tokens (None: all)."""
    f = filters or RecallFilters()
    mems = [
        m
        for m in store.memories.always_on(store.profile, limit=MAX_CANDIDATES)
        if in_scope(m.scope, f)
    ]
    return pack((_hit(m) for m in mems), budget, lambda h: h.tokens)


__all__ = ["always_on"]
