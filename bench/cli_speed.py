"""How long `memchat` commands take, as a user runs them, beside `memchat --help` in one run.

Each command runs as the real `memchat` executable in a fresh process, several times, runs of
every command interleaved so they share the machine's noise. A data dir with 200 memories is
made first; `ask` talks to tests/fakellm.py on 127.0.0.1. Prints, per command, the median wall
time, its ratio to `memchat --help` measured in the same run, and the peak RSS.

Each command runs twice a round: cold (``MEMCHAT_WARM_SECONDS=0``: everything in the
process) and warm (handed to the warm process, tui.warm, started once before the rounds in a
private runtime dir). For a warm run the client's peak RSS and the forked child's (read from
the server's log; most of its pages are the server's, shared copy-on-write) are both printed,
and the server's own RSS once.

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


def child_rss(log: Path) -> float:
    """The peak RSS (MB) of the warm process's last child, from its log line."""
    last = [line for line in log.read_text().splitlines() if " served child=" in line][-1]
    return float(last.rsplit("child_peak_rss=", 1)[1].removesuffix("MB"))


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
    runtime = Path(tempfile.mkdtemp(prefix="mcw-", dir="/tmp"))
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
            XDG_RUNTIME_DIR=str(runtime),
        )
        cold_env = {**env, "MEMCHAT_WARM_SECONDS": "0"}
        warm_env = {**env, "MEMCHAT_WARM_SECONDS": "600"}
        lines = [f'{{"content": "fact {i}: I like tea number {i}"}}' for i in range(200)]
        (home / "seed.jsonl").write_text("\n".join(lines) + "\n")
        run(["memory", "import", str(home / "seed.jsonl")], cold_env)
        run(["memory", "list"], cold_env)  # warm caches (int8 model made, page cache)
        out = subprocess.run([EXE, "warm", "--start"], env=warm_env, capture_output=True, text=True)
        print(f"# {out.stdout.strip()}")
        log = next(runtime.rglob("*.log"))
        times: dict[str, list[float]] = {}
        rss: dict[str, list[float]] = {}
        try:
            for n in range(runs):
                for name, args in COMMANDS.items():
                    for mode, e in (("", cold_env), ("_warm", warm_env)):
                        if mode and name == "--help":
                            continue  # never handed over
                        key = name.replace(" ", "_").strip("-") + mode
                        wall, mb = run([a.format(n=f"{n}{mode}") for a in args], e)
                        times.setdefault(key, []).append(wall)
                        rss.setdefault(key, []).append(mb)
                        if mode:
                            rss.setdefault(key + "_child", []).append(child_rss(log))
            status = subprocess.run([EXE, "warm"], env=warm_env, capture_output=True, text=True)
        finally:
            subprocess.run([EXE, "warm", "--stop"], env=warm_env, capture_output=True)
    base = statistics.median(times["help"])
    for key, values in times.items():
        med = statistics.median(values)
        print(f"{key}_s: {med:.2f}")
        print(f"{key}_vs_help: {med / base:.1f}x")
        if key.endswith("_warm"):
            print(f"{key}_client_rss_mb: {max(rss[key]):.0f}")
            print(f"{key}_child_rss_mb: {max(rss[key + '_child']):.0f}")
        else:
            print(f"{key}_rss_mb: {max(rss[key]):.0f}")
    print(f"warm_server: {status.stdout.strip()}")
    print(f"runs: {runs}")


if __name__ == "__main__":
    main()
