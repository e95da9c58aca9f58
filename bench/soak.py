"""Soak: the chat, the background worker and two CLI writers on one profile at once.

Processes, all real and all on the same data dir (embedded Valkey, SQLite, Chroma):
- chat: the Assistant (what the TUI drives) answering turn after turn against the fake LLM,
  queueing extraction after each turn;
- worker: `memchat worker` extracting memories from those turns;
- two writers: the `memchat memory add` command, in a loop, each in its own process.
At the end every write is counted back from SQLite; any "locked" error fails the run.

    .venv/bin/python bench/soak.py [--seconds 120] [--cycles 50]

Prints ``name: value`` lines: per-process throughput and p95 latency, and the counts.
The test suite runs `run_soak` for 20 s (tests/test_concurrency.py).

Then a lifecycle soak (`run_lifecycle`, ``--cycles N``, 0 skips it; ``--seconds 0`` skips
the first part): N times the real chat app in a pseudo-terminal is started, sent a turn, and
ended while the reply streams -- in turn by a closed terminal (SIGHUP), SIGTERM and SIGKILL.
Then a `memchat worker --once` and the counts: every prompt stored, every reply kept (cut),
one memory per prompt extracted, no memchat or valkey-server process left, SQLite intact.
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
    name, until, least = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    lat, errors = [], []
    first = time.time()
    while time.time() < until or len(lat) < least:
        t = time.perf_counter()
        try:
            with redirect_stdout(io.StringIO()):
                cli.main(["memory", "add", f"{name} fact number {len(lat)}", "--tag", name],
                         standalone_mode=False)
        except Exception as e:
            errors.append(repr(e))
        lat.append(time.perf_counter() - t)
    print(json.dumps({"ops": len(lat), "lat": lat, "errors": errors, "span": [first, time.time()]}))
    """
)
CHAT = textwrap.dedent(
    """
    import json, sys, time
    from assistant.assistant import Assistant
    from memory.store import MemoryStore
    from tasks.api import enqueue_after_turn
    until, least = float(sys.argv[1]), int(sys.argv[2])
    store = MemoryStore()
    assistant = Assistant(store)
    conv = assistant.start_conversation("soak")
    lat, errors = [], []
    first = time.time()
    while time.time() < until or len(lat) < least:
        t = time.perf_counter()
        try:
            msg = assistant.reply(conv.id, f"turn {len(lat)}: my favourite colour today is hue{len(lat)}")
            enqueue_after_turn(store, conv.id, msg.id)
        except Exception as e:
            errors.append(repr(e))
        lat.append(time.perf_counter() - t)
    store.close()
    print(json.dumps({"ops": len(lat), "lat": lat, "errors": errors, "conversation": conv.id,
                      "span": [first, time.time()]}))
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


def run_soak(seconds: float, least: int = 0) -> dict:
    """Run the four processes for ``seconds`` against MEMCHAT_HOME; returns the figures.

    Each of the chat and the writers does at least ``least`` operations, however slow a busy
    machine makes it (the chat's litellm import alone can take 10 s of a starved core); its
    ``span`` is when its first operation started and its last one ended."""
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
                    [sys.executable, "-c", CHAT, str(until), str(least)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
                **{
                    name: subprocess.Popen(
                        [sys.executable, "-c", WRITER, name, str(until), str(least)],
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
                    "span": got["span"],
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


LIFECYCLE_REPLY = "Noted, " + " ".join(f"hue-word{i}" for i in range(120))
SIGNALS = (("sighup", signal.SIGHUP), ("sigterm", signal.SIGTERM), ("sigkill", signal.SIGKILL))


def _lifecycle_reply(body: dict) -> str:
    return LIFECYCLE_REPLY if _reply(body) == "Noted." else _reply(body)


def _processes_of(home: Path) -> list[str]:
    """memchat processes (their environment names the data dir) and valkey-servers (their
    command line names its socket) of ``home`` still running."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(pid) != os.getpid() and (
            f"MEMCHAT_HOME={home}".encode() in environ or str(home) in cmdline
        ):
            found.append(f"{pid} {cmdline.strip()[:80]}")
    return found


def _db_rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


def run_lifecycle(cycles: int) -> dict:
    """Start the app, chat, end it by SIGHUP / SIGTERM / SIGKILL in turn, ``cycles`` times
    against MEMCHAT_HOME; returns the figures."""
    sys.path.insert(0, str(ROOT / "tests" / "tui"))
    from fakellm import FakeLLM
    from pty_app import ENTER, PtyApp

    home = Path(os.environ["MEMCHAT_HOME"])
    db = home / "memchat.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COLUMNS", "LINES"))}
    env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT), MEMCHAT_TASKS_DEBOUNCE="0")
    exits: dict[str, list[float]] = {name: [] for name, _ in SIGNALS}
    codes: dict[str, set] = {name: set() for name, _ in SIGNALS}
    failures: list[str] = []
    started = time.monotonic()
    with FakeLLM() as fake:
        fake.script(reply_fn=_lifecycle_reply, chunk_size=4, delay=0.01, default=True)
        env.update(MEMCHAT_MODEL="openai/fake-model", MEMCHAT_API_BASE=fake.url)
        env["OPENAI_API_KEY"] = "sk-soak"
        for i in range(cycles):
            name, sig = SIGNALS[i % len(SIGNALS)]
            app = PtyApp(env=env)
            try:
                app.start()
                app.wait_for_text("profile default", timeout=60)
                prompt = f"turn {i}: my favourite colour today is hue{i}"
                app.type(prompt)
                app.press(ENTER)
                app.wait_until(  # the reply streams: end the app in the middle of it
                    lambda p=prompt: _db_rows(
                        db,
                        "SELECT 1 FROM messages a JOIN messages u ON a.conversation_id ="
                        " u.conversation_id WHERE u.content = ? AND a.role = 'assistant'"
                        " AND length(a.content) >= 40",
                        (p,),
                    ),
                    60,
                    "the reply to stream",
                )
                t0 = time.monotonic()
                if sig == signal.SIGHUP:
                    app.hang_up()
                    code = app.wait(timeout=60)
                else:
                    code = app.kill(sig, timeout=60)
                exits[name].append(time.monotonic() - t0)
                codes[name].add(code)
            except Exception as e:  # noqa: BLE001 - counted, the soak goes on
                failures.append(f"cycle {i} ({name}): {e}"[:300])
            finally:
                app.close()
        # what the killed apps left queued or unextracted, done by one worker run
        worker = subprocess.run(
            [sys.executable, "-m", "tui", "worker", "--once", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    time.sleep(1.0)  # a server whose last user just left shuts down
    user = _db_rows(db, "SELECT COUNT(*) FROM messages WHERE role = 'user'")[0][0]
    kept = _db_rows(
        db, "SELECT COUNT(*) FROM messages WHERE role = 'assistant' AND length(content) > 0"
    )[0][0]
    extracted = _db_rows(
        db, "SELECT COUNT(*) FROM memories WHERE content LIKE 'The user''s favourite colour was %'"
    )[0][0]
    integrity = _db_rows(db, "PRAGMA integrity_check")[0][0]
    return {
        "cycles": cycles,
        "seconds": round(time.monotonic() - started, 1),
        "exits": exits,
        "codes": {k: sorted(v) for k, v in codes.items()},
        "failures": failures,
        "worker_exit_code": worker.returncode,
        "user_messages": user,
        "replies_kept": kept,
        "memories_extracted": extracted,
        "processes_left": _processes_of(home),
        "integrity": integrity,
    }


def print_lifecycle(res: dict) -> None:
    n = res["cycles"]
    print(f"lifecycle_cycles: {n}")
    print(f"lifecycle_seconds: {res['seconds']}")
    for name, times in res["exits"].items():
        if times:
            print(f"{name}_exits: {len(times)}")
            print(f"{name}_exit_max_s: {max(times):.2f}")
            print(f"{name}_exit_p50_s: {sorted(times)[len(times) // 2]:.2f}")
            print(f"{name}_exit_codes: {','.join(map(str, res['codes'][name]))}")
    print(f"cycle_failures: {len(res['failures'])}")
    for f in res["failures"]:
        print(f"  {f}")
    print(f"prompts_stored: {res['user_messages']}/{n}")
    print(f"replies_kept: {res['replies_kept']}/{n}")
    print(f"memories_extracted: {res['memories_extracted']}/{n}")
    print(f"worker_once_exit_code: {res['worker_exit_code']}")
    print(f"processes_left: {len(res['processes_left'])}")
    for p in res["processes_left"]:
        print(f"  {p}")
    print(f"integrity: {res['integrity']}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--cycles", type=int, default=50, help="lifecycle soak cycles (0: skip)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mcsoak-", dir="/tmp"))
    os.environ.update(
        {
            "MEMCHAT_HOME": str(home),
            "MEMCHAT_CONFIG": str(home / "none.toml"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "MEMCHAT_WARM_SECONDS": "0",  # fresh processes, as before; none may outlive the soak
            "MEMCHAT_EMBEDDING_MODEL": str(ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2"),
        }
    )
    for var in ("REDIS_URL", "CHROMA_URL"):
        os.environ.pop(var, None)
    if args.seconds > 0:
        _print_soak(run_soak(args.seconds))
    if args.cycles > 0:
        os.environ["MEMCHAT_HOME"] = str(Path(tempfile.mkdtemp(prefix="mclife-", dir="/tmp")))
        print_lifecycle(run_lifecycle(args.cycles))


def _print_soak(res: dict) -> None:
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
