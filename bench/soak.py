"""Soak: the chat, the background worker and two CLI writers on one profile at once.

Processes, all real and all on the same data dir (embedded Valkey, SQLite, Chroma):
- chat: the Assistant (what the TUI drives) answering turn after turn against the fake LLM,
  queueing extraction after each turn;
- worker: `memchat worker` extracting memories from those turns;
- two writers: the `memchat memory add` command, in a loop, each in its own process.
At the end every write is counted back from SQLite; any "locked" error fails the run.

    .venv/bin/python bench/soak.py [--seconds 120]

Prints ``name: value`` lines: per-process throughput and p95 latency, and the counts.
The test suite runs `run_soak` for 60 s (tests/test_concurrency.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

WRITER = textwrap.dedent(
    """
    import io, json, sys, time
    from contextlib import redirect_stdout
    from tui.cli import cli
    name, until = sys.argv[1], float(sys.argv[2])
    lat, errors = [], []
    while time.time() < until:
        t = time.perf_counter()
        try:
            with redirect_stdout(io.StringIO()):
                cli.main(["memory", "add", f"{name} fact number {len(lat)}", "--tag", name],
                         standalone_mode=False)
        except Exception as e:
            errors.append(repr(e))
        lat.append(time.perf_counter() - t)
    print(json.dumps({"ops": len(lat), "lat": lat, "errors": errors}))
    """
)
CHAT = textwrap.dedent(
    """
    import json, sys, time
    from assistant.assistant import Assistant
    from memory.store import MemoryStore
    from tasks.api import enqueue_after_turn
    until = float(sys.argv[1])
    store = MemoryStore()
    assistant = Assistant(store)
    conv = assistant.start_conversation("soak")
    lat, errors = [], []
    while time.time() < until:
        t = time.perf_counter()
        try:
            msg = assistant.reply(conv.id, f"turn {len(lat)}: my favourite colour today is hue{len(lat)}")
            enqueue_after_turn(store, conv.id, msg.id)
        except Exception as e:
            errors.append(repr(e))
        lat.append(time.perf_counter() - t)
    store.close()
    print(json.dumps({"ops": len(lat), "lat": lat, "errors": errors, "conversation": conv.id}))
    """
)


def _reply(body: dict) -> str:
    """Extraction prompts get one memory per user turn; chat turns get a short answer."""
    user = next((m["content"] for m in body["messages"] if m["role"] == "user"), "")
    block = re.search(r"<new-turns-([0-9a-f]+)>\n(.*)\n</new-turns-\1>", user, re.S)
    if block is None:  # a chat turn
        return "Noted."
    new = block.group(2)
    mems = [
        {
            "content": f"The user's favourite colour was {hue}.",
            "section": "facts",
            "importance": 0.4,
            "source_message_ids": [mid],
        }
        for mid, hue in re.findall(
            r'<turn id="([0-9a-f]+)" [^>]*role="user">turn \d+: my favourite colour today is (\w+)',
            new,
        )
    ]
    return json.dumps({"memories": mems})


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))] if xs else 0.0


def run_soak(seconds: float) -> dict:
    """Run the four processes for ``seconds`` against MEMCHAT_HOME; returns the figures."""
    from fakellm import FakeLLM

    from memory.store import MemoryStore

    env = {**os.environ, "MEMCHAT_TASKS_DEBOUNCE": "0", "PYTHONPATH": str(ROOT)}
    with FakeLLM() as fake:
        fake.script(reply_fn=_reply, default=True)
        env.update(
            {
                "MEMCHAT_MODEL": "openai/fake-model",
                "MEMCHAT_API_BASE": fake.url,
                "OPENAI_API_KEY": "sk-soak",
            }
        )
        with MemoryStore() as store:  # create the data dir and start the embedded Redis first
            store.add_memory("soak test started")
            worker = subprocess.Popen(
                [sys.executable, "-m", "tui", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(3)  # the worker's litellm import
            until = time.time() + seconds
            procs = {
                "chat": subprocess.Popen(
                    [sys.executable, "-c", CHAT, str(until)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
                **{
                    name: subprocess.Popen(
                        [sys.executable, "-c", WRITER, name, str(until)],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for name in ("writer1", "writer2")
                },
            }
            out: dict = {"seconds": seconds}
            for name, p in procs.items():
                stdout, stderr = p.communicate(timeout=seconds + 120)
                got = json.loads(stdout.strip().splitlines()[-1])
                out[name] = {
                    "ops": got["ops"],
                    "per_s": round(got["ops"] / seconds, 1),
                    "p95_ms": round(_p95(got["lat"]) * 1000, 1),
                    "errors": got["errors"],
                    "locked_in_stderr": "locked" in stderr,
                    "conversation": got.get("conversation"),
                }
            # let the worker drain what the chat queued, then stop it as a user would
            deadline = time.time() + 60
            while time.time() < deadline:
                from tasks.api import pending_count

                if pending_count(store) == 0:
                    break
                time.sleep(0.5)
            worker.send_signal(signal.SIGTERM)
            _, werr = worker.communicate(timeout=60)
            out["worker"] = {"exit_code": worker.returncode, "locked_in_stderr": "locked" in werr}
            for name in ("writer1", "writer2"):
                out[name]["stored"] = store.db.scalar(
                    "SELECT COUNT(*) FROM memories WHERE content LIKE ?", (f"{name} fact number %",)
                )
            conv = out["chat"]["conversation"]
            out["chat"]["messages_stored"] = len(store.messages(conv))
            out["extracted"] = store.db.scalar(
                "SELECT COUNT(*) FROM memories WHERE content LIKE 'The user''s favourite colour was %'"
            )
            out["integrity"] = store.db.integrity()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mcsoak-", dir="/tmp"))
    os.environ.update(
        {
            "MEMCHAT_HOME": str(home),
            "MEMCHAT_CONFIG": str(home / "none.toml"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "MEMCHAT_EMBEDDING_MODEL": str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"),
        }
    )
    for var in ("REDIS_URL", "CHROMA_URL"):
        os.environ.pop(var, None)
    res = run_soak(args.seconds)
    for name in ("chat", "writer1", "writer2"):
        r = res[name]
        print(f"{name}_ops: {r['ops']}")
        print(f"{name}_per_s: {r['per_s']}")
        print(f"{name}_p95_ms: {r['p95_ms']}")
        print(f"{name}_errors: {len(r['errors'])}")
    print(f"writes_lost: {sum(res[n]['ops'] - res[n]['stored'] for n in ('writer1', 'writer2'))}")
    print(f"chat_messages_lost: {2 * res['chat']['ops'] - res['chat']['messages_stored']}")
    print(f"memories_extracted: {res['extracted']}")
    print(
        f"locked_errors: {sum(bool(res[n]['locked_in_stderr']) for n in ('chat', 'writer1', 'writer2', 'worker'))}"
    )
    print(f"worker_exit_code: {res['worker']['exit_code']}")
    print(f"integrity: {res['integrity']}")


if __name__ == "__main__":
    main()
