"""LoCoMo evidence recall: memchat's `recall` against plain BM25 over single turns.

Every turn of each conversation is stored through the real MemoryStore (one profile per
LoCoMo conversation, one memchat conversation per session, the session date as the message
time; a shared photo's caption is appended to its turn as "[shares a photo: …]", since the
other speaker saw it). Then every question of categories 1-4 is asked through `recall`; the
questions and answers are used only to score: nothing in the ranking sees them.

Evidence recall@k = the fraction of a question's evidence turns covered by the provenance
(message ids) of the first k hits; budget1000 = the same for the hits packed into a
1,000-token budget. The BM25 baseline (FTS5 over single turns, in the same database) is
scored the same way, its budget packing counting each turn's text.

    python bench/locomo_recall.py [--data ../shared/locomo] [--conversations 26,30] [--json]

Recall orders hits by the learned relevance score shipped in memory/recall/ when its weights
load. Those weights were fitted on this same dev split, so this script's figures with them are
in-sample; the cross-validated figures (each conversation scored by weights fitted without
it) come from bench/train_relevance.py. MEMCHAT_RELEVANCE_FUSION=1 runs the hand-set fusion.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KS = (1, 5, 10, 20)
BUDGET = 1000
CATEGORIES = ("1", "2", "3", "4")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "locomo"))
    p.add_argument(
        "--conversations", default="", help="comma-separated file stems, e.g. 26,30 (default: all)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    return p.parse_args(argv)


def evidence_ids(raw: list[str]) -> set[str]:
    out: set[str] = set()
    for e in raw:
        out.update(f"D{a}:{b}" for a, b in re.findall(r"D:?(\d+):(\d+)", e))
    return out


def session_time(text: str) -> float:
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").timestamp()


def ingest(store, data: dict) -> dict[str, str]:
    """Store every turn; returns message id -> LoCoMo dia_id."""
    roles = {data["speaker_a"]: "user", data["speaker_b"]: "assistant"}
    dia: dict[str, str] = {}
    n = 1
    while f"session_{n}" in data:
        conv = store.new_conversation(f"session {n}")
        start = session_time(data[f"session_{n}_date_time"])
        for i, turn in enumerate(data[f"session_{n}"]):
            text = f"{turn['speaker']}: {turn['text']}"
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            m = store.add_message(
                conv.id, roles.get(turn["speaker"], "user"), text, created_at=start + i
            )
            dia[m.id] = turn["dia_id"]
        n += 1
    store.index_pending()
    return dia


def bm25_hits(store, question: str) -> list[tuple[list[str], int]]:
    from memory.recall.ranking import estimate_tokens

    return [
        ([m.id], estimate_tokens(m.content))
        for m, _ in store.search_messages(question, limit=max(KS) * 5)
    ]


def memchat_hits(
    store, question: str, budget: int | None, limit: int
) -> list[tuple[list[str], int]]:
    return [
        (h.provenance.message_ids, h.tokens)
        for h in store.recall(question, limit=limit, token_budget=budget)
    ]


def coverage(hits: list[tuple[list[str], int]], dia: dict[str, str], gold: set[str]) -> float:
    found = {dia.get(mid) for ids, _ in hits for mid in ids}
    return len(gold & found) / len(gold)


def packed(hits: list[tuple[list[str], int]], budget: int) -> list[tuple[list[str], int]]:
    out, used = [], 0
    for h in hits:
        if used + h[1] <= budget:
            out.append(h)
            used += h[1]
    return out


def score_question(hits, budget_hits, dia, gold) -> dict[str, float]:
    row = {f"r@{k}": coverage(hits[:k], dia, gold) for k in KS}
    row["budget1000"] = coverage(budget_hits, dia, gold)
    return row


def summarise(rows: list[tuple[str, dict[str, float]]]) -> dict:
    def mean(sel):
        keys = [f"r@{k}" for k in KS] + ["budget1000"]
        return {k: round(sum(r[k] for r in sel) / len(sel), 4) if sel else None for k in keys}

    return {
        "overall": mean([r for _, r in rows]),
        "by_category": {c: mean([r for cat, r in rows if cat == c]) for c in CATEGORIES},
        "questions": len(rows),
    }


def run(args: argparse.Namespace) -> dict:
    data_dir = Path(args.data)
    stems = [s.strip() for s in args.conversations.split(",") if s.strip()] or sorted(
        p.stem for p in data_dir.glob("*.json")
    )
    home = tempfile.mkdtemp(prefix="memchat-locomo-")
    os.environ["MEMCHAT_HOME"] = home
    os.environ.setdefault(
        "MEMCHAT_EMBEDDING_MODEL", str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2")
    )
    os.environ["MEMCHAT_CONFIG"] = str(Path(home) / "config.toml")
    from memory.recall import score
    from memory.store import MemoryStore

    if os.environ.get("MEMCHAT_RELEVANCE_FUSION"):
        score.use(None)
    ours, base = [], []
    t0 = time.perf_counter()
    ingest_s = query_s = 0.0
    asked = 0
    with MemoryStore(start_redis=False) as root:
        if root.vectors is None:
            sys.exit("no embedding model: set MEMCHAT_EMBEDDING_MODEL")
        for stem in stems:
            data = json.loads((data_dir / f"{stem}.json").read_text())
            store = root.for_profile(f"locomo-{stem}")
            t = time.perf_counter()
            dia = ingest(store, data["conversation"] if "conversation" in data else data)
            ingest_s += time.perf_counter() - t
            for qa in data["qa"]:
                cat, gold = str(qa.get("category")), evidence_ids(qa.get("evidence", []))
                if cat not in CATEGORIES or not gold:
                    continue
                t = time.perf_counter()
                hits = memchat_hits(store, qa["question"], None, max(KS))
                in_budget = memchat_hits(store, qa["question"], BUDGET, 100)
                query_s += time.perf_counter() - t
                asked += 1
                ours.append((cat, score_question(hits, in_budget, dia, gold)))
                b = bm25_hits(store, qa["question"])
                base.append((cat, score_question(b, packed(b, BUDGET), dia, gold)))
    return {
        "memchat": summarise(ours),
        "bm25": summarise(base),
        "timing": {
            "ingest_s": round(ingest_s, 1),
            "recall_ms_per_question": round(1000 * query_s / max(1, 2 * asked), 1),
            "total_s": round(time.perf_counter() - t0, 1),
        },
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(
            json.dumps(
                {
                    "memchat": {k: result["memchat"][k] for k in ("overall", "by_category")},
                    "bm25": {k: result["bm25"][k] for k in ("overall", "by_category")},
                }
            )
        )
        return
    print(f"questions: {result['memchat']['questions']}")
    for name in ("memchat", "bm25"):
        res = result[name]
        for label, row in [
            ("overall", res["overall"]),
            *((f"cat{c}", res["by_category"][c]) for c in CATEGORIES),
        ]:
            print(
                f"{name}.{label}: "
                + " ".join(f"{k}={v:.3f}" for k, v in row.items() if v is not None)
            )
    for k, v in result["timing"].items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
