"""Prompt overhead: time from ``Assistant.reply()`` called to the LLM request sent.

That is: store the user message, recall (hybrid: FTS5 + vectors when the embedding model is
there), build and trim the prompt, and litellm preparing the HTTP request. Measured against
the fake OpenAI-compatible server from tests/ (it stamps each request on arrival), over a
store of N memories, after the one-time litellm import and a few warm-up turns. A baseline
with ``use_memory=False`` runs in the same process (these machines are noisy).

Usage: .venv/bin/python bench/prompt_overhead.py [--memories 10000] [--turns 100] [--no-vectors]
Prints ``name: value`` lines (milliseconds unless named otherwise). Goal: p95 <= 30 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

NAMES = "Ziggy Rex Kiwi Luna Milo Nala Otis Pip Bruno Coco Daisy Felix Hazel Juno Leo".split()
THINGS = (
    "cat dog parrot sister brother manager dentist landlord neighbour friend colleague "
    "bike car laptop guitar garden flat project team"
).split()
PLACES = "Lyon Lisbon Berlin Oslo Kyoto Austin Quito Porto Turin Ghent Bergen Cork".split()
VERBS = "likes prefers hates visits plays reads cooks fixes paints sells builds studies".split()
OBJECTS = (
    "coffee tea chess jazz sushi hiking rust python pottery tennis poetry cycling baking "
    "climbing opera gardening sailing"
).split()


def memory_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    forms = [
        lambda: f"My {rng.choice(THINGS)} is called {rng.choice(NAMES)}",
        lambda: (
            f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} in {rng.choice(PLACES)}"
        ),
        lambda: (
            f"The user {rng.choice(VERBS)} {rng.choice(OBJECTS)} on {rng.choice(['mondays', 'weekends'])}"
        ),
        lambda: (
            f"Meeting with {rng.choice(NAMES)} about the {rng.choice(THINGS)} in {rng.choice(PLACES)}"
        ),
    ]
    return [f"{rng.choice(forms)()} (note {i})" for i in range(n)]


def questions(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    forms = [
        lambda: f"what is my {rng.choice(THINGS)} called?",
        lambda: f"who {rng.choice(VERBS)} {rng.choice(OBJECTS)}?",
        lambda: f"when did I last talk to {rng.choice(NAMES)} about {rng.choice(PLACES)}?",
        lambda: f"any ideas for a weekend of {rng.choice(OBJECTS)}?",
    ]
    return [rng.choice(forms)() for _ in range(n)]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def run(
    assistant, fake, qs: list[str], *, use_memory: bool, per_conv: int = 10
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "to_request": [],
        "ours": [],
        "recall": [],
        "prompt": [],
        "litellm": [],
    }
    conv = None
    for i, q in enumerate(qs):
        if i % per_conv == 0:
            conv = assistant.start_conversation()
        n = len(fake.chat_requests())
        t_call = time.time()
        assistant.reply(conv.id, q, use_memory=use_memory)
        req = fake.chat_requests()[n]
        total = (req["time"] - t_call) * 1000
        t = assistant.last_timings
        out["to_request"].append(total)
        out["ours"].append(t["before_request_ms"])
        out["recall"].append(t.get("recall_ms", 0.0))
        out["prompt"].append(t.get("prompt_ms", 0.0))
        out["litellm"].append(total - t["before_request_ms"])
    return out


def report(prefix: str, res: dict[str, list[float]]) -> None:
    for key, xs in res.items():
        print(f"{prefix}_{key}_p50_ms: {statistics.median(xs):.2f}")
        print(f"{prefix}_{key}_p95_ms: {pct(xs, 95):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memories", type=int, default=10_000)
    ap.add_argument("--turns", type=int, default=100)
    ap.add_argument("--no-vectors", action="store_true", help="lexical recall only")
    ap.add_argument(
        "--home", type=Path, help="data dir to (re)use: memories already there are kept"
    )
    args = ap.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="mc-bench-"))
    os.environ["MEMCHAT_HOME"] = str(home)
    os.environ["MEMCHAT_CONFIG"] = str(home / "config.toml")
    model_dir = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"
    if args.no_vectors or not model_dir.exists():
        os.environ["MEMCHAT_EMBEDDING_MODEL"] = str(home / "no-model")
    else:
        os.environ.setdefault("MEMCHAT_EMBEDDING_MODEL", str(model_dir))

    from fakellm import FakeLLM

    from assistant.assistant import Assistant
    from memory.config import load_settings
    from memory.store import MemoryStore

    with FakeLLM() as fake, MemoryStore(load_settings()) as store:
        fake.script(reply="ok", default=True)
        os.environ.update(
            MEMCHAT_MODEL="openai/fake-model",
            MEMCHAT_API_BASE=fake.url,
            OPENAI_API_KEY="sk-bench-fake",
        )
        print(f"memories: {args.memories}")
        print(f"short_term: {store.short.mode}")
        have = store.count_memories()
        t0 = time.perf_counter()
        for text in memory_texts(args.memories)[have:]:
            store.add_memory(text, actor="bench")
        print(f"insert_s: {time.perf_counter() - t0:.1f}")
        vectors = store.vectors is not None
        print(f"vectors: {'on' if vectors else 'off'}")
        if vectors:
            t0 = time.perf_counter()
            store.index_pending()
            print(f"index_s: {time.perf_counter() - t0:.1f}")

        assistant = Assistant(store)
        t0 = time.perf_counter()
        assistant.warm_up()
        print(f"litellm_import_s: {time.perf_counter() - t0:.2f}")
        run(assistant, fake, questions(10, seed=7), use_memory=True)  # warm-up, not counted

        qs = questions(args.turns)
        base = run(assistant, fake, qs, use_memory=False)
        mem = run(assistant, fake, qs, use_memory=True)
        store.index_pending()
        alone = []
        for q in qs:  # recall by itself, nothing waiting to be indexed
            t0 = time.perf_counter()
            store.recall(q)
            alone.append((time.perf_counter() - t0) * 1000)
        print(f"turns: {len(qs)}")
        report("baseline_no_memory", base)
        report("with_memory", mem)
        print(f"recall_alone_p50_ms: {statistics.median(alone):.2f}")
        print(f"recall_alone_p95_ms: {pct(alone, 95):.2f}")
        ok = pct(mem["to_request"], 95) <= 30
        print(f"goal_p95_le_30ms: {'met' if ok else 'missed'}")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
