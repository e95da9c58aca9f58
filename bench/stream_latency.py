"""Key-to-screen latency while a 4,000-token reply streams fast (fake server, no delay).

Runs the real app headless (Textual's test driver) against tests/fakellm.py. During the
stream a key is typed into the prompt every 50 ms; latency = from posting the key until the
prompt shows it and the screen has refreshed. The same is measured with no stream as the
baseline, in the same process.

    .venv/bin/python bench/stream_latency.py

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


async def main() -> None:
    from fakellm import FakeLLM

    home = tempfile.mkdtemp(prefix="mcs-", dir="/tmp")
    os.environ.update(
        MEMCHAT_HOME=home,
        MEMCHAT_CONFIG=os.path.join(home, "none.toml"),
        MEMCHAT_WORKER__EMBEDDED="false",
    )
    from tui.app import MemchatApp

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
            idle = await type_keys(app, pilot, 20, stop_when_idle=False)
            app.chat.prompt.clear()
            llm.script(reply, chunk_size=16)  # ~4,000 tokens, no delay between chunks
            app.chat.prompt.insert("stream please")
            await pilot.press("enter")
            t0 = time.perf_counter()
            while not app.chat.streaming:
                await pilot.pause(0.01)
            while app.chat._reply_view is None or not app.chat._reply_view.text:
                await pilot.pause(0.01)
            during = await type_keys(app, pilot, 400, stop_when_idle=True)
            while app.chat.streaming:
                await pilot.pause(0.02)
            total = time.perf_counter() - t0
            shown = [v for v in app.chat.transcript.views() if v.role == "assistant"][-1].text
    print(f"reply_chars: {len(reply)}")
    print(f"reply_complete: {shown == reply}")
    print(f"stream_total_s: {total:.2f}")
    print(f"idle_key_latency_p50_ms: {statistics.median(idle):.1f}")
    print(f"idle_key_latency_p95_ms: {pct(idle, 95):.1f}")
    print(f"stream_keys_measured: {len(during)}")
    if during:
        print(f"stream_key_latency_p50_ms: {statistics.median(during):.1f}")
        print(f"stream_key_latency_p95_ms: {pct(during, 95):.1f}")
        print(f"stream_key_latency_max_ms: {max(during):.1f}")


if __name__ == "__main__":
    asyncio.run(main())
