"""Key-to-screen latency while a 4,000-token reply streams fast (fake server, no delay).

Runs the real app headless (Textual's test driver) against tests/fakellm.py. During the
stream a key is typed into the prompt every 50 ms; latency = from posting the key until the
prompt shows it. The same is measured with no stream as the baseline, in the same process.
Each flush interval (how long stream deltas are batched before the Markdown is updated,
``tui.screens.chat_turns.FLUSH_SECONDS``) is measured over several streams, interleaved.

    .venv/bin/python bench/stream_latency.py                 # the app's setting vs 30 ms
    .venv/bin/python bench/stream_latency.py --flush 0.03 0.06 0.1 --rounds 4

Prints `name: value` lines; goal: p95 during the stream <= 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


from textual.events import Key  # noqa: E402


async def type_keys(app, pilot, n: int, stop_when_idle: bool) -> list[float]:
    prompt = app.chat.prompt
    out = []
    for _ in range(n):
        if stop_when_idle and not app.chat.streaming:
            break
        before = len(prompt.text)
        t0 = time.perf_counter()
        app.post_message(Key("x", "x"))
        while len(prompt.text) == before:
            await asyncio.sleep(0.001)
        out.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.05)
    return out


async def stream_once(app, pilot, llm, reply: str) -> tuple[list[float], float, bool]:
    """One fast 4,000-token stream while typing; returns (latencies, seconds, reply shown whole)."""
    await pilot.press("ctrl+n")
    app.chat.prompt.clear()
    llm.script(reply, chunk_size=16)  # ~4,000 tokens, no delay between chunks
    app.chat.prompt.insert("stream please")
    await pilot.press("enter")
    t0 = time.perf_counter()
    while not app.chat.streaming:
        await pilot.pause(0.01)
    while app.chat.streaming and (app.chat._reply_view is None or not app.chat._reply_view.text):
        await pilot.pause(0.01)  # (a long flush interval shows nothing until the end)
    during = await type_keys(app, pilot, 400, stop_when_idle=True)
    while app.chat.streaming:
        await pilot.pause(0.02)
    total = time.perf_counter() - t0
    shown = [v for v in app.chat.transcript.views() if v.role == "assistant"][-1].text
    app.chat.prompt.clear()
    return during, total, shown == reply


async def main(flushes: list[float], rounds: int) -> None:
    from fakellm import FakeLLM

    home = tempfile.mkdtemp(prefix="mcs-", dir="/tmp")
    os.environ.update(
        MEMCHAT_HOME=home,
        MEMCHAT_CONFIG=os.path.join(home, "none.toml"),
        MEMCHAT_WORKER__EMBEDDED="false",
    )
    from tui.app import MemchatApp
    from tui.screens import chat_turns

    words = [f"word{i % 97}" for i in range(4000)]
    reply = "\n\n".join(" ".join(words[i : i + 80]) for i in range(0, len(words), 80))
    with FakeLLM() as llm:
        os.environ.update(
            MEMCHAT_MODEL="openai/fake-model", MEMCHAT_API_BASE=llm.url, OPENAI_API_KEY="sk-x"
        )
        app = MemchatApp(worker=False)
        async with app.run_test(size=(120, 40)) as pilot:
            while not (app.store and app.library_ready and app.vectors_ready):
                await pilot.pause(0.05)
            idle = await type_keys(app, pilot, 30, stop_when_idle=False)
            results = {}
            for _ in range(rounds):  # interleaved, so drift on a noisy machine hits all alike
                for flush in flushes:
                    chat_turns.FLUSH_SECONDS = flush
                    during, total, whole = await stream_once(app, pilot, llm, reply)
                    r = results.setdefault(flush, {"during": [], "total": [], "whole": True})
                    r["during"] += during
                    r["total"].append(total)
                    r["whole"] = r["whole"] and whole
    print(f"reply_chars: {len(reply)}")
    print(f"idle_key_latency_p50_ms: {statistics.median(idle):.1f}")
    print(f"idle_key_latency_p95_ms: {pct(idle, 95):.1f}")
    for flush, r in results.items():
        name = f"flush_{int(flush * 1000)}ms"
        during = r["during"]
        print(f"{name}_reply_complete: {r['whole']}")
        print(f"{name}_stream_total_s: {statistics.median(r['total']):.2f}")
        print(f"{name}_stream_keys_measured: {len(during)}")
        if during:
            print(f"{name}_stream_key_latency_p50_ms: {statistics.median(during):.1f}")
            print(f"{name}_stream_key_latency_p95_ms: {pct(during, 95):.1f}")
            print(f"{name}_stream_key_latency_max_ms: {max(during):.1f}")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--flush",
        type=float,
        nargs="+",
        default=None,
        help="FLUSH_SECONDS values to compare (default: the app's, and 0.03)",
    )
    ap.add_argument("--rounds", type=int, default=3, help="streams per flush value")
    args = ap.parse_args()
    if args.flush is None:
        from tui.screens.chat_turns import FLUSH_SECONDS

        args.flush = sorted({FLUSH_SECONDS, 0.03})
    asyncio.run(main(args.flush, args.rounds))
