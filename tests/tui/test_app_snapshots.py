"""Snapshots of the screens that matter. Content is deterministic: fixed prompts and replies,
relative times ("just now"), no ids; each waits until background loading has finished.

Regenerate after an intended UI change with `pytest tests/tui/test_app_snapshots.py
--snapshot-update`, then look at the SVGs under __snapshots__/."""

from __future__ import annotations

import re
import time

import pytest
from pilot_helpers import steady_cursor

from memory.store import MemoryStore
from tui.app import MemchatApp


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    # no health check mid-shot: after 10 s it would add "no worker · 0 tasks" to some shots
    monkeypatch.setattr("tui.app.HEALTH_SECONDS", 3600.0)
    return MemchatApp(worker=False)


REPLY = (
    "Here is a function that greets someone:\n\n"
    '```python\ndef greet(name: str) -> str:\n    return f"Hello, {name}!"\n```\n\n'
    'Call it with `greet("Ada")`.'
)


async def settle(pilot, cond=lambda app: True, timeout: float = 30.0) -> None:
    """Wait for memory, the model library, the vector index and ``cond`` to be ready."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while not (app.store is not None and app.library_ready and app.vectors_ready and cond(app)):
        if time.monotonic() > deadline:
            raise AssertionError("the app did not settle")
        await pilot.pause(0.05)
    steady_cursor(app.chat.prompt)  # a blinking cursor makes screenshots differ
    await pilot.pause(0.2)


async def send(pilot, text: str) -> None:
    await settle(pilot)
    app = pilot.app
    app.chat.prompt.insert(text)
    await pilot.press("enter")
    await pilot.pause(0.1)
    await settle(pilot, lambda a: not a.chat.streaming)


def test_chat_screen_with_a_reply(app, fake_llm, snap_compare):
    fake_llm.script(REPLY, chunk_size=7)

    async def run_before(pilot):
        await send(pilot, "write a greeting function in python")

    assert snap_compare(app, terminal_size=(110, 32), run_before=run_before)


def test_empty_state_on_first_start(app, fake_llm, snap_compare):
    async def run_before(pilot):
        await settle(pilot)

    assert snap_compare(app, terminal_size=(110, 32), run_before=run_before)


def test_provider_error_state_keeps_the_prompt_and_shows_the_fix(app, fake_llm, snap_compare):
    fake_llm.script(error=401)

    async def run_before(pilot):
        await send(pilot, "hello?")
        note = pilot.app.chat.query(".message-note").last()
        note.update(
            re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", str(note.render()))
        )  # random port
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(110, 32), run_before=run_before)


def test_memories_used_panel_expanded(app, fake_llm, snap_compare):
    with MemoryStore() as store:
        store.add_memory("The user's cat is called Miso", section="facts")
        store.add_memory("The user prefers short answers", section="preferences")
    fake_llm.script("Your cat is called Miso.")

    async def run_before(pilot):
        await send(pilot, "what is my cat called?")
        reply = [v for v in pilot.app.chat.transcript.views() if v.role == "assistant"][-1]
        reply.focus()
        await pilot.press("m")
        await settle(pilot, lambda a: bool(reply.memories.rows()))
        # The memories block has a random boundary (so its token count varies by a few) and
        # scores move with wall-clock recency: pin the numbers on screen.
        reply.memories.set_items(reply.memories.items, memory_tokens=200, prompt_tokens=400)
        pilot.app.chat.status.memory_tokens = 200
        pilot.app.chat.status.worker = ""  # the 10 s health check lands or not: keep it off
        await pilot.pause(0.1)
        for row in reply.memories.rows():
            row.item.score = round(row.item.score, 1)
            row.refresh_item()
        reply.memories.rows()[0].focus()
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(110, 32), run_before=run_before)


def test_small_80x24_terminal(app, fake_llm, snap_compare):
    fake_llm.script(REPLY, chunk_size=7)

    async def run_before(pilot):
        await send(pilot, "write a greeting function in python")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_first_run_screen_without_a_model(app, snap_compare, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "MEMCHAT_CONFIG", "/nonexistent/memchat/config.toml"
    )  # a fixed path on screen

    async def run_before(pilot):
        await settle(pilot, lambda a: a.screen.__class__.__name__ == "FirstRunScreen")

    assert snap_compare(app, terminal_size=(110, 32), run_before=run_before)
