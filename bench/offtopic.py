"""Off-topic injection: does a prompt that needs no memory get one, and does one that needs a
stored fact get it?

One profile holds the personal facts of bench/offtopic_data.py (stored as memories) and the
LoCoMo conversations (every turn, as bench/locomo_recall.py stores them). Each prompt is
recalled as the assistant does for a chat turn (``recall_limit`` 8, ``token_budget`` 1000):

- generic prompts (coding, trivia, writing, maths): the share that injects any memory;
- personal prompts: the share whose prompt gets the fact it needs;
- the memory tokens a prompt carries, on average.

"before" is the hand-set fusion with no floor (the product before the learned score);
"after" is the learned score with ``memory.relevance_floor``; a floor sweep shows the trade.
The store is kept under ``--work`` so reruns skip the ingest.

    python bench/offtopic.py [--work /tmp/memchat-offtopic] [--conversations 26,30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import locomo_recall as lr  # noqa: E402
from offtopic_data import FACTS, GENERIC  # noqa: E402

SWEEP = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "locomo"))
    p.add_argument("--conversations", default="", help="LoCoMo file stems (default: all)")
    p.add_argument("--work", default="/tmp/memchat-offtopic")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def build(root, args, work: Path) -> dict[int, str]:
    """The store (once per work dir): fact index -> memory id."""
    marker = work / "facts.json"
    if marker.exists():
        return {int(k): v for k, v in json.loads(marker.read_text()).items()}
    store = root.for_profile("offtopic")
    ids = {i: store.add_memory(fact).id for i, (fact, _) in enumerate(FACTS)}
    data_dir = Path(args.data)
    stems = [s for s in args.conversations.split(",") if s] or sorted(
        p.stem for p in data_dir.glob("*.json")
    )
    for stem in stems:
        d = json.loads((data_dir / f"{stem}.json").read_text())
        lr.ingest(store, d.get("conversation", d))
    store.index_pending()
    marker.write_text(json.dumps(ids))
    return ids


def run_config(store, ids: dict[int, str], floor: float | None) -> dict:
    generic_any, tokens, personal_ok, personal_hits = 0, 0, 0, 0
    t = time.perf_counter()
    for prompt in GENERIC:
        hits = store.recall(prompt, relevance_floor=floor)
        generic_any += bool(hits)
        tokens += sum(h.tokens for h in hits)
    for i, (_, prompt) in enumerate(FACTS):
        hits = store.recall(prompt, relevance_floor=floor)
        personal_ok += any(h.id == ids[i] for h in hits)
        personal_hits += len(hits)
        tokens += sum(h.tokens for h in hits)
    n = len(GENERIC) + len(FACTS)
    return {
        "generic_inject_any": round(generic_any / len(GENERIC), 4),
        "personal_gets_fact": round(personal_ok / len(FACTS), 4),
        "personal_hits_avg": round(personal_hits / len(FACTS), 2),
        "memory_tokens_avg": round(tokens / n, 1),
        "recall_ms": round(1000 * (time.perf_counter() - t) / n, 1),
    }


def run(args) -> dict:
    work = Path(args.work)
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["MEMCHAT_HOME"] = str(home)
    os.environ.setdefault(
        "MEMCHAT_EMBEDDING_MODEL", str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2")
    )
    os.environ["MEMCHAT_CONFIG"] = str(home / "config.toml")
    from memory.recall import score
    from memory.store import MemoryStore

    out: dict = {"generic_prompts": len(GENERIC), "personal_prompts": len(FACTS)}
    with MemoryStore(start_redis=False) as root:
        if root.vectors is None:
            sys.exit("no embedding model: set MEMCHAT_EMBEDDING_MODEL")
        ids = build(root, args, work)
        store = root.for_profile("offtopic")
        out["facts"] = len(ids)
        out["floor_setting"] = store.settings.memory.relevance_floor
        score.use(None)
        out["before"] = run_config(store, ids, None)
        score.reset()
        if score.model() is None:
            sys.exit("no relevance weights: run bench/train_relevance.py")
        out["after"] = run_config(store, ids, store.settings.memory.relevance_floor)
        out["sweep"] = {str(f): run_config(store, ids, f) for f in SWEEP}
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    res = run(args)
    if args.json:
        print(json.dumps(res))
        return
    for k, v in res.items():
        if k == "sweep":
            for f, row in v.items():
                print(f"floor {f}: " + " ".join(f"{a}={b}" for a, b in row.items()))
        elif isinstance(v, dict):
            print(f"{k}: " + " ".join(f"{a}={b}" for a, b in v.items()))
        else:
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
