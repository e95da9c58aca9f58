"""Train the learned relevance score (memory/recall/score.py) on LoCoMo and first-person facts.

Reproducible: a fixed feature list, a deterministic fit (Newton's method on an L2-penalised
logistic regression, standardised features), no randomness.

1. Ingest all conversations through the real MemoryStore (as bench/locomo_recall.py does),
   once: the store is kept under ``--work`` (default /tmp/memchat-relevance) and reused.
2. Extract every candidate's features for every question (``hybrid.candidate_features``),
   cached in ``--work``/features.npz so that reruns only refit. A candidate is relevant when
   its turn is one of the question's evidence turns. Each question is also asked in the *next*
   conversation's profile, where nothing is relevant: that teaches the score what an
   off-topic query looks like (calibration, the floor).
3. Leave-one-conversation-out cross-validation: for each conversation, fit on the others
   (off-topic queries involving the held-out conversation are left out too), then score the
   held-out questions through the real ``recall`` with that fold's weights. Only held-out
   figures are reported: r@k and budget1000 per category, for the learned order, the hand-set
   fusion and BM25, and the floor table (evidence kept vs off-topic queries injecting
   anything).
4. First-person facts (bench/personal_train_data.py, written apart from the off-topic
   benchmark's data): its facts stored as memories in a profile beside every LoCoMo turn (as
   bench/offtopic.py stores its own), each fact's prompt asked (relevant: that fact) and the
   generic prompts and near misses asked (relevant: nothing). Cross-validated in
   ``--personal-folds`` folds:
   each fold's prompts are scored by weights fitted on LoCoMo and the other folds, through the
   real ``recall``. The LoCoMo folds above train on the whole personal set (it holds no LoCoMo
   question). The floor's default is the lowest floor at which, held out, off-topic queries
   (LoCoMo questions in another conversation's store; generic prompts, not the near misses:
   see floor_for) inject anything in at most 10 % of cases.
5. Fit on everything and write the weights (``--out``, default memory/recall/relevance_weights.json).

    python bench/train_relevance.py [--work /tmp/memchat-relevance] [--no-write] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import locomo_recall as lr  # noqa: E402
import personal_train_data as ptd  # noqa: E402

FLOORS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "locomo"))
    p.add_argument("--work", default="/tmp/memchat-relevance")
    p.add_argument("--out", default=str(ROOT / "memory" / "recall" / "relevance_weights.json"))
    p.add_argument("--l2", type=float, default=1.0)
    p.add_argument(
        "--drop",
        default="candidates,lex_raw,recency,importance,pinned",
        help="features given no weight: candidates and lex_raw scale with the store's size "
        "(every LoCoMo store is about the same size, so cross-validation cannot see them fail "
        "elsewhere); recency, importance and pins are constant in LoCoMo, and in the personal "
        "profile only its facts are new, so recency would learn 'a fact' rather than 'recent'",
    )
    p.add_argument(
        "--floor", type=float, default=None, help="default floor to record (default: measured)"
    )
    p.add_argument(
        "--personal-weight",
        type=float,
        default=20.0,
        help="weight of a personal-set candidate in the fit (its ~300 prompts beside LoCoMo's "
        "~6,000 queries and 270k candidates)",
    )
    p.add_argument("--personal-folds", type=int, default=5)
    p.add_argument("--no-personal", action="store_true", help="LoCoMo only (the version 1 fit)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--no-recall-eval", action="store_true", help="skip the real-recall CV")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def open_store(work: Path):
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["MEMCHAT_HOME"] = str(home)
    os.environ.setdefault(
        "MEMCHAT_EMBEDDING_MODEL", str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2")
    )
    os.environ["MEMCHAT_CONFIG"] = str(home / "config.toml")
    from memory.store import MemoryStore

    return MemoryStore(start_redis=False)


def load_data(data_dir: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(data_dir.glob("*.json"))}


def ingest_all(root, data: dict[str, dict], work: Path) -> dict[str, dict[str, str]]:
    """message id -> dia id per conversation; ingests only once per work dir."""
    marker = work / "dia.json"
    if marker.exists():
        return json.loads(marker.read_text())
    dias = {}
    for stem, d in data.items():
        t = time.perf_counter()
        dias[stem] = lr.ingest(root.for_profile(f"locomo-{stem}"), d.get("conversation", d))
        print(f"ingested {stem} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    marker.write_text(json.dumps(dias))
    return dias


def ingest_observations(root, data: dict[str, dict], work: Path) -> dict[str, dict[str, list]]:
    """Each conversation's LoCoMo observations (facts extracted per session, each naming its
    evidence turns) stored as memories in a profile of their own: the kind of item memchat's
    extraction files. memory id -> evidence dia ids, per conversation; once per work dir."""
    marker = work / "obs.json"
    if marker.exists():
        return json.loads(marker.read_text())
    out: dict[str, dict[str, list]] = {}
    for stem, d in data.items():
        conv = d.get("conversation", d)
        store = root.for_profile(f"locomo-obs-{stem}")
        ids: dict[str, list] = {}
        n = 1
        while f"session_{n}" in conv:
            ts = lr.session_time(conv[f"session_{n}_date_time"])
            for facts in (d.get(f"session_{n}_observation") or {}).values():
                for fact in facts:
                    text, ev = fact[0], fact[1] if len(fact) > 1 else []
                    evs = sorted(lr.evidence_ids(ev if isinstance(ev, list) else [ev]))
                    if text.strip() and evs:
                        m = store.add_memory(text, created_at=ts, updated_at=ts)
                        ids[m.id] = evs
            n += 1
        store.index_pending()
        out[stem] = ids
        print(f"observations {stem}: {len(ids)}", file=sys.stderr)
    marker.write_text(json.dumps(out))
    return out


def questions(d: dict) -> list[tuple[str, str, set[str]]]:
    out = []
    for qa in d["qa"]:
        cat, gold = str(qa.get("category")), lr.evidence_ids(qa.get("evidence", []))
        if cat in lr.CATEGORIES and gold:
            out.append((qa["question"], cat, gold))
    return out


def extract(root, data, dias, obs, work: Path) -> dict[str, np.ndarray]:
    cache = work / "features.npz"
    from memory.recall import score
    from memory.recall.hybrid import candidate_features

    if cache.exists():
        z = np.load(cache)
        if list(z["names"]) == list(score.BASE):
            return dict(z)
    stems = list(data)
    X, y, qid, conv, store_conv, neg, facts = [], [], [], [], [], [], []
    n = 0
    t = time.perf_counter()
    for i, stem in enumerate(stems):
        for j, other in ((i, stem), ((i + 1) % len(stems), stems[(i + 1) % len(stems)])):
            for is_obs in (False, True):
                store = root.for_profile(f"locomo-{'obs-' if is_obs else ''}{other}")
                dia, ev = dias[other], obs[other]
                for question, _cat, gold in questions(data[stem]):
                    for kind, item_id, _fused, x in candidate_features(store, question):
                        X.append([x[f] for f in score.BASE])
                        if kind == "message":
                            rel = dia.get(item_id) in gold
                        else:
                            rel = bool(gold & set(ev.get(item_id, ())))
                        y.append(1.0 if rel and j == i else 0.0)
                        qid.append(n)
                        conv.append(i)
                        store_conv.append(j)
                        neg.append(j != i)
                        facts.append(is_obs)
                    n += 1
        print(f"features {stem}: {n} queries, {time.perf_counter() - t:.0f}s", file=sys.stderr)
    out = {
        "X": np.asarray(X, dtype=np.float64),
        "y": np.asarray(y),
        "qid": np.asarray(qid),
        "conv": np.asarray(conv),
        "store_conv": np.asarray(store_conv),
        "neg": np.asarray(neg),
        "facts": np.asarray(facts),
        "names": np.asarray(score.BASE),
    }
    np.savez_compressed(cache, **out)
    return out


PERSONAL = "personal-train"


def ingest_personal(root, data: dict[str, dict], work: Path) -> dict[int, str]:
    """The personal training facts as memories, beside every LoCoMo turn in one profile (as
    bench/offtopic.py builds its store): fact index -> memory id; once per work dir."""
    bad = ptd.check_disjoint()
    if bad:
        sys.exit(f"personal training data overlaps the off-topic benchmark: {bad}")
    marker = work / "personal.json"
    if marker.exists():
        return {int(k): v for k, v in json.loads(marker.read_text()).items()}
    store = root.for_profile(PERSONAL)
    ids = {i: store.add_memory(fact).id for i, (fact, _) in enumerate(ptd.FACTS)}
    t = time.perf_counter()
    for d in data.values():
        lr.ingest(store, d.get("conversation", d))
    store.index_pending()
    print(f"personal profile ingested in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    marker.write_text(json.dumps(ids))
    return ids


def personal_prompts(folds: int) -> list[tuple[str, int | None, int]]:
    """(prompt, index of the fact it needs or None, fold): the facts' prompts, the generic
    prompts, then the near misses (``is_near_miss`` tells them apart)."""
    out: list[tuple[str, int | None, int]] = [
        (q, i, i % folds) for i, (_, q) in enumerate(ptd.FACTS)
    ]
    out += [(q, None, j % folds) for j, q in enumerate(ptd.GENERIC)]
    out += [(q, None, j % folds) for j, q in enumerate(ptd.NEAR_MISS)]
    return out


def is_near_miss(n: int) -> bool:
    """Whether prompt ``n`` of :func:`personal_prompts` is one of ptd.NEAR_MISS."""
    return n >= len(ptd.FACTS) + len(ptd.GENERIC)


def extract_personal(root, ids: dict[int, str], folds: int, work: Path) -> dict[str, np.ndarray]:
    cache = work / "personal_features.npz"
    from memory.recall import score
    from memory.recall.hybrid import candidate_features

    prompts = personal_prompts(folds)
    if cache.exists():
        z = np.load(cache)
        if list(z["names"]) == list(score.BASE) and list(z["prompts"]) == [p for p, *_ in prompts]:
            return dict(z)
    store = root.for_profile(PERSONAL)
    X, y, qid, fold, generic, fact = [], [], [], [], [], []
    for n, (prompt, need, k) in enumerate(prompts):
        for kind, item_id, _fused, x in candidate_features(store, prompt):
            X.append([x[f] for f in score.BASE])
            y.append(1.0 if need is not None and kind == "memory" and item_id == ids[need] else 0.0)
            qid.append(n)
            fold.append(k)
            generic.append(need is None)
            fact.append(kind == "memory")
    out = {
        "X": np.asarray(X, dtype=np.float64),
        "y": np.asarray(y),
        "qid": np.asarray(qid),
        "fold": np.asarray(fold),
        "generic": np.asarray(generic),
        "fact": np.asarray(fact),
        "names": np.asarray(score.BASE),
        "prompts": np.asarray([p for p, *_ in prompts]),
    }
    np.savez_compressed(cache, **out)
    return out


def locomo_queries(data: dict[str, dict]) -> list[str]:
    """Each LoCoMo query's text, by query number in the feature cache (extract's order)."""
    stems = list(data)
    return [
        question
        for stem in stems
        for _store in range(2)
        for _is_obs in range(2)
        for question, _cat, _gold in questions(data[stem])
    ]


def expand(X: np.ndarray, qid: np.ndarray, texts: list[str]) -> np.ndarray:
    """BASE columns of every candidate of every query (``qid``, whose text is ``texts[qid]``)
    -> FEATURES columns: the KIND and QUERY columns as hybrid._features computes them
    (score.kind_similarity vectorised over the queries, score.first_person), then the per-kind
    terms (score.derive)."""
    from memory.recall import score

    msg, sim = X[:, score.BASE.index("is_message")], X[:, score.BASE.index("vec_sim")]
    group = qid * 2 + msg  # one group per query and kind
    order = np.lexsort((-sim, group))
    g, s = group[order], sim[order]
    start = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    idx = np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(g)]))
    best = s[start][idx]
    # 1 + candidates of the group strictly more similar: the first position of this value
    first = np.arange(len(s))
    same = np.r_[False, (g[1:] == g[:-1]) & (s[1:] == s[:-1])]
    for i in np.flatnonzero(same):  # ties (rare): carry the first position of the run
        first[i] = first[i - 1]
    kind_gap, kind_rr = np.empty(len(X)), np.empty(len(X))
    kind_gap[order] = best - s
    kind_rr[order] = 1.0 / (1 + first - start[idx])
    cols = {**dict(zip(score.BASE, X.T, strict=True)), "kind_gap": kind_gap, "kind_rr": kind_rr}
    flags = np.asarray([score.first_person(t) for t in texts]).reshape(-1, len(score.QUERY))
    for n, col in zip(score.QUERY, flags.T, strict=True):
        cols[n] = col[qid]
    fact = 1.0 - msg
    cols.update({f"fact_{n}": cols[n] * fact for n in score.PER_KIND})
    return np.column_stack([cols[n] for n in score.FEATURES])


def personal_eval(root, ids, folds: int, models: dict[int, object], floors) -> dict:
    """Held-out personal figures through the real recall (8 hits, 1,000 tokens, as a chat
    turn recalls): prompts of fold k scored by ``models[k]``."""
    from memory.recall import score

    store = root.for_profile(PERSONAL)
    gets = {f: [] for f in floors}
    injects = {f: [] for f in floors}
    near = {f: [] for f in floors}
    for k in range(folds):
        score.use(models[k])
        for n, (prompt, need, fold) in enumerate(personal_prompts(folds)):
            if fold != k:
                continue
            hits = store.recall(prompt, limit=8, token_budget=1000, relevance_floor=None)
            for f in floors:
                kept = [h for h in hits if h.relevance is None or h.relevance >= f]
                if need is not None:
                    gets[f].append(any(h.id == ids[need] for h in kept))
                else:
                    (near if is_near_miss(n) else injects)[f].append(bool(kept))
    score.reset()
    return {
        str(f): {
            "generic_injects_any": round(float(np.mean(injects[f])), 4),
            "near_miss_injects_any": round(float(np.mean(near[f])), 4) if near[f] else None,
            "personal_gets_fact": round(float(np.mean(gets[f])), 4),
        }
        for f in floors
    }


DROP: set[str] = set()


def fit(X: np.ndarray, y: np.ndarray, l2: float, sw: np.ndarray | None = None):
    """L2-penalised logistic regression by Newton's method on standardised features, each
    row weighted by ``sw`` (default 1)."""
    from memory.recall.score import Model

    sw = np.ones(len(X)) if sw is None else sw
    # standardised over the rows as they are, unweighted: weighting the personal set's rows
    # (no date in its prompts) would shrink the scale of rare features such as dated_rr, and
    # the clip at ±CLIP would then flatten their first ranks into one value
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    # A feature (nearly) constant in training (importance, pins, recency and kind: LoCoMo has
    # chat turns only, all years old) gets no weight: it must not explode on other data.
    dead = (scale < 1e-3) | np.isin(np.asarray(FEAT), sorted(DROP))
    scale[dead] = 1.0
    Z = np.hstack([np.clip((X - mean) / scale, -CLIP, CLIP), np.ones((len(X), 1))])
    Z[:, :-1][:, dead] = 0.0
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(Z @ w, -30, 30)))
        g = Z.T @ (sw * (p - y)) + reg * w
        H = (Z * (sw * p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    w[:-1][dead] = 0.0
    return Model(
        mean=tuple(map(float, mean)),
        scale=tuple(map(float, scale)),
        coef=tuple(map(float, w[:-1])),
        intercept=float(w[-1]),
    )


def predict(m, X: np.ndarray) -> np.ndarray:
    Z = np.clip((X - np.asarray(m.mean)) / np.asarray(m.scale), -CLIP, CLIP)
    z = Z @ np.asarray(m.coef) + m.intercept
    return 1 / (1 + np.exp(-np.clip(z, -30, 30)))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(p)
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else float("nan")


def recall_eval(root, data, dias, stems, model_for: dict[int, object] | None, floors=()) -> dict:
    """Held-out r@k / budget1000 per category through the real recall, with each
    conversation scored by ``model_for[i]`` (None: the hand-set fusion); plus BM25."""
    from memory.recall import score

    ours, base = [], []
    kept = {f: [] for f in floors}
    for i, stem in enumerate(stems):
        score.use(model_for[i] if model_for else None)
        store = root.for_profile(f"locomo-{stem}")
        dia = dias[stem]
        for question, cat, gold in questions(data[stem]):
            hits = lr.memchat_hits(store, question, None, max(lr.KS))
            budget = lr.memchat_hits(store, question, lr.BUDGET, 100)
            ours.append((cat, lr.score_question(hits, budget, dia, gold)))
            b = lr.bm25_hits(store, question)
            base.append((cat, lr.score_question(b, lr.packed(b, lr.BUDGET), dia, gold)))
            if floors:
                full = store.recall(question, limit=8, token_budget=1000, relevance_floor=None)
                for f in floors:
                    got = [
                        (h.provenance.message_ids, h.tokens)
                        for h in full
                        if h.relevance is None or h.relevance >= f
                    ]
                    kept[f].append(lr.coverage(got, dia, gold) > 0)
    score.reset()
    out = {"memchat": lr.summarise(ours), "bm25": lr.summarise(base)}
    if floors:
        out["prompt_has_evidence"] = {f: round(float(np.mean(v)), 4) for f, v in kept.items()}
    return out


def floor_for(table: dict, personal: dict | None) -> float:
    """The lowest floor at which, held out, off-topic queries inject anything in <= 10 % of
    cases: LoCoMo questions in another conversation's store (chat turns and stored facts) and,
    with the personal set, its generic prompts. Not its near misses: each of those was written
    to collide with one of the set's facts, so the share of them that injects measures how
    many were written, not how often an everyday prompt would inject (the fit learns from them;
    the report shows them)."""
    for f in FLOORS:
        rows = table[str(f)]
        ok = all(rows[k]["offtopic_injects_any"] <= 0.10 for k in ("turns", "facts"))
        if personal is not None:
            ok = ok and personal[str(f)]["generic_injects_any"] <= 0.10
        if ok:
            return f
    return FLOORS[-1]


def main(argv=None) -> None:
    args = parse_args(argv)
    DROP.update(f for f in args.drop.split(",") if f)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = load_data(Path(args.data))
    stems = list(data)
    report: dict = {"conversations": stems, "l2": args.l2}
    with open_store(work) as root:
        if root.vectors is None:
            sys.exit("no embedding model: set MEMCHAT_EMBEDDING_MODEL")
        dias = ingest_all(root, data, work)
        obs = ingest_observations(root, data, work)
        F = extract(root, data, dias, obs, work)
        X, y, qid, conv, sconv, neg = (
            expand(F["X"], F["qid"], locomo_queries(data)),
            F["y"],
            F["qid"],
            F["conv"],
            F["store_conv"],
            F["neg"],
        )
        print(f"{len(X)} candidates, {int(y.sum())} relevant", file=sys.stderr)
        K = args.personal_folds
        if args.no_personal:
            PX, Py, Pw, Pfold = np.zeros((0, X.shape[1])), np.zeros(0), np.zeros(0), np.zeros(0)
        else:
            pids = ingest_personal(root, data, work)
            P = extract_personal(root, pids, K, work)
            PX, Py, Pfold = expand(P["X"], P["qid"], list(P["prompts"])), P["y"], P["fold"]
            Pw = np.full(len(PX), args.personal_weight)
            print(f"personal: {len(PX)} candidates, {int(Py.sum())} relevant", file=sys.stderr)
        ones = np.ones(len(X))

        def fit_on(sel: np.ndarray, psel: np.ndarray):
            return fit(
                np.vstack([X[sel], PX[psel]]),
                np.concatenate([y[sel], Py[psel]]),
                args.l2,
                np.concatenate([ones[sel], Pw[psel]]),
            )

        folds = {}
        p_cv = np.zeros(len(X))
        for i in range(len(stems)):
            train = (conv != i) & (sconv != i)
            test = (conv == i) | (sconv == i)
            folds[i] = fit_on(train, np.ones(len(PX), dtype=bool))
            p_cv[test & (conv == i)] = predict(folds[i], X[test & (conv == i)])
        pfolds = {}
        if len(PX):
            pp_cv = np.zeros(len(PX))
            for k in range(K):
                pfolds[k] = fit_on(np.ones(len(X), dtype=bool), Pfold != k)
                pp_cv[Pfold == k] = predict(pfolds[k], PX[Pfold == k])
            pfact = P["fact"].astype(bool)
            report["heldout_auc_personal_facts"] = round(auc(pp_cv[pfact], Py[pfact]), 4)
        facts = F["facts"]
        # held-out candidate-level figures, for chat turns and for stored facts
        fused_col = list(FEAT).index("fused")
        for name, part in (("turns", ~facts), ("facts", facts)):
            on = ~neg & part
            report[f"heldout_auc_{name}"] = round(auc(p_cv[on], y[on]), 4)
            report[f"heldout_auc_{name}_fusion"] = round(auc(X[on, fused_col], y[on]), 4)
        eps = 1e-9
        report["heldout_logloss"] = round(
            float(-np.mean(y * np.log(p_cv + eps) + (1 - y) * np.log(1 - p_cv + eps))),
            5,
        )
        # calibration: mean predicted vs observed per decile of p
        bins = np.quantile(p_cv, np.linspace(0, 1, 11))
        cal = []
        for lo, hi in zip(bins[:-1], bins[1:], strict=True):
            sel = (p_cv >= lo) & (p_cv <= hi)
            cal.append([round(float(p_cv[sel].mean()), 4), round(float(y[sel].mean()), 4)])
        report["calibration_deciles"] = cal
        # the floor, per query: does an off-topic query (asked in another conversation) have
        # any candidate above it; does an on-topic query keep a relevant candidate above it
        table: dict = {}
        for name, want in (("turns", False), ("facts", True)):
            top_neg, top_pos = [], []
            for q in np.unique(qid[facts == want]):
                sel = qid == q
                if neg[sel][0]:
                    top_neg.append(p_cv[sel].max())
                else:
                    r = y[sel] == 1
                    if r.any():
                        top_pos.append(p_cv[sel][r].max())
            for f in FLOORS:
                table.setdefault(str(f), {})[name] = {
                    "offtopic_injects_any": round(float(np.mean(np.asarray(top_neg) >= f)), 4),
                    "ontopic_keeps_evidence": round(float(np.mean(np.asarray(top_pos) >= f)), 4),
                }
        report["floor_table"] = table
        personal = None
        if pfolds:
            t = time.perf_counter()
            personal = personal_eval(root, pids, K, pfolds, (0.0, *FLOORS))
            report["personal_cv"] = personal
            print(f"personal eval {time.perf_counter() - t:.0f}s", file=sys.stderr)
        floor = args.floor if args.floor is not None else floor_for(table, personal)
        report["floor"] = floor
        if not args.no_recall_eval:
            t = time.perf_counter()
            report["cv_learned"] = recall_eval(root, data, dias, stems, folds, FLOORS)
            report["fusion"] = recall_eval(root, data, dias, stems, None)
            print(f"recall eval {time.perf_counter() - t:.0f}s", file=sys.stderr)
        final = fit_on(np.ones(len(X), dtype=bool), np.ones(len(PX), dtype=bool))
        learned_better = (
            "cv_learned" not in report
            or report["cv_learned"]["memchat"]["overall"]["budget1000"]
            >= report["fusion"]["memchat"]["overall"]["budget1000"]
        )
        order_by = "probability" if learned_better else "fusion"
        from dataclasses import replace

        final = replace(final, order_by=order_by, floor=floor)
        report["order_by"] = order_by
        report["weights"] = dict(zip(FEAT, [round(c, 3) for c in final.coef], strict=True))
        if not args.no_write:
            trained = f"LoCoMo dev split ({','.join(stems)}), {len(X)} candidates, "
            trained += f"{int(y.sum())} relevant"
            if len(PX):
                trained += (
                    f"; bench/personal_train_data.py ({len(ptd.FACTS)} facts, "
                    f"{len(ptd.GENERIC)} generic prompts, {len(ptd.NEAR_MISS)} near misses), "
                    f"{len(PX)} candidates, "
                    f"weight {args.personal_weight:g}"
                )
            meta = {
                "trained_on": trained,
                "script": "bench/train_relevance.py",
                "l2": args.l2,
                "dropped": sorted(DROP),
                "heldout_auc_turns": report["heldout_auc_turns"],
                "heldout_auc_facts": report["heldout_auc_facts"],
                **(
                    {"heldout_auc_personal_facts": report["heldout_auc_personal_facts"]}
                    if len(PX)
                    else {}
                ),
            }
            Path(args.out).write_text(json.dumps(final.to_json(**meta), indent=1) + "\n")
            print(f"wrote {args.out}", file=sys.stderr)
    print(json.dumps(report, indent=None if args.json else 1))


from memory.recall.score import CLIP  # noqa: E402
from memory.recall.score import FEATURES as FEAT  # noqa: E402

if __name__ == "__main__":
    main()
