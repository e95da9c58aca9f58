"""Background pipeline benchmark: message -> recallable memory latency, extraction throughput.

Runs everything for real in a temp data dir -- the embedded Valkey server (AOF on), a huey
consumer in threads, SQLite, Chroma with the offline MiniLM model -- against the fake
OpenAI-compatible server from tests/ (so the LLM costs ~nothing and what is measured is the
pipeline's own overhead). The baseline is the same extraction called directly, in this process.

    .venv/bin/python bench/pipeline.py [--turns 30] [--tasks 120] [--workers 2]

Prints ``name: value`` lines. Goal: e2e p95 <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _reply(body: dict) -> str:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    block = re.search(r"<new-turns-([0-9a-f]+)>\n(.*)\n</new-turns-\1>", user, re.S)
    new = block.group(2) if block else ""
    mems = [
        {
            "content": f"The user's {word} code is {word}.",
            "section": "facts",
            "importance": 0.7,
            "source_message_ids": [mid],
        }
        for mid, word in re.findall(
            r'<turn id="([0-9a-f]+)" [^>]*role="user">my code is (\w+)', new
        )
    ]
    return json.dumps({"memories": mems})


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=30)
    ap.add_argument("--tasks", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mcb-", dir="/tmp"))
    os.environ.update(
        {
            "MEMCHAT_HOME": str(home),
            "MEMCHAT_CONFIG": str(home / "none.toml"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "MEMCHAT_TASKS_DEBOUNCE": "0",
            "MEMCHAT_EMBEDDING_MODEL": str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"),
        }
    )
    for var in ("REDIS_URL", "CHROMA_URL"):
        os.environ.pop(var, None)
    from fakellm import FakeLLM

    from memory.config import load_settings
    from memory.models import RecallFilters
    from memory.shortterm.embedded_server import EmbeddedRedis
    from memory.store import MemoryStore
    from tasks import api, queue
    from tasks.consumer import EmbeddedConsumer
    from tasks.extract import run_extract

    fake = FakeLLM().start()
    fake.script(reply_fn=_reply, default=True)
    os.environ.update(
        {
            "MEMCHAT_MODEL": "openai/fake-model",
            "MEMCHAT_API_BASE": fake.url,
            "OPENAI_API_KEY": "sk-bench",
        }
    )
    store = MemoryStore(load_settings())
    queue.bind(store)
    only_memories = RecallFilters(include_messages=False)

    def recallable(word: str) -> bool:
        return any(
            word in h.text
            for h in store.recall(f"{word} code", limit=3, token_budget=None, filters=only_memories)
        )

    try:
        # warm-up (litellm import, embedder, Chroma) and the in-process baseline
        base: list[float] = []
        for i in range(max(5, args.turns // 3)):
            conv = store.new_conversation()
            word = f"base{i}x"
            t0 = time.perf_counter()
            store.add_message(conv.id, "user", f"my code is {word}")
            store.add_message(conv.id, "assistant", "ok")
            run_extract(store.profile, conv.id)
            assert recallable(word)
            if i:
                base.append(time.perf_counter() - t0)

        consumer = EmbeddedConsumer(store, workers=args.workers).start()
        lat: list[float] = []
        for i in range(args.turns):
            conv = store.new_conversation()
            word = f"lat{i}x"
            t0 = time.perf_counter()
            store.add_message(conv.id, "user", f"my code is {word}")
            a = store.add_message(conv.id, "assistant", "ok")
            api.enqueue_after_turn(store, conv.id, a.id)
            deadline = t0 + 30
            while not recallable(word):
                if time.perf_counter() > deadline:
                    raise SystemExit(f"memory for {word} never became recallable")
                time.sleep(0.02)
            lat.append(time.perf_counter() - t0)

        convs = []
        for i in range(args.tasks):
            conv = store.new_conversation()
            store.add_message(conv.id, "user", f"my code is tp{i}x")
            convs.append((conv.id, store.add_message(conv.id, "assistant", "ok").id))
        before = store.count_memories()
        t0 = time.perf_counter()
        for cid, mid in convs:
            api.enqueue_after_turn(store, cid, mid)
        while store.count_memories() < before + args.tasks:
            if time.perf_counter() - t0 > 600:
                raise SystemExit("throughput run did not finish")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        consumer.stop()

        print(f"baseline_direct_extract_p50_ms: {statistics.median(base) * 1000:.0f}")
        print(f"e2e_message_to_recallable_p50_ms: {_pct(lat, 50) * 1000:.0f}")
        print(f"e2e_message_to_recallable_p95_ms: {_pct(lat, 95) * 1000:.0f}")
        print(f"e2e_message_to_recallable_max_ms: {max(lat) * 1000:.0f}")
        print(f"queue_overhead_p50_ms: {(_pct(lat, 50) - statistics.median(base)) * 1000:.0f}")
        print(f"e2e_p95_goal_met: {_pct(lat, 95) <= 2.0}")
        print(
            f"extraction_tasks_per_minute: {args.tasks / elapsed * 60:.0f}  ({args.workers} workers)"
        )
        print(f"fake_llm_requests: {len(fake.chat_requests())}")
    finally:
        queue.unbind()
        store.close()
        EmbeddedRedis(home).stop()
        fake.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
