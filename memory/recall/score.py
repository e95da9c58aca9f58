"""A learned, calibrated relevance score: P(a recall candidate is relevant to the query).

Recall already computes, for every candidate, where each retriever ranked it and how strongly
(lexical BM25 over the turn and over the turn with the two before it, vector cosine, the date
the query names), plus recency, importance, pins, its kind, its neighbours' scores and the
hand-set fusion of all that. A logistic regression over those features (stored facts get
weights of their own), trained by ``bench/train_relevance.py`` on the LoCoMo dev split
(leave-one-conversation-out cross-validated) and on hand-written first-person facts beside
LoCoMo turns (bench/personal_train_data.py, cross-validated in folds), turns them into a
probability. Recall orders hits by it (when the weights say it orders better than
the fusion) and the prompt takes a memory only when it clears ``memory.relevance_floor``.

The weights are a small versioned JSON beside this module (``relevance_weights.json``). When
they are missing, unreadable or made for another feature list, :func:`model` returns None and
recall falls back to the hand-set fusion, with no probability and so no floor.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

log = logging.getLogger("memchat.recall")

VERSION = 2  # 2: the per-kind features below; version 1 files (BASE only) still load
CLIP = 4.0  # standardised features are clipped to ±CLIP: a store unlike the training data
# (three memories, a 100k-row BM25 index) cannot push one feature's vote without bound
WEIGHTS_PATH = Path(__file__).with_name("relevance_weights.json")

# Every candidate's features as recall computes them (hybrid._features). Ranks enter as 1/rank
# (0 = not in that list), so "absent" and "last" are close and the first places matter most.
BASE: tuple[str, ...] = (
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

# Similarity among the candidates of the same kind (hybrid._features; bench/train_relevance.py
# derives them from its cache of BASE features with :func:`kind_similarity`): in a store of
# thousands of chat turns a stored fact can be the closest fact by far and still rank 40th
# among all vectors.
KIND: tuple[str, ...] = (
    "kind_gap",  # best similarity among the candidates of its kind - this one's
    "kind_rr",  # 1 / (1 + candidates of its kind more similar than this one)
)

# What the query says about whom it asks (hybrid._features; the training script computes them
# from its queries' text with :func:`first_person`). They enter only through their per-kind
# terms below: a question in the first person ("What time do I get up?") asks about the user,
# whom stored facts are about; LoCoMo's questions name the people they ask about. (As plain
# features they would learn, from training data where only facts answer first-person
# questions, that a chat turn never answers one: "what did I tell you about ..." does.)
QUERY: tuple[str, ...] = (
    "query_my",  # the query says my, me, mine, myself, our or us
    "query_i",  # the query says I (I'm, I've, ...) or we
)
_MY = frozenset({"my", "me", "mine", "myself", "our", "ours", "us"})
_I = frozenset({"i", "i'm", "i've", "i'd", "i'll", "im", "ive", "we", "we're", "we've"})
_WORD = re.compile(r"[a-z']+")


def first_person(query: str) -> tuple[float, float]:
    """(query_my, query_i) of a query."""
    words = set(_WORD.findall(query.lower().replace("\u2019", "'")))
    return (1.0 if words & _MY else 0.0, 1.0 if words & _I else 0.0)


# Per-kind terms: ``fact_<name>`` is ``<name>`` for a stored memory and 0 for a chat turn, so a
# fact's similarity, lexical match and ranks get weights of their own. A first-person fact
# ("I usually wake up at 6:30") answers a question that shares no word with it ("What time
# do I get up?"); a chat turn that answers a question nearly always repeats its words.
PER_KIND: tuple[str, ...] = (
    "lex_score",
    "lex_rr",
    "vec_sim",
    "vec_rr",
    "vec_gap",
    "kind_gap",
    "kind_rr",
    "fused",
    "fused_rr",
    "query_words",
    *QUERY,
)
FEATURES: tuple[str, ...] = BASE + KIND + tuple(f"fact_{n}" for n in PER_KIND)


def kind_similarity(is_message: list[float], sims: list[float]) -> list[tuple[float, float]]:
    """(kind_gap, kind_rr) of each of one query's candidates, from their kinds and similarities."""
    by_kind: dict[float, list[float]] = {}
    for k, s in zip(is_message, sims, strict=True):
        by_kind.setdefault(k, []).append(-s)
    for v in by_kind.values():
        v.sort()
    return [
        (-by_kind[k][0] - s, 1.0 / (1 + bisect.bisect_left(by_kind[k], -s)))
        for k, s in zip(is_message, sims, strict=True)
    ]


def derive(x: dict[str, float]) -> dict[str, float]:
    """``x`` (the BASE, KIND and QUERY features) with the per-kind terms added."""
    fact = 1.0 - x.get("is_message", 0.0)
    return {**x, **{f"fact_{n}": fact * x.get(n, 0.0) for n in PER_KIND}}


# The features recall computes (hybrid._features); FEATURES adds the per-kind terms to them.
INPUTS: tuple[str, ...] = BASE + KIND + QUERY


def derive_matrix(xs: Sequence[dict[str, float]]) -> np.ndarray:
    """:func:`derive` for many candidates at once: one row per candidate, one column per
    DERIVED name (a missing input reads 0, as in :func:`derive`)."""
    X = np.array([[x.get(n, 0.0) for n in INPUTS] for x in xs], dtype=np.float64)
    X = X.reshape(len(xs), len(INPUTS))
    fact = 1.0 - X[:, _COL["is_message"]]
    return np.hstack([X, X[:, _PER_KIND_COLS] * fact[:, None]])


_COL = {n: i for i, n in enumerate(INPUTS)}
_PER_KIND_COLS = [_COL[n] for n in PER_KIND]
DERIVED: tuple[str, ...] = INPUTS + tuple(f"fact_{n}" for n in PER_KIND)  # derive_matrix's columns


@dataclass(frozen=True)
class Model:
    """Standardised logistic regression: p = sigmoid(((x - mean) / scale) . coef + intercept),
    over ``features`` (FEATURES; a version 1 file's BASE)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    order_by: str = "probability"  # or "fusion": order by the hand-set fusion, floor by p
    floor: float = 0.5  # the measured default of memory.relevance_floor, for the record
    features: tuple[str, ...] = FEATURES

    def probability(self, x: dict[str, float]) -> float:
        x = derive(x)
        z = self.intercept
        for name, m, s, w in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += w * max(-CLIP, min(CLIP, (x.get(name, 0.0) - m) / s))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def probabilities(self, xs: Sequence[dict[str, float]]) -> list[float]:
        """:meth:`probability` of each of ``xs``, computed column by column over all of them
        (recall scores ~100 candidates a query): the same operations in the same order, so
        the same floats."""
        if not xs:
            return []
        X = derive_matrix(xs)[:, self._columns]
        terms = np.clip((X - self._mean) / self._scale, -CLIP, CLIP) * self._coef
        z = np.full(len(xs), self.intercept)
        for j in range(terms.shape[1]):  # summed in feature order, as probability() does
            z += terms[:, j]
        return [1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, v)))) for v in z.tolist()]

    @cached_property
    def _columns(self) -> list[int]:
        return [DERIVED.index(n) for n in self.features]

    @cached_property
    def _mean(self) -> np.ndarray:
        return np.asarray(self.mean, dtype=np.float64)

    @cached_property
    def _scale(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float64)

    @cached_property
    def _coef(self) -> np.ndarray:
        return np.asarray(self.coef, dtype=np.float64)

    def to_json(self, **meta: object) -> dict:
        return {
            "version": VERSION if self.features == FEATURES else 1,
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "order_by": self.order_by,
            "floor": self.floor,
            **meta,
        }


def parse(data: object) -> Model:
    """A Model from its JSON object; ValueError when it is not one this code can score (version
    2 over FEATURES, or version 1 over BASE)."""
    known = {1: BASE, VERSION: FEATURES}
    if not isinstance(data, dict) or data.get("version") not in known:
        raise ValueError(f"not relevance weights of version {sorted(known)}")
    features = known[data["version"]]
    if list(data.get("features", ())) != list(features):
        raise ValueError("made for another feature list")
    n = len(features)
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
        features=features,
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
