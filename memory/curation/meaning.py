"""Memories compared by meaning, for the review queue and the warning of ``memory add``.

- **Near-duplicates**: two live memories whose vectors (the MiniLM vectors already in the index,
  not re-embedded) are at least :data:`NEAR_DUPLICATE` similar -- "peanut allergy" / "allergic
  to peanuts". The threshold was measured on real pairs (``bench/near_duplicates.py``,
  docs/benchmarks.md). A pair that states the same relation of the same subject with another
  value is a conflict, not a duplicate; one that states two different relations ("lives in
  Lisbon" / "works in Lisbon", 0.89 similar) is neither.
- **Conflicts**: the same ``key`` (and entity) with different text, or the same subject and a
  single-valued relation (lives in, works at, is married to, drives, "X's Y is") with another
  value -- "Ana lives in Lisbon" / "Ana lives in Porto now". The newer is proposed to supersede
  the older; that needs no vectors.

Nothing here writes: :mod:`memory.curation.edits` turns these into review items and applies
the decisions (with history).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from memory.models import Memory

if TYPE_CHECKING:
    from memory.parts import CurationParts

NEAR_DUPLICATE = 0.72  # cosine similarity (int8 MiniLM) from which two memories say the same
SCAN = 2000  # most recent live memories compared pairwise
MAX_PAIRS = 1000  # proposals of one kind at most (the review tab shows 300 a queue)
SKIP_SECTIONS = ("summaries", "command_history", "session_state")

# Relations that hold one value at a time for a subject (a new value replaces the old one).
# Longer phrases first: the alternation takes the first that matches at a position.
_RELATIONS = (
    "is married to",
    "was born in",
    "lives in",
    "lives at",
    "lives on",
    "live in",
    "moved to",
    "works at",
    "works for",
    "works in",
    "work at",
    "work for",
    "work in",
    "studies at",
    "is called",
    "is named",
    "is from",
    "drives",
    "is",
)
_POSSESSIVE_ONLY = ("is", "is called", "is named")  # "Ana's city is X", never "Ana is tall"
_CLAIM = re.compile(
    r"^(?P<subject>.+?)\s+(?:now\s+|currently\s+|still\s+)?(?P<relation>"
    + "|".join(re.escape(r) for r in _RELATIONS)
    + r")\s+(?P<value>.+)$"
)
_FILLER_END = re.compile(r"(?:\s+(?:now|currently|nowadays|again|these days|today))+$")
_ARTICLE = re.compile(r"^(?:a|an|the)\s+")
_SELF = {"i", "me", "user", "the user", "we"}
_PRONOUNS = {"he", "she", "they", "it"}


@dataclass(frozen=True)
class Claim:
    """One memory read as ``subject relation value`` ("ana", "lives in", "lisbon")."""

    subject: str
    relation: str
    value: str


def _clean(text: str) -> str:
    text = text.lower().replace("\u2019", "'").strip()
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return " ".join(text.split())


def claim(m: Memory | str) -> Claim | None:
    """The subject, single-valued relation and value a memory states, or None."""
    text = m if isinstance(m, str) else m.content
    found = _CLAIM.match(_clean(text))
    if not found:
        return None
    subject, relation, value = found.group("subject", "relation", "value")
    possessive = "'s " in f"{subject} " or subject.split()[0] in (
        "my",
        "our",
        "their",
        "his",
        "her",
    )
    if relation in _POSSESSIVE_ONLY and not possessive:
        return None
    subject = re.sub(r"'s\b", "", subject)
    words = subject.split()
    if words and words[0] == "the":
        words = words[1:]
    if words and words[0] in ("my", "our"):
        words = ["user", *words[1:]]
    subject = " ".join(words)
    if subject in _SELF:
        subject = "user"
    if subject in _PRONOUNS and not isinstance(m, str) and m.entity_id:
        subject = m.entity_id.lower()
    value = _ARTICLE.sub("", _FILLER_END.sub("", value)).strip()
    if not subject or not value:
        return None
    relation = {"is named": "is called", "live in": "lives in"}.get(relation, relation)
    return Claim(subject, re.sub(r"^work ", "works ", relation), value)


_UNSET = Claim("", "", "")


def relation_differs(
    a: Memory, b: Memory, ca: Claim | None = _UNSET, cb: Claim | None = _UNSET
) -> bool:
    """The two state different relations of the same subject: related, not the same fact.
    (``ca``/``cb``: their claims, when already read.)"""
    ca = claim(a) if ca is _UNSET else ca
    cb = claim(b) if cb is _UNSET else cb
    return bool(ca and cb and ca.subject == cb.subject and ca.relation != cb.relation)


def conflict_reason(
    a: Memory, b: Memory, ca: Claim | None = _UNSET, cb: Claim | None = _UNSET
) -> str | None:
    """Why ``a`` and ``b`` cannot both be true now (one should supersede the other), or None."""
    if (
        a.key
        and a.key == b.key
        and (not a.entity_id or not b.entity_id or a.entity_id == b.entity_id)
    ):
        if _clean(a.value or a.content) != _clean(b.value or b.content):
            return f"same key {a.key!r}, another value"
    ca = claim(a) if ca is _UNSET else ca
    cb = claim(b) if cb is _UNSET else cb
    if (
        ca
        and cb
        and (ca.subject, ca.relation) == (cb.subject, cb.relation)
        and ca.value != cb.value
    ):
        return f"same subject, another value: {ca.subject} {ca.relation} {cb.value} / {ca.value}"
    return None


def _newer_first(a: Memory, b: Memory) -> tuple[Memory, Memory]:
    ta, tb = a.valid_from or a.created_at, b.valid_from or b.created_at
    return (a, b) if (ta, a.created_at) >= (tb, b.created_at) else (b, a)


def conflicts(memories: list[Memory]) -> list[tuple[Memory, Memory, str]]:
    """(newer, older, why) for every pair that states another value of the same thing."""
    groups: dict[tuple[str, ...], list[Memory]] = {}
    claims: dict[str, Claim | None] = {}
    for m in memories:
        if m.section in SKIP_SECTIONS:
            continue
        if m.key:
            groups.setdefault(("key", m.key), []).append(m)
        c = claims[m.id] = claim(m)
        if c is not None:
            groups.setdefault(("claim", c.subject, c.relation), []).append(m)
    out: dict[tuple[str, str], tuple[Memory, Memory, str]] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda m: (m.valid_from or m.created_at, m.created_at))
        for i, old in enumerate(group):
            for new in group[i + 1 :]:
                if len(out) >= MAX_PAIRS:
                    return list(out.values())
                why = conflict_reason(new, old, claims[new.id], claims[old.id])
                if why is not None:
                    newer, older = _newer_first(new, old)
                    out.setdefault((newer.id, older.id), (newer, older, why))
    return list(out.values())


def _vectors(
    parts: CurationParts, memories: list[Memory]
) -> tuple[list[Memory], np.ndarray] | None:
    vec = parts.vectors()
    if vec is None:
        return None
    from memory.vectors.indexer import chroma_id

    got = vec.vectors(parts.profile, [chroma_id("memory", m.id) for m in memories])
    kept = [m for m in memories if chroma_id("memory", m.id) in got]
    if len(kept) < 2:
        return None
    return kept, np.stack([got[chroma_id("memory", m.id)] for m in kept])


def near_duplicate_pairs(
    parts: CurationParts, memories: list[Memory]
) -> list[tuple[Memory, Memory, float]]:
    """(a, b, similarity) for live memories that say the same thing in other words."""
    pool = [m for m in memories if m.section not in SKIP_SECTIONS][:SCAN]
    found = _vectors(parts, pool)
    if found is None:
        return []
    kept, matrix = found
    sims = np.triu(matrix @ matrix.T, k=1)
    rows, cols = np.nonzero(sims >= NEAR_DUPLICATE)
    order = np.argsort(-sims[rows, cols], kind="stable")  # the most similar first
    claims: dict[str, Claim | None] = {}

    def read(m: Memory) -> Claim | None:
        if m.id not in claims:
            claims[m.id] = claim(m)
        return claims[m.id]

    out = []
    for k in order.tolist():
        i, j = int(rows[k]), int(cols[k])
        a, b = kept[i], kept[j]
        ca, cb = read(a), read(b)
        if relation_differs(a, b, ca, cb) or conflict_reason(a, b, ca, cb):
            continue
        out.append((a, b, round(float(sims[i, j]), 3)))
        if len(out) >= MAX_PAIRS:
            break
    return out


def near_duplicates_of(
    parts: CurationParts, m: Memory, limit: int = 8
) -> list[tuple[Memory, float]]:
    """Live memories that say what ``m`` says (most similar first); [] without vectors."""
    vec = parts.vectors()
    if vec is None:
        return []
    from memory.vectors.indexer import chroma_id, split_id

    own = vec.vectors(parts.profile, [chroma_id("memory", m.id)]).get(chroma_id("memory", m.id))
    vector = own if own is not None else vec.embed_query(parts.profile, m.content)
    if vector is None:
        return []
    out = []
    for cid, sim in vec.query_vector(parts.profile, vector, limit + 1):
        kind, item_id = split_id(cid)
        if kind != "memory" or item_id == m.id or sim < NEAR_DUPLICATE:
            continue
        other = parts.memories.get_many([item_id]).get(item_id)
        if other is None or other.profile != parts.profile or not other.is_live:
            continue
        if relation_differs(m, other) or conflict_reason(m, other):
            continue
        out.append((other, round(float(sim), 3)))
    return out


__all__ = [
    "NEAR_DUPLICATE",
    "Claim",
    "claim",
    "conflict_reason",
    "conflicts",
    "near_duplicate_pairs",
    "near_duplicates_of",
    "relation_differs",
]
