"""Curation: what a person does to clean memory up -- merge, tag, expire, review queues.

Every change goes through ``LongTermMemories`` so it lands in the memory's history (with the
actor and the reason) and in the index outbox in the same transaction. A review decision
that changes nothing (keeping a stale memory, "these are not duplicates") is recorded as a
``reviewed`` history row, which also keeps the item out of its queue.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING

from memory.curation import meaning
from memory.curation.consolidation import duplicate_groups
from memory.models import Memory, ReviewItem, now
from memory.sqlite.rows import row_to_memory

if TYPE_CHECKING:
    from memory.parts import CurationParts

QUEUES: tuple[str, ...] = (
    "pending",
    "duplicates",
    "conflicts",
    "contradictions",
    "stale",
    "low_confidence",
)
STALE_DAYS: int = 90
LOW_CONFIDENCE = 0.5
DUPLICATE_SCAN = 20_000  # most recent live memories compared for duplicates
_WOULD_SUPERSEDE = re.compile(r"would supersede ([0-9a-f]{32})")


# ------------------------------------------------------------------------------ edits
def merge(
    parts: CurationParts, ids: list[str], content: str | None = None, *, actor: str = "user"
) -> Memory:
    """Merge memories into a new one that supersedes them all (history says "merged").

    The new memory keeps the union of tags and sources, the highest importance and
    confidence, and is pinned if any was; ``content`` defaults to the texts joined."""
    olds = [parts.memories.get(i, parts.profile) for i in dict.fromkeys(ids)]
    if len(olds) < 2:
        raise ValueError("mark at least two memories to merge")
    text = (content or "").strip() or " ".join(m.content.rstrip(".") + "." for m in olds)
    first = olds[0]
    convs = {m.source_conversation_id for m in olds if m.source_conversation_id}
    new = Memory(
        content=text,
        section=first.section,
        profile=parts.profile,
        tags=list(dict.fromkeys(t for m in olds for t in m.tags)),
        importance=max(m.importance for m in olds),
        confidence=max(m.confidence for m in olds),
        pinned=any(m.pinned for m in olds),
        persistence=first.persistence,
        key=first.key,
        value=first.value,
        entity_type=first.entity_type,
        entity_id=first.entity_id,
        source_conversation_id=convs.pop() if len(convs) == 1 else None,
        source_message_ids=list(dict.fromkeys(i for m in olds for i in m.source_message_ids)),
    )
    listed = ", ".join(m.id for m in olds)
    with parts.db.tx():
        new = parts.memories.add(new, actor=actor, reason=f"merged from {listed}")
        for m in olds:
            parts.memories.update(
                m.id,
                parts.profile,
                actor=actor,
                action="merged",
                reason=f"merged into {new.id}",
                superseded_by=new.id,
                valid_to=now(),
                status="deleted",
                deleted_at=now(),
            )
    return new


def set_tags(
    parts: CurationParts, ids: list[str], tags: list[str], *, actor: str = "user"
) -> list[Memory]:
    clean = list(
        dict.fromkeys(t.strip().lstrip("#").lower() for t in tags if t.strip().lstrip("#"))
    )
    with parts.db.tx():
        return [
            parts.memories.update(i, parts.profile, actor=actor, reason="tags edited", tags=clean)
            for i in ids
        ]


def parse_tags(text: str) -> list[str]:
    return [t for t in re.split(r"[,\s]+", text) if t.strip()]


def parse_when(text: str, *, base: float | None = None) -> float | None:
    """``never`` -> None; ``30m``, ``12h``, ``7d``, ``2w`` -> from now; ``2025-12-31`` (or with
    ``T10:00``) -> that local time. Raises ValueError with a hint otherwise."""
    s = text.strip().lower()
    if s in ("", "never", "none", "off", "no"):
        return None
    m = re.fullmatch(r"(?:in\s+)?(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w|y)", s)
    if m:
        unit = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[
            m.group(2)
        ]
        return (base or now()) + float(m.group(1)) * unit
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: try 7d, 12h, 2025-12-31 or never"
        ) from None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)")
_DURATION_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """A lifetime in seconds from ``30m``, ``2h``, ``3d`` or ``1w`` (``90 minutes``, ``2 hours``
    too). Raises ValueError with a hint otherwise: ``--for`` takes a duration, not a date."""
    m = _DURATION.fullmatch(text.strip().lower())
    seconds = float(m.group(1)) * _DURATION_UNIT[m.group(2)[0]] if m else 0.0
    if seconds <= 0:
        raise ValueError(f"cannot read {text!r} as a duration: use 30m, 2h or 3d")
    return seconds


def set_expiry(
    parts: CurationParts, ids: list[str], expires_at: float | None, *, actor: str = "user"
) -> list[Memory]:
    with parts.db.tx():
        return [
            parts.memories.update(
                i,
                parts.profile,
                actor=actor,
                reason="expiry set",
                action="expiry set",
                expires_at=expires_at,
            )
            for i in ids
        ]


def edit(parts: CurationParts, memory_id: str, content: str, *, actor: str = "user") -> Memory:
    content = content.strip()
    if not content:
        raise ValueError("a memory needs some text (use d to delete it)")
    return parts.update_memory(
        memory_id, content=content, actor=actor, reason="edited in the inspector"
    )


def delete_many(
    parts: CurationParts,
    ids: list[str],
    *,
    actor: str = "user",
    reason: str = "deleted in the inspector",
) -> list[str]:
    """Soft delete (undo with :func:`restore_many`)."""
    with parts.db.tx():
        for i in ids:
            parts.memories.delete(i, parts.profile, actor=actor, reason=reason)
    return list(ids)


def restore_many(parts: CurationParts, ids: list[str], *, actor: str = "user") -> None:
    with parts.db.tx():
        for i in ids:
            parts.memories.restore(i, parts.profile, actor=actor)


def pin_many(parts: CurationParts, ids: list[str], pinned: bool, *, actor: str = "user") -> None:
    with parts.db.tx():
        for i in ids:
            parts.memories.pin(i, parts.profile, pinned, actor=actor)


def forget_messages(parts: CurationParts, message_ids: list[str]) -> int:
    """Delete chat turns that could teach a forgotten memory again (vectors and Redis too)."""
    gone = []
    for mid in message_ids:
        try:
            parts.get_message(mid)
        except Exception:  # noqa: BLE001 - already gone
            continue
        gone.append(mid)
    if gone:
        parts.delete_messages(gone)
        if parts.vectors() is not None:
            parts.index_pending()
        parts.db.scrub()
    return len(gone)


# ------------------------------------------------------------------------------ review
def _reviewed(parts: CurationParts, ids: list[str], prefix: str) -> set[str]:
    if not ids:
        return set()
    out: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = parts.db.query(
            f"SELECT memory_id, reason FROM memory_history WHERE action = 'reviewed' AND memory_id IN "
            f"({','.join('?' * len(chunk))})",
            tuple(chunk),
        )
        out |= {r["memory_id"] + "|" + r["reason"] for r in rows if r["reason"].startswith(prefix)}
    return out


def _mark_reviewed(parts: CurationParts, m: Memory, reason: str, actor: str) -> None:
    with parts.db.tx() as conn:
        conn.execute(
            "INSERT INTO memory_history (memory_id, profile, at, action, actor, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (m.id, parts.profile, now(), "reviewed", actor, reason),
        )


def _live_rows(
    parts: CurationParts, extra: str = "", params: tuple = (), limit: int = 500
) -> list[Memory]:
    rows = parts.db.query(
        "SELECT * FROM memories WHERE profile = ? AND status = 'active' AND superseded_by IS NULL "
        f"AND (expires_at IS NULL OR expires_at > ?) {extra} LIMIT ?",
        (parts.profile, now(), *params, limit),
    )
    return [row_to_memory(r) for r in rows]


def review_queue(
    parts: CurationParts,
    queue: str,
    *,
    stale_days: float = STALE_DAYS,
    low_confidence: float = LOW_CONFIDENCE,
    limit: int = 500,
) -> list[ReviewItem]:
    """The items waiting in one review queue, oldest concern first."""
    if queue == "pending":
        rows = parts.db.query(
            "SELECT * FROM memories WHERE profile = ? AND status = 'pending' "
            "ORDER BY created_at LIMIT ?",
            (parts.profile, limit),
        )
        items = []
        for m in map(row_to_memory, rows):
            target = _would_supersede(parts, m)
            items.append(
                ReviewItem(
                    "pending", m, target, f"would replace: {target.content}" if target else "new"
                )
            )
        return items
    if queue == "contradictions":
        rows = parts.db.query(
            "SELECT * FROM memories WHERE profile = ? AND superseded_by IS NOT NULL AND status = 'active' "
            "ORDER BY valid_to DESC LIMIT ?",
            (parts.profile, limit),
        )
        olds = [row_to_memory(r) for r in rows]
        settled = _reviewed(parts, [m.id for m in olds], "conflict resolved")
        olds = [
            m
            for m in olds
            if f"{m.id}|conflict resolved: superseded by {m.superseded_by}" not in settled
        ]
        news = parts.memories.get_many([m.superseded_by for m in olds if m.superseded_by])
        return [
            ReviewItem("contradictions", news[m.superseded_by], m, "replaced an older fact")
            for m in olds
            if m.superseded_by in news and news[m.superseded_by].status != "deleted"
        ]
    if queue == "stale":
        cutoff = now() - stale_days * 86400
        mems = _live_rows(
            parts,
            "AND pinned = 0 AND COALESCE(last_accessed_at, created_at) < ? "
            "ORDER BY COALESCE(last_accessed_at, created_at)",
            (cutoff,),
            limit * 2,
        )
        done = _reviewed(parts, [m.id for m in mems], "kept")
        out = []
        for m in mems:
            if any(d.startswith(m.id + "|kept") and _at_reason(d) >= cutoff for d in done):
                continue
            last = m.last_accessed_at or m.created_at
            out.append(
                ReviewItem("stale", m, None, f"not used for {int((now() - last) / 86400)} days")
            )
        return out[:limit]
    if queue == "low_confidence":
        mems = _live_rows(parts, "AND confidence < ? ORDER BY confidence", (low_confidence,), limit)
        return [
            ReviewItem("low_confidence", m, None, f"confidence {m.confidence:.2f}") for m in mems
        ]
    if queue == "duplicates":
        mems = _live_rows(parts, "ORDER BY updated_at DESC", (), DUPLICATE_SCAN)
        exact, near = duplicate_groups(mems)
        pairs = [(g[0], g[1], 1.0, "same text") for g in exact]
        pairs += [(a, b, s, f"{s:.0%} the same words") for a, b, s in near]
        seen = {frozenset((a.id, b.id)) for a, b, _, _ in pairs}
        for a, b, s in meaning.near_duplicate_pairs(parts, mems):
            if frozenset((a.id, b.id)) not in seen:
                pairs.append((a, b, s, f"{s:.0%} similar in meaning"))
        ids = [i for a, b, _, _ in pairs for i in (a.id, b.id)]
        dismissed = _reviewed(parts, ids, "not a duplicate of")
        out = [
            ReviewItem("duplicates", a, b, why)
            for a, b, _, why in pairs
            if f"{a.id}|not a duplicate of {b.id}" not in dismissed
            and f"{b.id}|not a duplicate of {a.id}" not in dismissed
        ]
        return out[:limit]
    if queue == "conflicts":
        mems = _live_rows(parts, "ORDER BY updated_at DESC", (), DUPLICATE_SCAN)
        found = meaning.conflicts(mems)
        dismissed = _reviewed(parts, [new.id for new, _, _ in found], "not a conflict with")
        return [
            ReviewItem("conflicts", new, old, why)
            for new, old, why in found
            if f"{new.id}|not a conflict with {old.id}" not in dismissed
        ][:limit]
    raise ValueError(f"unknown review queue {queue!r}; one of {', '.join(QUEUES)}")


def _at_reason(entry: str) -> float:
    m = re.search(r"@(\d+(?:\.\d+)?)$", entry)
    return float(m.group(1)) if m else 0.0


def _would_supersede(parts: CurationParts, m: Memory) -> Memory | None:
    for h in parts.memories.history(m.id):
        found = _WOULD_SUPERSEDE.search(h.reason or "")
        if found:
            target = parts.memories.get_many([found.group(1)]).get(found.group(1))
            return target if target is not None and target.is_live else None
    return None


def review_counts(parts: CurationParts, **kw) -> dict[str, int]:
    return {q: len(review_queue(parts, q, **kw)) for q in QUEUES}


def accept(parts: CurationParts, item: ReviewItem, *, actor: str = "user") -> Memory:
    """Say yes: keep a pending memory (retiring what it replaces), merge duplicates, keep the
    newer of a contradiction, keep a stale memory, confirm a low-confidence one."""
    m = item.memory
    if item.queue == "pending":
        with parts.db.tx():
            kept = parts.memories.update(
                m.id,
                parts.profile,
                actor=actor,
                action="accepted",
                reason="accepted in review",
                status="active",
            )
            if item.other is not None:
                parts.memories.update(
                    item.other.id,
                    parts.profile,
                    actor=actor,
                    action="superseded",
                    reason=f"superseded by {m.id} (accepted in review)",
                    superseded_by=m.id,
                    valid_to=now(),
                )
        return kept
    if item.queue == "duplicates" and item.other is not None:
        return merge(
            parts,
            [m.id, item.other.id],
            m.content if len(m.content) >= len(item.other.content) else item.other.content,
            actor=actor,
        )
    if item.queue == "conflicts" and item.other is not None:
        old = item.other
        with parts.db.tx():
            parts.memories.update(
                old.id,
                parts.profile,
                actor=actor,
                action="superseded",
                reason=f"superseded by {m.id} (conflict accepted in review: {item.detail})",
                superseded_by=m.id,
                valid_to=now(),
            )
            _mark_reviewed(parts, old, f"conflict resolved: superseded by {m.id}", actor)
        return m
    if item.queue == "contradictions" and item.other is not None:
        parts.memories.delete(
            item.other.id,
            parts.profile,
            actor=actor,
            reason=f"contradiction resolved in review: {m.id} is right",
        )
        return m
    if item.queue == "stale":
        _mark_reviewed(parts, m, f"kept although stale @{now():.0f}", actor)
        return m
    if item.queue == "low_confidence":
        return parts.memories.update(
            m.id,
            parts.profile,
            actor=actor,
            reason="confirmed in review",
            action="confirmed",
            confidence=1.0,
        )
    raise ValueError(f"cannot accept a {item.queue} item")


def reject(parts: CurationParts, item: ReviewItem, *, actor: str = "user") -> Memory | None:
    """Say no: drop a pending / stale / low-confidence memory, mark a pair as not duplicates,
    or keep the older side of a contradiction (the newer one is deleted)."""
    m = item.memory
    if item.queue in ("pending", "stale", "low_confidence"):
        return parts.memories.delete(
            m.id, parts.profile, actor=actor, reason=f"rejected in review ({item.queue})"
        )
    if item.queue == "duplicates" and item.other is not None:
        _mark_reviewed(parts, m, f"not a duplicate of {item.other.id}", actor)
        return m
    if item.queue == "conflicts" and item.other is not None:
        _mark_reviewed(parts, m, f"not a conflict with {item.other.id}", actor)
        return m
    if item.queue == "contradictions" and item.other is not None:
        with parts.db.tx():
            parts.memories.delete(
                m.id,
                parts.profile,
                actor=actor,
                reason="contradiction resolved: the older fact is right",
            )
            return parts.memories.update(
                item.other.id,
                parts.profile,
                actor=actor,
                action="restored",
                reason="the older fact is right (review)",
                superseded_by=None,
                valid_to=None,
            )
    raise ValueError(f"cannot reject a {item.queue} item")


def near_duplicates(parts: CurationParts, memory_id: str) -> list[ReviewItem]:
    """What ``memory add`` warns about: live memories that say what this one says, as
    "duplicates" review items (memory = this one, other = the one already kept)."""
    m = parts.memories.get(memory_id, parts.profile)
    return [
        ReviewItem("duplicates", m, other, f"{sim:.0%} similar in meaning")
        for other, sim in meaning.near_duplicates_of(parts, m)
    ]


def describe_item(item: ReviewItem) -> str:
    return json.dumps(
        {
            "queue": item.queue,
            "id": item.memory.id,
            "other": item.other.id if item.other else None,
            "detail": item.detail,
        }
    )


__all__ = [
    "QUEUES",
    "ReviewItem",
    "accept",
    "delete_many",
    "edit",
    "forget_messages",
    "merge",
    "near_duplicates",
    "parse_duration",
    "parse_tags",
    "parse_when",
    "pin_many",
    "reject",
    "restore_many",
    "review_counts",
    "review_queue",
    "set_expiry",
    "set_tags",
]
