"""Cosine similarity of memory pairs with the offline MiniLM model, to set the thresholds of
the review queue's near-duplicate and conflict proposals (memory.curation.meaning).

Three kinds of pair: the same fact said twice (should be proposed for merge), the same subject
with a new value (a conflict: "Ana lives in Lisbon" / "Ana lives in Porto now") and related
but different facts (must not be proposed). Prints ``name: value`` lines per model variant
(int8, memchat's default, and fp32) and the threshold that separates them.

    python bench/near_duplicates.py [--model ../shared/models/all-MiniLM-L6-v2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory.curation.meaning import NEAR_DUPLICATE, conflict_reason, relation_differs  # noqa: E402
from memory.models import Memory  # noqa: E402
from memory.vectors.embedder import Embedder  # noqa: E402

SAME = [
    ("peanut allergy", "allergic to peanuts"),
    ("I'm allergic to peanuts", "The user has a peanut allergy"),
    ("My cat is called Ziggy", "The user's cat is named Ziggy"),
    ("Prefers short answers", "The user likes brief, short answers"),
    ("The user works as a baker", "The user is a baker by profession"),
    ("Uses vim as their editor", "The user's editor is vim"),
    ("The user's daughter is called Lia", "Lia is the user's daughter"),
    ("Drinks green tea every morning", "The user has green tea each morning"),
    ("The user is vegetarian", "The user does not eat meat, they are vegetarian"),
    ("Wants answers in Portuguese", "The user prefers replies in Portuguese"),
]
CONFLICT = [
    ("Ana lives in Lisbon", "Ana lives in Porto now"),
    ("The user lives in Berlin", "The user lives in Munich"),
    ("The user works at Acme", "The user works at Globex now"),
    ("The user's editor is vim", "The user's editor is VS Code"),
    ("The user drives a blue Fiat", "The user drives a red Tesla"),
    ("Tom is married to Sara", "Tom is married to Julia"),
]
DIFFERENT = [
    ("I'm allergic to peanuts", "I'm allergic to shellfish"),
    ("My cat is called Ziggy", "My dog is called Rex"),
    ("The user's daughter is called Lia", "The user's son is called Tom"),
    ("The user lives in Lisbon", "The user works in Lisbon"),
    ("Prefers short answers", "Prefers dark mode"),
    ("The user works as a baker", "The user bakes bread on Sundays"),
    ("Drinks green tea every morning", "Drinks coffee after lunch"),
    ("The user is vegetarian", "The user is training for a half marathon"),
    ("My car is a blue Fiat", "My bike is a blue Trek"),
    ("Ana lives in Lisbon", "Ana's birthday is in May"),
]


def sims(emb: Embedder, pairs: list[tuple[str, str]]) -> list[float]:
    a = emb.embed([p[0] for p in pairs])
    b = emb.embed([p[1] for p in pairs])
    return [float(x) for x in (a * b).sum(axis=1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[2] / "shared" / "models" / "all-MiniLM-L6-v2"
    ap.add_argument("--model", default=str(default))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        for name, emb in (
            ("int8", Embedder(Path(args.model), quantize=True, cache_dir=Path(cache))),
            ("fp32", Embedder(Path(args.model))),
        ):
            same, conflict, diff = sims(emb, SAME), sims(emb, CONFLICT), sims(emb, DIFFERENT)
            for label, pairs, got in (
                ("same", SAME, same),
                ("conflict", CONFLICT, conflict),
                ("different", DIFFERENT, diff),
            ):
                for (x, y), s in zip(pairs, got, strict=True):
                    print(f"{name} {label}: {s:.3f}  {x!r} / {y!r}")
            print(f"{name} same_min: {min(same):.3f}")
            print(f"{name} same_mean: {sum(same) / len(same):.3f}")
            print(f"{name} conflict_min: {min(conflict):.3f}")
            print(f"{name} conflict_max: {max(conflict):.3f}")
            print(f"{name} different_max: {max(diff):.3f}")
            print(f"{name} different_mean: {sum(diff) / len(diff):.3f}")
            # what the review queue does with each pair at the shipped threshold
            for label, pairs, got in (
                ("same", SAME, same),
                ("conflict", CONFLICT, conflict),
                ("different", DIFFERENT, diff),
            ):
                merge = conflicts = 0
                for (x, y), sim in zip(pairs, got, strict=True):
                    a, b = Memory(x), Memory(y)
                    if conflict_reason(a, b):
                        conflicts += 1
                    elif sim >= NEAR_DUPLICATE and not relation_differs(a, b):
                        merge += 1
                print(f"{name} {label}_proposed_merge@{NEAR_DUPLICATE}: {merge}/{len(pairs)}")
                print(f"{name} {label}_proposed_supersede: {conflicts}/{len(pairs)}")


if __name__ == "__main__":
    main()
