"""Layer hops of one chat turn: Enter in the real chat app (Pilot, fake LLM, embedded Valkey,
SQLite, Chroma) down to storage and back, counted with a profiler.

A hop is a call whose callee is in another layer (tui, tasks, assistant, memory) than the
nearest calling frame of ours (third-party frames in between, e.g. Textual, are skipped), or
a call from one of our frames straight into storage (sqlite3, redis-py, chromadb). Resuming
the turn's event generator counts as a hop each time (one per streamed event). The app's
periodic health check is left out.

    python bench/turn_hops.py [CODE_DIR]     # CODE_DIR: the tree to measure (default: this one)

Prints ``name: value`` lines and the call sites crossing layers.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import tempfile
import threading
from pathlib import Path

CODE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1])
sys.path[:0] = [CODE, os.path.join(CODE, "tests"), os.path.join(CODE, "tests", "tui")]
home = tempfile.mkdtemp(prefix="hops-")
os.environ.update(
    MEMCHAT_HOME=home,
    MEMCHAT_CONFIG=home + "/config.toml",
    MEMCHAT_UI__LLM_TITLES="false",
    MEMCHAT_WORKER__EMBEDDED="false",
    LITELLM_LOCAL_MODEL_COST_MAP="True",
    OPENAI_API_KEY="sk-test",
    MEMCHAT_MODEL="openai/fake-model",
)
model = Path(CODE).parent / "shared" / "models" / "all-MiniLM-L6-v2"
if model.exists():
    os.environ.setdefault("MEMCHAT_EMBEDDING_MODEL", str(model))
os.environ.pop("REDIS_URL", None)

from fakellm import FakeLLM  # noqa: E402
from pilot_helpers import opened, send  # noqa: E402

OURS = {"tui", "tasks", "assistant", "memory"}
TIMERS = {"_check_health", "_show_short_term"}
hops: collections.Counter = collections.Counter()
sites: collections.Counter = collections.Counter()
active = [False]


def layer_of(filename: str) -> str | None:
    if filename.startswith(CODE + "/") and "/site-packages/" not in filename:
        top = filename[len(CODE) + 1 :].split("/", 1)[0]
        return top if top in OURS else None
    if "/redis/" in filename:
        return "storage:redis"
    if "/chromadb/" in filename:
        return "storage:chroma"
    return None


def nearest_ours(frame):
    while frame is not None:
        if frame.f_code.co_name in TIMERS:
            return None, None
        layer = layer_of(frame.f_code.co_filename)
        if layer in OURS:
            return layer, frame
        frame = frame.f_back
    return None, None


def in_timer(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name in TIMERS:
            return True
        frame = frame.f_back
    return False


def profile(frame, event, arg):
    if not active[0]:
        return
    if event == "c_call":
        if type(getattr(arg, "__self__", None)).__module__ == "sqlite3":
            caller = layer_of(frame.f_code.co_filename)
            if caller in OURS and not in_timer(frame):
                hops[(caller, "storage:sqlite")] += 1
        return
    if event != "call":
        return
    layer = layer_of(frame.f_code.co_filename)
    if layer is None:
        return
    if layer.startswith("storage"):
        caller = frame.f_back
        cl = layer_of(caller.f_code.co_filename) if caller is not None else None
        if cl in OURS and not in_timer(caller):
            hops[(cl, layer)] += 1
        return
    cl, cf = nearest_ours(frame.f_back)
    if cl is not None and cl != layer:
        hops[(cl, layer)] += 1
        sites[(f"{cl}:{cf.f_code.co_name}", f"{layer}:{frame.f_code.co_name}")] += 1


def report(label: str) -> None:
    between = sum(n for (a, b), n in hops.items() if not b.startswith("storage"))
    storage = sum(n for (a, b), n in hops.items() if b.startswith("storage"))
    print(f"{label} layer_hops: {between}")
    print(f"{label} storage_calls: {storage}")
    for (a, b), n in sorted(hops.items(), key=lambda kv: -kv[1]):
        print(f"    {a} -> {b}: {n}")
    for (a, b), n in sorted(sites.items()):
        print(f"        {a} -> {b}  x{n}")


async def main() -> None:
    sys.setprofile(profile)
    threading.setprofile(profile)  # the turn's thread worker
    from tui.app import MemchatApp

    with FakeLLM() as llm:
        os.environ["MEMCHAT_API_BASE"] = llm.url
        llm.script("Noted, Miso it is.", default=True)
        app = MemchatApp(worker=False, warm=False)
        async with app.run_test(size=(110, 34)) as pilot:
            await opened(app, pilot)
            await send(app, pilot, "hello there")  # warm-up: imports, the first conversation
            await pilot.pause(0.5)
            for label, new_chat in (("follow_up_turn", False), ("first_turn_new_chat", True)):
                if new_chat:
                    await pilot.press("ctrl+n")
                    await pilot.pause(0.5)
                hops.clear()
                sites.clear()
                active[0] = True
                await send(app, pilot, "my cat is called Miso")
                await pilot.pause(0.5)
                active[0] = False
                report(label)


if __name__ == "__main__":
    asyncio.run(main())
