"""How long `memchat` commands take, as a user runs them, beside `memchat --help` in one run.

Each command runs as the real `memchat` executable in a fresh process, several times, runs of
every command interleaved so they share the machine's noise. A data dir with 200 memories is
made first; `ask` talks to tests/fakellm.py on 127.0.0.1. Prints, per command, the median wall
time, its ratio to `memchat --help` measured in the same run, and the peak RSS.

    .venv/bin/python bench/cli_speed.py [--runs 5]

Goals (issue #18): memory list <= 0.35 s, search <= 0.7 s, add <= 0.7 s, ask <= 2.0 s and
<= 250 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
EXE = str(Path(sys.executable).parent / "memchat")

COMMANDS = {
    "--help": ["--help"],
    "memory list": ["memory", "list"],
    "memory search": ["memory", "search", "tea"],
    "memory add": ["memory", "add", "bench note {n}: the kettle is blue"],
    "ask": ["ask", "what do I drink?", "--no-memory"],
}


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh `memchat` process."""
    t0 = time.perf_counter()
    p = subprocess.Popen([EXE, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"memchat {' '.join(args)} failed ({p.returncode}): {err[-500:]}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    runs = ap.parse_args().runs
    from fakellm import FakeLLM

    home = Path(tempfile.mkdtemp(prefix="mcs-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CHROMA_URL")}
    with FakeLLM() as fake:
        fake.script(reply="Green tea, mostly.", default=True)
        env.update(
            MEMCHAT_HOME=str(home),
            MEMCHAT_CONFIG=str(home / "none.toml"),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            MEMCHAT_EMBEDDING_MODEL=str(ROOT.parent / "shared/models/all-MiniLM-L6-v2"),
            MEMCHAT_MODEL="openai/fake-model",
            MEMCHAT_API_BASE=fake.url,
            OPENAI_API_KEY="sk-bench",
            MEMCHAT_WORKER__EMBEDDED="false",
        )
        lines = [f'{{"content": "fact {i}: I like tea number {i}"}}' for i in range(200)]
        (home / "seed.jsonl").write_text("\n".join(lines) + "\n")
        run(["memory", "import", str(home / "seed.jsonl")], env)
        run(["memory", "list"], env)  # warm caches (int8 model made, page cache)
        times: dict[str, list[float]] = {k: [] for k in COMMANDS}
        rss: dict[str, list[float]] = {k: [] for k in COMMANDS}
        for n in range(runs):
            for name, args in COMMANDS.items():
                wall, mb = run([a.format(n=n) for a in args], env)
                times[name].append(wall)
                rss[name].append(mb)
    base = statistics.median(times["--help"])
    for name in COMMANDS:
        med = statistics.median(times[name])
        key = name.replace(" ", "_").strip("-")
        print(f"{key}_s: {med:.2f}")
        print(f"{key}_vs_help: {med / base:.1f}x")
        print(f"{key}_rss_mb: {max(rss[name]):.0f}")
    print(f"runs: {runs}")


if __name__ == "__main__":
    main()
