"""Embedding speed: sentences/s in batches and single-query latency (p50/p95), fp32 and int8.

Usage: .venv/bin/python bench/embed_speed.py [MODEL_DIR] [--int8] [--agreement]
MODEL_DIR defaults to $MEMCHAT_EMBEDDING_MODEL, then ../shared/models/all-MiniLM-L6-v2.
Prints ``name: value`` lines.

--int8 also times the int8 copy of the model (made once into a temp dir, before the clock
starts), interleaved with fp32 in the same process so the ratio holds on a busy machine.
--agreement (with --int8) compares int8 with fp32 vectors over the LoCoMo turns and
questions in ../shared/locomo: per-text cosine, top-10 neighbour overlap (questions against
the turns of their conversation) and vector-only evidence recall@10 of each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memory.vectors.embedder import Embedder, resolve_model_dir  # noqa: E402

EVIDENCE = re.compile(r"D:?(\d+):(\d+)")  # as bench/locomo_recall.py reads dia_ids
WORDS = (
    "memory assistant remember prefer coffee morning project deadline meeting sister Lisbon "
    "python code review cat dog walk weather sunny rain budget invoice travel train flight "
    "book read music guitar practice gym run kilometres dinner recipe pasta garden tomato"
).split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(12, 28))) + "." for _ in range(n)]


def throughput(emb: Embedder, texts: list[str]) -> float:
    t0 = time.perf_counter()
    emb.embed(texts, batch_size=32)
    return len(texts) / (time.perf_counter() - t0)


def latency(emb: Embedder) -> tuple[float, float]:
    lat = []
    for text in sentences(200, seed=1):
        t0 = time.perf_counter()
        emb.embed_one(text)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.95) - 1]


def locomo(data: Path) -> list[tuple[list[tuple[str, str]], list[dict]]]:
    """(turns as (dia_id, text), questions of categories 1-4) per conversation."""
    convs = []
    for f in sorted(data.glob("*.json")):
        d = json.loads(f.read_text())
        turns = [
            (t["dia_id"], t["text"]) for k in d if re.fullmatch(r"session_\d+", k) for t in d[k]
        ]
        qa = [q for q in d["qa"] if str(q.get("category")) in "1234" and q.get("evidence")]
        convs.append((turns, qa))
    return convs


def agreement(fp32: Embedder, int8: Embedder, data: Path) -> dict[str, float]:
    cos, overlap, recall = [], [], {"fp32": [], "int8": []}
    for turns, qa in locomo(data):
        texts = [t for _, t in turns] + [q["question"] for q in qa]
        a, b = fp32.embed(texts), int8.embed(texts)
        cos.append(np.sum(a * b, axis=1))
        n = len(turns)
        tops = {}
        for name, v in (("fp32", a), ("int8", b)):
            tops[name] = np.argsort(-(v[n:] @ v[:n].T), axis=1)[:, :10]
            for q, top in zip(qa, tops[name], strict=True):
                ev = {f"D{a}:{b}" for r in q["evidence"] for a, b in EVIDENCE.findall(r)}
                recall[name].append(len(ev & {turns[j][0] for j in top}) / max(1, len(ev)))
        overlap += [
            len(set(x) & set(y)) / 10 for x, y in zip(tops["fp32"], tops["int8"], strict=True)
        ]
    c = np.concatenate(cos)
    return {
        "agreement_texts": len(c),
        "agreement_cosine_mean": round(float(c.mean()), 4),
        "agreement_cosine_p1": round(float(np.percentile(c, 1)), 4),
        "agreement_cosine_min": round(float(c.min()), 4),
        "agreement_top10_overlap": round(float(np.mean(overlap)), 3),
        "vector_recall10_fp32": round(float(np.mean(recall["fp32"])), 4),
        "vector_recall10_int8": round(float(np.mean(recall["int8"])), 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir", nargs="?")
    p.add_argument("--int8", action="store_true")
    p.add_argument("--agreement", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    configured = (
        args.model_dir
        or os.environ.get("MEMCHAT_EMBEDDING_MODEL")
        or ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"
    )
    folder = resolve_model_dir(configured)
    if folder is None:
        sys.exit(f"no embedding model at {configured}")
    variants = {"fp32": Embedder(folder)}
    if args.int8:
        cache = Path(tempfile.mkdtemp(prefix="memchat-int8-")) / "models"
        variants["int8"] = Embedder(folder, quantize=True, cache_dir=cache)
    for name, emb in variants.items():
        t0 = time.perf_counter()
        emb.load()
        print(f"{name}.load_s: {time.perf_counter() - t0:.3f} ({emb.variant})")
        emb.embed(sentences(32, seed=99))  # warm-up

    texts = sentences(640)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(1, args.rounds)):  # interleaved: a busy machine hits both alike
        for name, emb in variants.items():
            rates[name].append(throughput(emb, texts))
    for name, emb in variants.items():
        print(f"{name}.batch32_sentences_per_s: {statistics.median(rates[name]):.1f}")
        p50, p95 = latency(emb)
        print(f"{name}.single_query_p50_ms: {p50:.2f}")
        print(f"{name}.single_query_p95_ms: {p95:.2f}")
    if args.int8:
        ratio = statistics.median(rates["int8"]) / statistics.median(rates["fp32"])
        print(f"int8_over_fp32_throughput: {ratio:.2f}")
        if args.agreement:
            data = ROOT.parent / "shared" / "locomo"
            for k, v in agreement(variants["fp32"], variants["int8"], data).items():
                print(f"{k}: {v}")


if __name__ == "__main__":
    main()
