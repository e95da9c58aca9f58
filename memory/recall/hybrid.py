"""Recall: the memories and past chat turns that matter for a query, best first, with reasons.

1. Candidates: FTS5 BM25 over memories and over chat turns, the nearest vectors (over-fetched,
   never a Chroma ``where`` filter: that is ~40x slower), and pinned memories. Chat turns are
   also searched lexically together with the two turns before them (as they are embedded), so
   an answer is found by the words of its question. When the query names a date ("on 3 June
   2023", "in March 2024"; memory.recall.timeexpr), the turns of that span are searched too,
   lexically and by exact similarity, as extra lists in the fusion.
2. Fuse by reciprocal rank, then nudge with recency, importance, pins and use (memory.recall.ranking).
   With the learned weights (memory.recall.score) each candidate's ranks, scores, similarity,
   date match, neighbours and fusion score become a calibrated probability of being relevant:
   hits are ordered by it, and a prompt's recall drops those below ``memory.relevance_floor``.
   Without usable weights the fusion orders and nothing is dropped.
3. Re-check every candidate against its SQLite row -- the vector tier can lag -- and apply the
   filters there; superseded, expired, deleted and pending memories never come back.
4. A chat turn comes back as a small window (the turns around it in its conversation): the
   answer to a question often sits in the reply. Windows that overlap merge; near-duplicate
   memories collapse; the result is packed into the token budget.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from memory.models import Memory, Message, Provenance, RecallFilters, RecallHit, now
from memory.recall import ranking, score, timeexpr
from memory.sqlite.rows import row_to_message
from memory.vectors.indexer import EPISODE, MAX_ATTEMPTS, chroma_id, day, replay_outbox, split_id

log = logging.getLogger("memchat.recall")

FETCH = 60  # candidates asked of each retriever (more with filters)
FETCH_FILTERED = 200
INLINE_OUTBOX = 64  # replay an outbox this small before querying vectors
W_VECTOR, W_LEXICAL, W_PINNED = 1.0, 1.0, 0.25
MIN_SIM = 0.15  # a vector-only candidate less similar than this is noise
BEFORE, AFTER = 1, 1  # turns around a recalled message that may come back with it
ADAPTIVE = True  # ...only a question and its answer, or a neighbour that is itself relevant
RELATED = 0.5  # "itself relevant": scored at least this fraction of the anchor
W_CONTEXT = 1.0  # weight of the lexical search over each turn with the two before it
W_DATED = 1.0  # weight of the searches inside a date the query names (memory.recall.timeexpr)
DATED_MAX = 400  # a span with more turns than this gets the lexical search only


@dataclass
class _Cand:
    kind: str
    id: str
    fused: float = 0.0
    vector: float = 0.0
    lexical: float = 0.0
    context: float = 0.0  # lexical, the turn read with the two before it
    lex_raw: float = 0.0  # the raw BM25 score of the lexical list
    # 1-based rank in each list (0 = not in it): features of the learned score (recall.score)
    lex_rank: int = 0
    ctx_rank: int = 0
    vec_rank: int = 0
    dated_rank: int = 0
    memory: Memory | None = None
    message: Message | None = None


def _drain_small_outbox(store, f: RecallFilters) -> None:
    """Index what was written moments ago, when that is little. Turns of the conversation this
    recall excludes are left to the worker (it indexes after every turn): embedding the
    message just sent would cost a chat turn ~10 ms for a row the recall drops anyway."""
    skip, params = "", list[object]([MAX_ATTEMPTS])
    if f.exclude_conversation_id:
        skip = " AND NOT (kind = 'message' AND item_id IN (SELECT id FROM messages WHERE conversation_id = ?))"
        params.append(f.exclude_conversation_id)
    n = store.db.scalar(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM index_outbox WHERE attempts < ?{skip} LIMIT ?)",
        (*params, INLINE_OUTBOX + 1),
    )
    if n and n <= INLINE_OUTBOX:
        replay_outbox(store, limit=INLINE_OUTBOX)


def _restrictive(f: RecallFilters) -> bool:
    return bool(f.sections or f.tags or f.entity_id or f.conversation_id or f.since or f.until)


def _wants_memories(f: RecallFilters) -> bool:
    return not f.sections or any(s != EPISODE for s in f.sections)


def _wants_messages(f: RecallFilters) -> bool:
    return (
        f.include_messages
        and not f.tags
        and not f.entity_id
        and (not f.sections or EPISODE in f.sections)
    )


def _in_time(ts: float, f: RecallFilters) -> bool:
    return (f.since is None or ts >= f.since) and (f.until is None or ts <= f.until)


def _keep_memory(m: Memory | None, profile: str, f: RecallFilters) -> bool:
    if m is None or m.profile != profile or not m.is_live or not _in_time(m.created_at, f):
        return False
    if f.sections and m.section not in f.sections:
        return False
    if f.tags and not set(f.tags) & set(m.tags):
        return False
    if f.entity_id and m.entity_id != f.entity_id:
        return False
    if not in_scope(m.scope, f):
        return False
    return not (f.conversation_id and m.source_conversation_id != f.conversation_id)


def in_scope(scope: str, f: RecallFilters) -> bool:
    """Whether a memory with ``scope`` may be recalled where ``f`` says the recall happens."""
    if (
        not scope
        or scope == "global"
        or (f.context_conversation_id is None and f.context_project is None)
    ):
        return True
    kind, _, name = scope.partition(":")
    if kind == "conversation":
        return name == f.context_conversation_id
    if kind == "project":
        return name == f.context_project
    return True


def _keep_message(m: Message | None, profile: str, f: RecallFilters) -> bool:
    if (
        m is None
        or m.profile != profile
        or m.role not in ("user", "assistant")
        or not m.content.strip()
    ):
        return False
    if f.conversation_id and m.conversation_id != f.conversation_id:
        return False
    if f.exclude_conversation_id and m.conversation_id == f.exclude_conversation_id:
        return False
    return _in_time(m.created_at, f)


def _pinned_ids(store) -> list[str]:
    """The most important live pinned memories: a short look-up in the partial index, named
    because with ANALYZE statistics (the cleanup's PRAGMA optimize) SQLite walked the importance
    index instead, every row of the profile (~180 ms a recall at 100k memories)."""
    rows = store.db.query(
        "SELECT id FROM memories INDEXED BY memories_pinned WHERE profile = ? AND pinned = 1 "
        "AND status = 'active' AND superseded_by IS NULL ORDER BY importance DESC LIMIT 20",
        (store.profile,),
    )
    return [r["id"] for r in rows]


_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memchat-recall")


def _vector_hits(
    store, vec, query: str, k: int, f: RecallFilters, dated: list[tuple[float, float]]
) -> tuple[list[tuple[str, float]], list[list[tuple[str, float]]], object]:
    """The nearest vectors, for each date span the query names its turns by similarity, and
    the query's vector (None when there is none)."""
    qv = None
    try:
        _drain_small_outbox(store, f)
        qv = vec.embed_query(store.profile, query)
        if qv is None:
            return [], [], None
        hits = vec.query_vector(store.profile, qv, k)
        spans = []
        for since, until in dated:
            ids = store.chats.message_ids_between(store.profile, since, until, DATED_MAX + 1)
            if len(ids) <= DATED_MAX:
                near = vec.similarities(store.profile, qv, [chroma_id("message", i) for i in ids])
                spans.append(near[:k])
    except Exception as e:  # noqa: BLE001 - the lexical tier still answers
        log.warning("vector recall failed, using lexical recall only: %s", e)
        return [], [], None
    return (
        [(c, s) for c, s in hits if s >= MIN_SIM],
        [[(c, s) for c, s in near if s >= MIN_SIM] for near in spans],
        qv,
    )


def _candidates(
    store, query: str, f: RecallFilters
) -> tuple[dict[tuple[str, str], _Cand], list[tuple[float, float]], object]:
    """Every retriever's candidates with their fused score, the date spans searched, and the
    query's vector (None when the vector side did not answer: the learned score needs its
    similarities)."""
    k = FETCH_FILTERED if _restrictive(f) else FETCH
    cands: dict[tuple[str, str], _Cand] = {}
    lists: list[tuple[list[str], float]] = []

    def cand(kind: str, item_id: str) -> _Cand:
        return cands.setdefault((kind, item_id), _Cand(kind, item_id))

    def ranked(
        kind: str,
        hits: list,
        weight: float,
        top: float = 0.0,
        attr="lexical",
        ranks: tuple[str, ...] = ("lex_rank",),
    ) -> float:
        top = top or max((s for _, s in hits), default=0.0) or 1.0
        for rank, (obj, s) in enumerate(hits, start=1):
            c = cand(kind, obj.id)
            setattr(c, attr, max(getattr(c, attr), s / top))
            if attr == "lexical":
                c.lex_raw = max(c.lex_raw, s)
            for r in ranks:
                _rank(c, r, rank)
            if kind == "memory":
                c.memory = obj
            else:
                c.message = obj
        lists.append(([chroma_id(kind, o.id) for o, _ in hits], weight))
        return top

    vec = store.vectors
    # "What did she say on 3 June 2023?": search inside that date as well as everywhere.
    open_ended = f.since is None and f.until is None
    dated = timeexpr.spans(query) if open_ended and _wants_messages(f) else []
    # The vector side (query embedding + Chroma) runs beside the lexical side: both release the GIL.
    pending = None if vec is None else _POOL.submit(_vector_hits, store, vec, query, k, f, dated)
    if _wants_memories(f):
        # A memory is its own context: its lexical rank counts for both lexical lists of a turn,
        # so a fact and a chat turn that rank alike score alike.
        found = store.memories.search(store.profile, query, limit=k)
        ranked("memory", found, W_LEXICAL + W_CONTEXT, ranks=("lex_rank", "ctx_rank"))
        pins = _pinned_ids(store)
        for i in pins:
            cand("memory", i)
        lists.append(([chroma_id("memory", i) for i in pins], W_PINNED))
    if _wants_messages(f):

        def turns(since: float | None = None, until: float | None = None) -> list:
            return store.chats.search_messages(
                store.profile,
                query,
                limit=k,
                conversation_id=f.conversation_id,
                since=since,
                until=until,
            )

        top = ranked("message", turns(), W_LEXICAL)
        ranked(
            "message",
            store.chats.search_in_context(
                store.profile, query, limit=k, conversation_id=f.conversation_id
            ),
            W_CONTEXT,
            attr="context",
            ranks=("ctx_rank",),
        )
        for since, until in dated:
            ranked("message", turns(since, until), W_DATED, top, ranks=("dated_rank",))
    qv = None
    if pending is not None:
        vhits, spans, qv = pending.result()
        for hits, weight, r in [(vhits, W_VECTOR, "vec_rank")] + [
            (h, W_DATED, "dated_rank") for h in spans
        ]:
            for rank, (cid, sim) in enumerate(hits, start=1):
                c = cand(*split_id(cid))
                c.vector = max(c.vector, sim)
                _rank(c, r, rank)
            lists.append(([cid for cid, _ in hits], weight))
    for cid, fused in ranking.rrf(lists).items():
        cands[split_id(cid)].fused = fused
    return cands, dated, qv


def _exact_similarity(store, vec, qv, missing: list[str]) -> list[tuple[str, float]]:
    """The query's similarity to the candidates the nearest-vector search did not return (found
    lexically or pinned; ``missing``, as Chroma ids): an exact look-up over that small set, a
    feature of the learned score. The approximate search can miss a close vector (a fact at
    0.62 behind turns at 0.29 was seen), and "no similarity" must not read as "dissimilar".
    The fusion's lists are unchanged."""
    try:
        return vec.similarities(store.profile, qv, missing)
    except Exception as e:  # noqa: BLE001 - a feature less, not a failed recall
        log.warning("exact similarity of lexical candidates failed: %s", e)
        return []


def _rank(c: _Cand, attr: str, rank: int) -> None:
    old = getattr(c, attr)
    setattr(c, attr, rank if old == 0 else min(old, rank))


def _on(c: _Cand, dated: list[tuple[float, float]]) -> bool:
    """Whether a (loaded) chat-turn candidate was written inside a date the query names."""
    return (
        c.kind == "message"
        and c.message is not None
        and timeexpr.within(c.message.created_at, dated)
    )


def _load_rows(store, cands: dict[tuple[str, str], _Cand]) -> None:
    need_mem = [c.id for c in cands.values() if c.kind == "memory" and c.memory is None]
    need_msg = [c.id for c in cands.values() if c.kind == "message" and c.message is None]
    mems = store.memories.get_many(need_mem) if need_mem else {}
    msgs = store.chats.messages_by_ids(need_msg) if need_msg else {}
    for c in cands.values():
        if c.kind == "memory" and c.memory is None:
            c.memory = mems.get(c.id)
        elif c.kind == "message" and c.message is None:
            c.message = msgs.get(c.id)


def _neighbours(store, m: Message, n: int, after: bool) -> list[Message]:
    if n <= 0:
        return []
    op, order = (">", "ASC") if after else ("<", "DESC")
    rows = store.db.query(
        "SELECT * FROM messages WHERE conversation_id = ? AND role IN ('user', 'assistant') AND "
        f"(created_at {op} ? OR (created_at = ? AND rowid {op} (SELECT rowid FROM messages WHERE id = ?))) "
        f"ORDER BY created_at {order}, rowid {order} LIMIT ?",
        (m.conversation_id, m.created_at, m.created_at, m.id, n),
    )
    turns = [row_to_message(r) for r in rows if r["content"].strip()]
    return turns if after else turns[::-1]


def _joins(
    t: Message, anchor: Message, before: bool, strong: dict[str, float], floor: float
) -> bool:
    """Whether a neighbouring turn belongs in the anchor's window (see the module docstring)."""
    if not ADAPTIVE:
        return True
    question = (t if before else anchor).content.rstrip().endswith("?")
    return question or strong.get(t.id, 0.0) >= floor


def _message_hit(
    store,
    c: _Cand,
    covered: set[str],
    scores: dict[str, float],
    score: float,
    strong: dict[str, float],
) -> RecallHit:
    m = c.message
    assert m is not None
    floor = RELATED * score
    window = [
        t
        for t in _neighbours(store, m, BEFORE, False)
        if t.id not in covered and _joins(t, m, True, strong, floor)
    ]
    window += [m] + [
        t
        for t in _neighbours(store, m, AFTER, True)
        if t.id not in covered and _joins(t, m, False, strong, floor)
    ]
    covered.update(t.id for t in window)
    text = f"[{day(m.created_at)}]\n" + "\n".join(f"{t.role}: {t.content}" for t in window)
    return RecallHit(
        id=m.id,
        kind="message",
        text=text,
        section=EPISODE,
        score=score,
        scores=scores,
        provenance=Provenance(m.conversation_id, [t.id for t in window]),
        created_at=m.created_at,
        tokens=ranking.estimate_tokens(text),
        message=m,
    )


def _memory_hit(m: Memory, scores: dict[str, float], score: float) -> RecallHit:
    return RecallHit(
        id=m.id,
        kind="memory",
        text=m.content,
        section=m.section,
        score=score,
        scores=scores,
        provenance=Provenance(m.source_conversation_id, list(m.source_message_ids)),
        created_at=m.created_at,
        tokens=ranking.estimate_tokens(m.content),
        memory=m,
    )


def _neighbour_links(store, ids: list[str]) -> dict[str, tuple[str | None, bool, str | None]]:
    """For chat turns: (the turn before, whether it is a question, the turn after)."""
    if not ids:
        return {}
    before = (
        "p.conversation_id = m.conversation_id AND p.role IN ('user', 'assistant') AND "
        "(p.created_at < m.created_at OR (p.created_at = m.created_at AND p.rowid < m.rowid)) "
        "ORDER BY p.created_at DESC, p.rowid DESC LIMIT 1"
    )
    after = before.replace("<", ">").replace("DESC", "ASC")
    out: dict[str, tuple[str | None, bool, str | None]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = store.db.query(
            f"SELECT m.id AS id, (SELECT p.id FROM messages p WHERE {before}) AS prev_id, "
            f"(SELECT rtrim(p.content) LIKE '%?' FROM messages p WHERE {before}) AS prev_q, "
            f"(SELECT p.id FROM messages p WHERE {after}) AS next_id "
            f"FROM messages m WHERE m.id IN ({','.join('?' * len(chunk))})",
            tuple(chunk),
        )
        out.update({r["id"]: (r["prev_id"], bool(r["prev_q"]), r["next_id"]) for r in rows})
    return out


def _features(
    store,
    query: str,
    scored: list[tuple[float, _Cand, dict[str, float]]],
    dated: list[tuple[float, float]],
) -> list[dict[str, float]]:
    """The learned score's inputs for each scored candidate (memory.recall.score.BASE, KIND, QUERY)."""
    links = _neighbour_links(store, [c.id for _, c, _ in scored if c.kind == "message"])
    fused = {c.id: final for final, c, _ in scored if c.kind == "message"}
    best_sim = max((c.vector for _, c, _ in scored), default=0.0)
    q_words = math.log1p(len(ranking.words(query)))
    n_cands = math.log1p(len(scored))
    out = []
    for rank, (final, c, parts) in enumerate(scored, start=1):
        window, neigh, any_n = 1.0, 0.0, 0.0
        if c.kind == "message" and c.message is not None:
            prev_id, prev_q, next_id = links.get(c.id, (None, False, None))
            own_q = c.message.content.rstrip().endswith("?")
            for nid, question in ((prev_id, prev_q), (next_id, own_q)):
                if nid is None:
                    continue
                s = fused.get(nid, 0.0)
                if s > 0:
                    any_n = 1.0
                    neigh = max(neigh, min(2.0, s / final) if final > 0 else 2.0)
                if question or s >= RELATED * final:
                    window += 1.0
        out.append(
            {
                "is_message": 1.0 if c.kind == "message" else 0.0,
                "lex_score": c.lexical,
                "lex_raw": math.log1p(max(0.0, c.lex_raw)),
                "lex_rr": 1.0 / c.lex_rank if c.lex_rank else 0.0,
                "ctx_score": c.context if c.kind == "message" else c.lexical,
                "ctx_rr": 1.0 / c.ctx_rank if c.ctx_rank else 0.0,
                "vec_sim": c.vector,
                "vec_rr": 1.0 / c.vec_rank if c.vec_rank else 0.0,
                "vec_gap": best_sim - c.vector,
                "dated_rr": 1.0 / c.dated_rank if c.dated_rank else 0.0,
                "date_match": parts.get("date", 0.0),
                "recency": parts["recency"],
                "importance": parts["importance"],
                "pinned": parts["pinned"],
                "window": window,
                "neigh_best": neigh,
                "neigh_any": any_n,
                "fused": final,
                "fused_rr": 1.0 / rank,
                "query_words": q_words,
                "candidates": n_cands,
            }
        )
    kinds = score.kind_similarity([x["is_message"] for x in out], [x["vec_sim"] for x in out])
    q_my, q_i = score.first_person(query)
    for x, (gap, rr) in zip(out, kinds, strict=True):
        x["kind_gap"], x["kind_rr"] = gap, rr
        x["query_my"], x["query_i"] = q_my, q_i
    return out


def _scored(
    store, query: str, f: RecallFilters, exact: bool
) -> tuple[list[tuple[float, _Cand, dict[str, float]]], list[tuple[float, float]], bool]:
    """Every kept candidate with its hand-set fusion score and its parts, best first; the
    date spans; whether the vector side answered."""
    cands, dated, qv = _candidates(store, query, f)
    vectors = qv is not None
    missing = (
        [chroma_id(c.kind, c.id) for c in cands.values() if c.vector == 0.0]
        if exact and vectors
        else []
    )
    # the exact similarities (Chroma) are looked up beside the rows (SQLite): neither needs the other
    sims = _POOL.submit(_exact_similarity, store, store.vectors, qv, missing) if missing else None
    _load_rows(store, cands)
    if sims is not None:
        for cid, sim in sims.result():
            cands[split_id(cid)].vector = max(0.0, float(sim))
    t_now = now()
    # 1.0 = first in every list a candidate could be in
    norm = (ranking.RRF_K + 1) / (W_VECTOR + W_LEXICAL + W_CONTEXT + (2 * W_DATED if dated else 0))
    scored: list[tuple[float, _Cand, dict[str, float]]] = []
    for c in cands.values():
        if c.kind == "memory":
            m = c.memory
            if m is None or not _keep_memory(m, store.profile, f):
                continue
            parts = {
                "recency": ranking.recency(m.updated_at, t_now),
                "importance": m.importance,
                "pinned": 1.0 if m.pinned else 0.0,
                "access": ranking.access_score(m.access_count),
            }
        else:
            g = c.message
            if g is None or not _wants_messages(f) or not _keep_message(g, store.profile, f):
                continue
            parts = {
                "recency": ranking.recency(g.created_at, t_now),
                "importance": 0.5,
                "pinned": 0.0,
                "access": 0.0,
            }
        final = (
            c.fused
            * norm
            * ranking.boost(
                recency=parts["recency"],
                importance=parts["importance"],
                pinned=bool(parts["pinned"]),
                access=parts["access"],
            )
        )
        scored.append(
            (
                final,
                c,
                {
                    "vector": round(c.vector, 4),
                    "lexical": round(c.lexical, 4),
                    **({"context": round(c.context, 4)} if c.kind == "message" else {}),
                    **({"date": 1.0} if dated and _on(c, dated) else {}),
                    **{k: round(v, 4) for k, v in parts.items()},
                },
            )
        )
    scored.sort(key=lambda t: t[0], reverse=True)
    return scored, dated, vectors


def candidate_features(
    store, query: str, filters: RecallFilters | None = None
) -> list[tuple[str, str, float, dict[str, float]]]:
    """(kind, id, hand-set fusion score, features) of every candidate, best first by the
    fusion: what ``bench/train_relevance.py`` learns from."""
    scored, dated, _ = _scored(store, query, filters or RecallFilters(), True)
    feats = _features(store, query, scored, dated)
    return [(c.kind, c.id, final, x) for (final, c, _), x in zip(scored, feats, strict=True)]


def recall(
    store,
    query: str,
    *,
    limit: int,
    token_budget: int | None,
    filters: RecallFilters | None = None,
    relevance_floor: float | None = None,
) -> list[RecallHit]:
    """Ranked memories and chat-turn windows for ``query`` (see the module docstring).

    With the learned score (memory.recall.score) every hit carries its probability of being
    relevant (``RecallHit.relevance``); ``relevance_floor`` then drops the hits below it.
    Without the learned score (no usable weights) there is no probability and no floor."""
    hits, _ = _recall(store, query, limit, token_budget, filters, relevance_floor, False)
    return hits


def recall_considered(
    store,
    query: str,
    *,
    limit: int,
    token_budget: int | None,
    filters: RecallFilters | None = None,
    relevance_floor: float | None = None,
) -> tuple[list[RecallHit], list[RecallHit]]:
    """What :func:`recall` returns, and the best candidates it left out below the floor."""
    return _recall(store, query, limit, token_budget, filters, relevance_floor, True)


def _recall(
    store,
    query: str,
    limit: int,
    token_budget: int | None,
    filters: RecallFilters | None,
    relevance_floor: float | None,
    keep_below: bool,
) -> tuple[list[RecallHit], list[RecallHit]]:
    f = filters or RecallFilters()
    if limit <= 0 or not query.strip() or (token_budget is not None and token_budget <= 0):
        return [], []
    model = score.model()
    # (exact similarities are a feature of the learned score only: the fusion does not pay them)
    scored, dated, vectors = _scored(store, query, f, model is not None)
    # The score was learned with similarities: on lexical recall alone (no embedding model, the
    # vector tier down) every probability would read as "unlike the query", so the fusion
    # orders and no floor applies, as without weights.
    model = model if scored and vectors else None
    prob: dict[tuple[str, str], float] = {}
    if model is not None:
        feats = _features(store, query, scored, dated)
        for (_, c, _), p in zip(scored, model.probabilities(feats), strict=True):
            prob[(c.kind, c.id)] = p
        if model.order_by == "probability":
            scored.sort(key=lambda t: prob[(t[1].kind, t[1].id)], reverse=True)
    covered: set[str] = set()
    strong = {c.id: final for final, c, _ in scored if c.kind == "message"}

    def relevance(c: _Cand) -> float | None:
        return prob.get((c.kind, c.id))

    def shown(final: float, c: _Cand) -> float:
        p = relevance(c)
        return round(p if p is not None and model and model.order_by == "probability" else final, 4)

    below: list[RecallHit] = []

    def build():
        for final, c, scores in scored:
            p = relevance(c)
            low = relevance_floor is not None and p is not None and p < relevance_floor
            if low and (not keep_below or len(below) >= limit):
                continue
            if c.kind == "memory":
                hit = _memory_hit(c.memory, scores, shown(final, c))
            elif c.id not in covered:  # else it is already inside a better-ranked window
                if low:  # a window for the record only: it must not cover a kept turn
                    hit = _message_hit(store, c, set(covered), scores, shown(final, c), strong)
                else:
                    hit = _message_hit(store, c, covered, scores, shown(final, c), strong)
            else:
                continue
            hit.relevance = p
            if low:
                below.append(hit)
                continue
            yield hit

    hits = ranking.pack(
        ranking.collapse_duplicates(build(), lambda h: h.text),
        token_budget,
        lambda h: h.tokens,
        limit,
    )
    store.memories.touch([h.id for h in hits if h.kind == "memory"])
    return hits, below
