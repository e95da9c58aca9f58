"""Hybrid ranking, as small pure functions: fusion, boosts, duplicate collapse, budget packing.

Recall fuses ranked candidate lists (lexical BM25, vector cosine) by reciprocal rank -- ranks
are comparable across retrievers where raw scores are not -- and then nudges the fused score
with recency, importance, pins and use. The nudges are multiplicative and small so that
relevance decides and the boosts break near-ties.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

RRF_K = 60
HALF_LIFE_DAYS = 30.0
WEIGHTS = {"recency": 0.10, "importance": 0.20, "pinned": 0.25, "access": 0.03}
_WORD = re.compile(r"\w+", re.UNICODE)


def rrf(ranked: Sequence[tuple[Sequence[str], float]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of ``(ids best first, weight)`` lists: sum of weight / (k + rank)."""
    fused: dict[str, float] = {}
    for ids, weight in ranked:
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def recency(ts: float, now: float, half_life_days: float = HALF_LIFE_DAYS) -> float:
    """1.0 for just now, 0.5 one half-life ago, towards 0 for old items (future counts as now)."""
    age_days = max(0.0, now - ts) / 86400
    return 0.5 ** (age_days / half_life_days)


def access_score(count: int) -> float:
    """Diminishing returns on use: log(1 + count)."""
    return math.log1p(max(0, count))


def boost(
    *,
    recency: float = 0.0,
    importance: float = 0.5,
    pinned: bool = False,
    access: float = 0.0,
    weights: dict[str, float] = WEIGHTS,
) -> float:
    """The multiplier applied to a fused relevance score (1.0 = neutral)."""
    return (
        1.0
        + weights["recency"] * recency
        + weights["importance"] * (importance - 0.5)
        + weights["pinned"] * (1.0 if pinned else 0.0)
        + weights["access"] * access
    )


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def collapse_duplicates(
    items: Iterable[T], text: Callable[[T], str], threshold: float = 0.8
) -> Iterator[T]:
    """Yield the first of each group of near-duplicate texts (word-set Jaccard ≥ threshold).

    ``items`` come best first, so the best-ranked copy survives. Lazy, so it can feed ``pack``.
    """
    kept: list[frozenset[str]] = []
    for item in items:
        w = words(text(item))
        if any(jaccard(w, seen) >= threshold for seen in kept):
            continue
        kept.append(w)
        yield item


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (≈4 characters a token for English with a BPE tokenizer)."""
    return max(1, math.ceil(len(text) / 4))


def pack(
    items: Iterable[T], budget: int | None, tokens: Callable[[T], int], limit: int | None = None
) -> list[T]:
    """Best-first greedy packing: take items in order while they fit; skip ones that don't.

    ``budget`` None means no token limit; ``limit`` caps the number of items.
    """
    out: list[T] = []
    used = 0
    for item in items:
        if limit is not None and len(out) >= limit:
            break
        cost = tokens(item)
        if budget is not None and used + cost > budget:
            continue
        out.append(item)
        used += cost
    return out
