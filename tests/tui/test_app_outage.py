"""Redis dies mid-conversation in the chat app: chatting goes on, the status bar says memory
is degraded, nothing is lost, and the background jobs kept meanwhile are queued when it returns."""

from __future__ import annotations

import pytest
from pilot_helpers import opened, send, wait_for

import tui.app as app_module
from tasks import api
from tui.app import MemchatApp

SIZE = (110, 34)


@pytest.fixture
def server(stoppable_redis, monkeypatch):
    monkeypatch.setattr(app_module, "HEALTH_SECONDS", 0.3)
    return stoppable_redis


async def test_redis_outage_in_the_chat_app(server, fake_llm):
    fake_llm.script(reply="Noted.", default=True)
    app = MemchatApp(worker=False, warm=False)
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        status = app.chat.status
        await send(app, pilot, "I moved to Lisbon last month")
        assert status.memory_ok and status.memory == "redis-url"
        store = app.store
        store.short.RETRY_SECONDS = 0.2  # try to reconnect at every health check

        server.stop()  # Redis goes away mid-conversation
        for text in ("I drink my coffee black", "and I play the cello"):
            reply = await send(app, pilot, text)
            assert reply.text == "Noted." and reply.status == "complete"
        await wait_for(pilot, lambda: not status.memory_ok, what="the status bar to say so")
        assert status.memory.startswith("degraded")
        conv = app.chat.conversation_id
        assert [m.content for m in store.messages(conv) if m.role == "user"] == [
            "I moved to Lisbon last month",
            "I drink my coffee black",
            "and I play the cello",
        ]
        assert len(store.messages(conv)) == 6
        assert [(j.name, j.args[0]) for j in store.deferred_jobs()] == [("extract", conv)]
        assert [t["content"] for t in store.recent_turns(conv, 20)][-1] == "Noted."

        server.ensure_running()  # Redis is back
        await wait_for(
            pilot, lambda: status.memory_ok, what="the status bar to recover", timeout=15
        )
        await send(app, pilot, "thanks")
        assert store.deferred_count() == 0  # the kept job was queued
        assert api.pending_count(store) >= 1
        assert len(store.messages(conv)) == 8
