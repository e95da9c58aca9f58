"""Several memchat processes writing the vector index at once (issue: "One gate into memory").

Each round, in a fresh data dir: two `memchat memory import` of LINES lines each, a
`memchat memory reindex` and a loop adding memories run at the same time; then one worker
pass (`index_pending`, what the worker's reconcile does) and `memchat doctor --json`. A round
passes when doctor's vectors line is OK and the Chroma count equals the count SQLite expects.

Usage: .venv/bin/python bench/vector_concurrency.py [--lines 3000] [--rounds 5] [--code DIR]
--code runs the memchat found in DIR (e.g. another checkout) in the subprocesses.
Prints ``name: value`` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"

ADD_LOOP = """
import sys
from memory.store import MemoryStore
with MemoryStore(start_redis=False) as s:
    for i in range(int(sys.argv[1])):
        s.add_memory(f"note {i} added while the others import: tomatoes need water {i}")
        s.index_pending()
"""

CHECK = """
import json
from memory.store import MemoryStore
with MemoryStore(start_redis=False) as s:
    s.index_pending()
    want = {"mem:" + r["id"] for r in s.db.query(
        "SELECT id FROM memories WHERE profile = ? AND status = 'active' "
        "AND superseded_by IS NULL", (s.profile,))}
    have = s.vectors.ids(s.profile)
    outbox = s.db.query("SELECT attempts, last_error FROM index_outbox")
    missing = [r["content"] for r in s.db.query("SELECT content FROM memories")
               if "mem:" + r["content"] in ()]  # placeholder
    missing = sorted(want - have)[:5]
    miss_text = [s.db.scalar("SELECT content FROM memories WHERE id = ?", (m[4:],)) for m in missing]
    print(json.dumps({"expected": len(want), "actual": s.vectors.count(s.profile),
                      "missing": miss_text, "extra": sorted(have - want)[:5],
                      "outbox": outbox[:5]}))
"""


def write_import(path: Path, n: int, tag: str) -> None:
    words = "coffee garden train sister Lisbon guitar budget invoice recipe pasta cat walk".split()
    with open(path, "w") as f:
        for i in range(n):
            text = f"{tag} fact {i}: {words[i % len(words)]} and {words[(i * 7) % len(words)]} #{i}"
            f.write(json.dumps({"type": "memory", "content": text, "section": "facts"}) + "\n")


def env_for(home: Path, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCHAT_", "REDIS_URL"))}
    env.update(
        MEMCHAT_HOME=str(home),
        MEMCHAT_CONFIG=str(home.parent / "config.toml"),
        MEMCHAT_EMBEDDING_MODEL=os.environ.get("MEMCHAT_EMBEDDING_MODEL", str(MODEL_DIR)),
        MEMCHAT_MODEL_CACHE=os.environ.get(
            "MEMCHAT_MODEL_CACHE", str(Path(tempfile.gettempdir()) / "memchat-bench-models")
        ),
        PYTHONPATH=str(code),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        MEMCHAT_WARM_SECONDS="0",  # each writer its own fresh process, as measured before
    )
    return env


def run_round(base: Path, lines: int, adds: int, code: Path, *, reindex: bool = True) -> dict:
    """One round in ``base``; returns the figures (and doctor's vectors line)."""
    home = base / "home"
    a, b = base / "a.jsonl", base / "b.jsonl"
    write_import(a, lines, "alpha")
    write_import(b, lines, "beta")
    env = env_for(home, code)
    cli = [sys.executable, "-m", "tui"]
    started = time.perf_counter()
    run = {"env": env, "cwd": str(code), "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    procs = [
        subprocess.Popen([*cli, "memory", "import", str(a)], **run),
        subprocess.Popen([*cli, "memory", "import", str(b)], **run),
        subprocess.Popen([sys.executable, "-c", ADD_LOOP, str(adds)], **run),
    ]
    if reindex:
        time.sleep(3)  # let the imports start writing first
        procs.append(subprocess.Popen([*cli, "memory", "reindex"], **run))
    codes = [p.wait(timeout=1800) for p in procs]
    errors = [p.stderr.read().decode(errors="replace")[-400:] for p in procs if p.returncode]
    seconds = time.perf_counter() - started
    out: dict = {"exit_codes": codes, "errors": errors, "seconds": round(seconds, 1)}
    check = subprocess.run(
        [sys.executable, "-c", CHECK],
        env=env,
        cwd=str(code),
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        out.update(json.loads(check.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        out["check_error"] = (check.stderr or check.stdout)[-400:]
    doc = subprocess.run(
        [*cli, "doctor", "--json"],
        env=env,
        cwd=str(code),
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        rows = json.loads(doc.stdout)
        out["doctor"] = next(r for r in rows if r["component"] == "vectors")
    except (ValueError, StopIteration):
        out["doctor"] = {"status": "FAIL", "detail": (doc.stderr or doc.stdout)[-400:]}
    out["ok"] = (
        out["doctor"]["status"] == "OK"
        and out.get("expected") is not None
        and out.get("expected") == out.get("actual")
        and not any(codes)
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--adds", type=int, default=30)
    ap.add_argument("--code", type=Path, default=ROOT)
    ap.add_argument("--no-reindex", action="store_true")
    args = ap.parse_args()
    passed = 0
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="memchat-vc-") as d:
            res = run_round(
                Path(d), args.lines, args.adds, args.code.resolve(), reindex=not args.no_reindex
            )
        passed += res["ok"]
        print(f"round_{r + 1}_ok: {res['ok']}")
        print(f"round_{r + 1}_seconds: {res['seconds']}")
        print(f"round_{r + 1}_vectors: {res.get('actual')} of {res.get('expected')}")
        print(f"round_{r + 1}_doctor: {res['doctor']['status']} {res['doctor']['detail'][:200]}")
        if not res["ok"]:
            print(
                f"round_{r + 1}_diff: {json.dumps({k: res.get(k) for k in ('missing', 'extra', 'outbox', 'check_error')})}"
            )
        for e in res["errors"]:
            print(f"round_{r + 1}_error: {e.strip().splitlines()[-1] if e.strip() else '?'}")
        sys.stdout.flush()
    print(f"lines_per_import: {args.lines}")
    print(f"rounds_passed: {passed} of {args.rounds}")


if __name__ == "__main__":
    main()
