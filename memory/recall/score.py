"""A learned, calibrated relevance score: P(a recall candidate is relevant to the query).

Recall already computes, for every candidate, where each retriever ranked it and how strongly
(lexical BM25 over the turn and over the turn with the two before it, vector cosine, the date
the query names), plus recency, importance, pins, its kind, its neighbours' scores and the
hand-set fusion of all that. A logistic regression over those features, trained on the LoCoMo
dev split by ``bench/train_relevance.py`` (leave-one-conversation-out cross-validated), turns
them into a probability. Recall orders hits by it (when the weights say it orders better than
the fusion) and the prompt takes a memory only when it clears ``memory.relevance_floor``.

The weights are a small versioned JSON beside this module (``relevance_weights.json``). When
they are missing, unreadable or made for another feature list, :func:`model` returns None and
recall falls back to the hand-set fusion, with no probability and so no floor.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("memchat.recall")

VERSION = 1
CLIP = 4.0  # standardised features are clipped to ±CLIP: a store unlike the training data
# (three memories, a 100k-row BM25 index) cannot push one feature's vote without bound
WEIGHTS_PATH = Path(__file__).with_name("relevance_weights.json")

# Every candidate's features, in the order the weights use. Ranks enter as 1/rank (0 = not in
# that list), so "absent" and "last" are close and the first places matter most.
FEATURES: tuple[str, ...] = (
    "is_message",  # kind: 1 chat turn, 0 stored memory
    "lex_score",  # BM25 over the item, / the best in its list
    "lex_raw",  # BM25 over the item, log(1 + raw score)
    "lex_rr",  # 1 / lexical rank
    "ctx_score",  # BM25 over the turn with the two before it, / the best
    "ctx_rr",  # 1 / in-context lexical rank
    "vec_sim",  # cosine similarity to the query (0 when not among the nearest)
    "vec_rr",  # 1 / vector rank
    "vec_gap",  # best similarity among the candidates - this one's
    "dated_rr",  # 1 / best rank inside a date the query names
    "date_match",  # written inside a date the query names
    "recency",
    "importance",
    "pinned",
    "window",  # turns its window would hold (1-3)
    "neigh_best",  # the better neighbour's fused score / this one's (capped at 2)
    "neigh_any",  # a neighbour is a candidate too
    "fused",  # the hand-set fusion score (1.0 = first in every list)
    "fused_rr",  # 1 / rank by the hand-set fusion
    "query_words",  # log(1 + words in the query)
    "candidates",  # log(1 + candidates)
)


@dataclass(frozen=True)
class Model:
    """Standardised logistic regression: p = sigmoid(((x - mean) / scale) . coef + intercept)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    order_by: str = "probability"  # or "fusion": order by the hand-set fusion, floor by p
    floor: float = 0.5  # the measured default of memory.relevance_floor, for the record

    def probability(self, x: dict[str, float]) -> float:
        z = self.intercept
        for name, m, s, w in zip(FEATURES, self.mean, self.scale, self.coef, strict=True):
            z += w * max(-CLIP, min(CLIP, (x.get(name, 0.0) - m) / s))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self, **meta: object) -> dict:
        return {
            "version": VERSION,
            "features": list(FEATURES),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "order_by": self.order_by,
            "floor": self.floor,
            **meta,
        }


def parse(data: object) -> Model:
    """A Model from its JSON object; ValueError when it is not one for this feature list."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not relevance weights of version {VERSION}")
    if list(data.get("features", ())) != list(FEATURES):
        raise ValueError("made for another feature list")
    n = len(FEATURES)
    cols: list[tuple[float, ...]] = []
    for key in ("mean", "scale", "coef"):
        v = [float(x) for x in data[key]]
        if len(v) != n or not all(math.isfinite(x) for x in v):
            raise ValueError(f"bad {key}")
        cols.append(tuple(v))
    if any(s <= 0 for s in cols[1]):
        raise ValueError("bad scale")
    b = float(data["intercept"])
    order_by = str(data.get("order_by", "probability"))
    if not math.isfinite(b) or order_by not in ("probability", "fusion"):
        raise ValueError("bad intercept or order_by")
    return Model(
        mean=cols[0],
        scale=cols[1],
        coef=cols[2],
        intercept=b,
        order_by=order_by,
        floor=float(data.get("floor", 0.5)),
    )


def load(path: Path) -> Model | None:
    """The model in ``path``, or None (logged) when it is missing or unusable."""
    try:
        return parse(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        log.warning("no relevance weights at %s: recall uses the hand-set fusion", path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("relevance weights %s unusable (%s): recall uses the hand-set fusion", path, e)
    return None


_lock = threading.Lock()
_loaded = False
_model: Model | None = None


def model() -> Model | None:
    """The shipped model, loaded once (None: use the hand-set fusion)."""
    global _loaded, _model
    if not _loaded:
        with _lock:
            if not _loaded:
                _model, _loaded = load(WEIGHTS_PATH), True
    return _model


def use(m: Model | None) -> None:
    """Replace the model for this process (benchmarks' held-out folds, tests)."""
    global _loaded, _model
    with _lock:
        _model, _loaded = m, True


def reset() -> None:
    """Forget the loaded model: the next :func:`model` reads ``WEIGHTS_PATH`` again."""
    global _loaded, _model
    with _lock:
        _model, _loaded = None, False
