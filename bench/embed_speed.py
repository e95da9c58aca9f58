"""Embedding speed: sentences/s at batch 32 and single-query latency (p50/p95).

Usage: .venv/bin/python bench/embed_speed.py [MODEL_DIR]
MODEL_DIR defaults to $MEMCHAT_EMBEDDING_MODEL, then ../shared/models/all-MiniLM-L6-v2.
Prints ``name: value`` lines.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memory.embedder import Embedder, resolve_model_dir  # noqa: E402

WORDS = (
    "memory assistant remember prefer coffee morning project deadline meeting sister Lisbon "
    "python code review cat dog walk weather sunny rain budget invoice travel train flight "
    "book read music guitar practice gym run kilometres dinner recipe pasta garden tomato"
).split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(12, 28))) + "." for _ in range(n)]


def main() -> None:
    configured = (
        sys.argv[1]
        if len(sys.argv) > 1
        else os.environ.get("MEMCHAT_EMBEDDING_MODEL")
        or ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"
    )
    folder = resolve_model_dir(configured)
    if folder is None:
        sys.exit(f"no embedding model at {configured}")
    emb = Embedder(folder)
    t0 = time.perf_counter()
    emb.load()
    print(f"load_s: {time.perf_counter() - t0:.3f}")
    emb.embed(sentences(32, seed=99))  # warm-up

    texts = sentences(640)
    t0 = time.perf_counter()
    emb.embed(texts, batch_size=32)
    print(f"batch32_sentences_per_s: {len(texts) / (time.perf_counter() - t0):.1f}")

    lat = []
    for text in sentences(200, seed=1):
        t0 = time.perf_counter()
        emb.embed_one(text)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(f"single_query_p50_ms: {statistics.median(lat):.2f}")
    print(f"single_query_p95_ms: {lat[int(len(lat) * 0.95) - 1]:.2f}")


if __name__ == "__main__":
    main()
