"""Recall latency and ingest throughput at 10k and 100k synthetic memories.

Memories are generated sentences of realistic length (8-25 words) about people, places,
plans and preferences. Ingest = SQLite writes in transactions of 1,000 + the outbox replayed
into Chroma (embedding in batches of 32). Latency = warm `recall(limit=8, token_budget=1000)`
including the query embedding, over queries that are partly paraphrases, partly exact terms.
A lexical-only recall (no vector tier) runs in the same process as the baseline.

    python bench/recall_latency.py [--sizes 10000,100000] [--queries 200]
        [--embedding fp32|int8] [--ingest-only] [--breakdown] [--reuse DATA_DIR] [--cleaned]

--embedding int8 runs the int8 copy of the model (made once into the run's data dir, before
the clock starts). --breakdown also times the embedder alone on the same texts, and the
Chroma writes alone with those vectors, so the ingest time can be split. --cleaned runs the
worker's daily cleanup first (its PRAGMA optimize writes ANALYZE statistics the planner then
uses, as in a store a week old). always_on_* times the always-on look-up every prompt makes
beside its recall.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PEOPLE = [
    "my sister",
    "my brother",
    "Anna",
    "Tomasz",
    "my manager",
    "the landlord",
    "grandma",
    "Priya",
    "our neighbour",
    "the dentist",
    "my daughter",
    "Luis",
    "the plumber",
    "my best friend",
    "Kenji",
]
VERBS = [
    "is planning",
    "has started",
    "keeps asking about",
    "really enjoys",
    "wants to cancel",
    "booked",
    "is worried about",
    "recommended",
    "finished",
    "postponed",
    "forgot about",
    "is saving for",
]
THINGS = [
    "a trip to Lisbon",
    "the kitchen renovation",
    "piano lessons",
    "a new electric bike",
    "the quarterly budget review",
    "a vegetarian cooking course",
    "the marathon in October",
    "a birthday party at the lake house",
    "the insurance renewal",
    "learning Japanese",
    "a weekend hiking in the Alps",
    "the car service appointment",
    "a pottery workshop",
    "the tax return",
    "adopting a rescue dog",
    "moving to a bigger flat",
    "the book club meeting",
]
TAILS = [
    "next week",
    "since last spring",
    "because the old one broke",
    "with two friends from work",
    "although the price went up again",
    "and asked me to help with the details",
    "before the holidays",
    "but nothing is confirmed yet",
    "after reading a long article about it",
    "on Tuesday evenings",
    "and seems very excited",
    "despite the bad weather forecast",
    "",
]
QUERIES = [
    "when is the trip",
    "who is learning a language",
    "what did the dentist say",
    "home improvement plans",
    "running race",
    "pets",
    "money worries",
    "music lessons",
    "Lisbon",
    "insurance",
    "Kenji",
    "cooking class",
    "what is grandma doing",
    "travel with coworkers",
    "tax deadline",
]


def sentence(rng: random.Random) -> str:
    s = f"{rng.choice(PEOPLE).capitalize()} {rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(TAILS)}".strip()
    if rng.random() < 0.4:
        s += f", and {rng.choice(PEOPLE)} {rng.choice(VERBS)} {rng.choice(THINGS)}"
    return s + f" (note {rng.randrange(10**6)})."


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def timed_recalls(
    store, queries: list[str], floor: float | None = None, cpu: list[float] | None = None
) -> list[float]:
    """Wall-clock ms of each recall; with ``cpu``, the process's CPU ms of each appended to it
    (all threads; it grows on a busy machine too)."""
    for q in queries[:10]:  # warm caches, model and collection handles
        store.recall(q, limit=8, token_budget=1000, relevance_floor=floor)
    out = []
    for q in queries:
        c, t = time.process_time(), time.perf_counter()
        store.recall(q, limit=8, token_budget=1000, relevance_floor=floor)
        out.append((time.perf_counter() - t) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c) * 1000)
    return out


def use_int8(store, home: str) -> None:
    """Give ``store`` a vector tier with the int8 embedder (cached under the data dir)."""
    from memory.vectors.embedder import get_embedder
    from memory.vectors.index import VectorIndex

    emb = get_embedder(
        os.environ["MEMCHAT_EMBEDDING_MODEL"], quantize=True, cache_dir=Path(home) / "models"
    )
    store._vectors = VectorIndex(path=store.settings.chroma_path, embedder=emb)


def breakdown(store, texts: list[str]) -> dict[str, float]:
    """The embedder alone on the same texts, then Chroma writes alone with those vectors."""
    vec, out = store.vectors, {}
    t = time.perf_counter()
    vectors = vec.embedder.embed(texts)
    out["embed_only_per_s"] = round(len(texts) / (time.perf_counter() - t))
    from memory.sqlite.rows import row_to_memory
    from memory.vectors.indexer import memory_doc

    ids = [f"bench:{i}" for i in range(len(texts))]
    meta = memory_doc(row_to_memory(store.db.query("SELECT * FROM memories LIMIT 1")[0]))[1]
    t = time.perf_counter()
    for start in range(0, len(ids), 256):
        vec.upsert_vectors(
            "bench",
            ids[start : start + 256],
            vectors[start : start + 256],
            [meta] * len(ids[start : start + 256]),
        )
    out["chroma_only_per_s"] = round(len(texts) / (time.perf_counter() - t))
    vec.reset("bench")
    return out


def run_size(
    n: int,
    n_queries: int,
    seed: int = 7,
    *,
    embedding: str = "fp32",
    ingest_only: bool = False,
    split: bool = False,
    reuse: str | None = None,
    cleaned: bool = False,
) -> dict[str, float | str]:
    from memory.store import MemoryStore

    home = reuse or tempfile.mkdtemp(prefix=f"memchat-lat-{n}-")
    os.environ["MEMCHAT_HOME"] = home
    os.environ["MEMCHAT_CONFIG"] = str(Path(home) / "config.toml")
    rng = random.Random(seed)
    texts = [sentence(rng) for _ in range(n)]
    queries = [rng.choice(QUERIES) for _ in range(n_queries)]
    res: dict[str, float | str] = {
        "memories": n,
        "avg_words": round(statistics.mean(len(t.split()) for t in texts), 1),
    }
    with MemoryStore(start_redis=False) as store:
        if embedding == "int8":
            use_int8(store, home)
        vec = store.vectors
        vec.embedder.load()
        res["embedder"] = repr(vec.embedder)
        res["data_dir"] = home
        if reuse and store.count_memories() == n:
            store.index_pending()  # a store this script made before (same seed): no ingest
        else:
            t = time.perf_counter()
            for start in range(0, n, 1000):
                with store.db.tx():
                    for text in texts[start : start + 1000]:
                        store.add_memory(text, section="facts")
            sql_s = time.perf_counter() - t
            store.index_pending()
            total_s = time.perf_counter() - t
            res["ingest_sqlite_per_s"] = round(n / sql_s)
            res["ingest_vectors_per_s"] = round(n / (total_s - sql_s))
            res["ingest_total_per_s"] = round(n / total_s)
        if split:
            res.update(breakdown(store, texts))
        if ingest_only:
            return res
        from memory.recall import score

        if cleaned:
            for q in queries[:10]:  # the queries the optimizer learns from
                store.recall(q, limit=8)
            store.purge_deleted(30)  # the worker's daily cleanup, PRAGMA optimize included
            res["statistics"] = store.db.scalar("SELECT count(*) FROM sqlite_stat1")
        t_always = []
        for _ in range(50):
            t = time.perf_counter()
            store.always_on()
            t_always.append((time.perf_counter() - t) * 1000)
        res["always_on_p50_ms"] = round(pct(t_always, 50), 2)
        res["always_on_p95_ms"] = round(pct(t_always, 95), 2)
        # the learned score, as a prompt recalls (with the floor), then the hand-set fusion
        # alone (no weights), the same queries in the same process
        cpu: list[float] = []
        lat = timed_recalls(store, queries, store.settings.memory.relevance_floor, cpu)
        res["recall_p50_ms"], res["recall_p95_ms"] = round(pct(lat, 50), 1), round(pct(lat, 95), 1)
        res["recall_cpu_p50_ms"] = round(pct(cpu, 50), 1)
        res["recall_cpu_p95_ms"] = round(pct(cpu, 95), 1)
        res["learned_score"] = score.model() is not None
        score.use(None)
        cpu = []
        fus = timed_recalls(store, queries, cpu=cpu)
        score.reset()
        res["fusion_only_p50_ms"] = round(pct(fus, 50), 1)
        res["fusion_only_p95_ms"] = round(pct(fus, 95), 1)
        res["fusion_only_cpu_p50_ms"] = round(pct(cpu, 50), 1)
        res["fusion_only_cpu_p95_ms"] = round(pct(cpu, 95), 1)
        t_embed = []
        for q in queries[:50]:
            t = time.perf_counter()
            vec.embedder.embed_one(q)
            t_embed.append((time.perf_counter() - t) * 1000)
        res["query_embed_p50_ms"] = round(pct(t_embed, 50), 1)
        store._vectors = None  # the same store without its vector tier: lexical-only baseline
        lex = timed_recalls(store, queries)
        res["lexical_only_p50_ms"], res["lexical_only_p95_ms"] = (
            round(pct(lex, 50), 1),
            round(pct(lex, 95), 1),
        )
    return res


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--embedding", choices=("fp32", "int8"), default="fp32")
    p.add_argument("--ingest-only", action="store_true", help="skip the recall latency part")
    p.add_argument("--breakdown", action="store_true", help="time embedder and Chroma alone")
    p.add_argument(
        "--reuse",
        default=None,
        help="data dir of an earlier run (printed as data_dir): skip the ingest when it holds "
        "the same number of memories (one size per run)",
    )
    p.add_argument(
        "--cleaned", action="store_true", help="run the daily cleanup first (ANALYZE statistics)"
    )
    args = p.parse_args(argv)
    os.environ.setdefault(
        "MEMCHAT_EMBEDDING_MODEL", str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2")
    )
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        res = run_size(
            n,
            args.queries,
            embedding=args.embedding,
            ingest_only=args.ingest_only,
            split=args.breakdown,
            reuse=args.reuse,
            cleaned=args.cleaned,
        )
        for k, v in res.items():
            print(f"{n}.{k}: {v}", flush=True)


if __name__ == "__main__":
    main()
