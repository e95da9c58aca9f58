"""A provider that misbehaves without failing outright: one that trickles a reply forever
(the network timeout is per read, so it was never cut off) and one that sends a stream that
is not the OpenAI format (reported as "Could not reach ..." as if it were down)."""

from __future__ import annotations

import sys
import time
import types

import pytest
from click.testing import CliRunner

from assistant.errors import InvalidReply, ReplyTimedOut, StreamBroken
from assistant.llm import LLM
from assistant.model_choice import resolve_model
from assistant.settings import load_settings
from memory.store import MemoryStore
from tui.cli import cli

REPLY = "one two three four five six seven eight nine ten eleven twelve"


@pytest.fixture(autouse=True)
def no_tasks(monkeypatch):
    """`ask` queues an extraction after the turn: not what these tests are about."""
    api = types.ModuleType("tasks.api")
    api.enqueue_after_turn = lambda *a, **k: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tasks.api", api)


def ask(*args: str):
    return CliRunner().invoke(cli, ["ask", *args], catch_exceptions=False)


def last_reply() -> dict:
    with MemoryStore(load_settings(), start_redis=False) as s:
        rows = s.db.query(
            "SELECT content, status, error FROM messages WHERE role = 'assistant' "
            "ORDER BY created_at DESC LIMIT 1"
        )
        return dict(rows[0])


def test_a_trickling_provider_is_cut_off_with_the_partial_reply_kept(
    fake_llm, redis_url, monkeypatch
):
    from assistant.llm import warm_up

    warm_up()  # litellm's import (seconds) is not part of the reply
    monkeypatch.setenv("MEMCHAT_REPLY_TIMEOUT_SECONDS", "1.5")
    fake_llm.script(reply=REPLY, chunk_size=4, delay=0.4)  # a chunk every 0.4 s: ~6 s in all
    t = time.monotonic()
    r = ask("count for me", "--no-memory")
    took = time.monotonic() - t
    assert r.exit_code == 4, r.output
    assert took < 5, took
    assert "took longer than 1.5s in total and was cut off" in r.stderr
    assert "reply_timeout_seconds" in r.stderr and "Traceback" not in r.stderr
    shown = r.stdout.strip()
    assert shown and REPLY.startswith(shown) and shown != REPLY
    stored = last_reply()
    assert stored["status"] == "failed" and stored["content"] == shown
    assert "cut off" in stored["error"]


def test_the_default_reply_limit_is_a_setting():
    s = load_settings()
    assert s.reply_timeout_seconds == 300


def test_a_malformed_stream_is_an_invalid_reply_naming_model_and_url(fake_llm, redis_url):
    fake_llm.script(reply="Hello there", malformed_after=0)
    r = ask("hello?", "--no-memory")
    assert r.exit_code == 4, r.output
    assert "Could not reach" not in r.stderr and "connection failed" not in r.stderr
    assert f"{fake_llm.url} sent an invalid reply for openai/fake-model" in r.stderr
    assert "not the OpenAI streaming format" in r.stderr


def test_a_stream_that_turns_malformed_midway_keeps_the_partial_text(fake_llm):
    choice = resolve_model("openai/fake-model", fake_llm.url)
    fake_llm.script(reply="Hello there, friend", chunk_size=4, malformed_after=2)
    got: list[str] = []
    with pytest.raises(StreamBroken) as info:
        for ev in LLM(choice).stream([{"role": "user", "content": "hi"}]):
            got.append(ev.text)
    assert info.value.partial == "".join(got) == "Hello th"
    assert f"{fake_llm.url} sent an invalid reply for openai/fake-model midway" in str(info.value)
    assert not isinstance(info.value, ReplyTimedOut | InvalidReply)


def test_a_non_streamed_call_is_cut_off_at_the_reply_limit(fake_llm):
    """Extraction, summaries and titles are single calls: a provider that stalls holds the
    worker only until the total limit, not for good."""
    from assistant.llm import warm_up

    warm_up()
    choice = resolve_model("openai/fake-model", fake_llm.url)
    fake_llm.script(reply='{"memories": []}', stall=30)
    t = time.monotonic()
    with pytest.raises(ReplyTimedOut) as info:
        LLM(choice, reply_timeout=1.0).complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - t < 4
    assert "took longer than 1s in total" in str(info.value)
    fake_llm.script(reply='{"memories": []}')
    assert LLM(choice, reply_timeout=5).complete([{"role": "user", "content": "hi"}]) == (
        '{"memories": []}'
    )


def test_the_worker_gets_the_reply_limit(monkeypatch):
    from assistant.assistant import Assistant

    monkeypatch.setenv("MEMCHAT_MODEL", "openai/fake-model")
    monkeypatch.setenv("MEMCHAT_REPLY_TIMEOUT_SECONDS", "7")
    with MemoryStore(start_redis=False) as store:
        assert Assistant(store).llm_for().reply_timeout == 7
