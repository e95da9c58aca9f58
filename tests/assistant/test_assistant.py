"""The Assistant facade against the fake OpenAI-compatible server and real SQLite + Redis."""

from __future__ import annotations

import re
import socket
import threading

import pytest

from assistant.assistant import Assistant
from assistant.errors import AssistantError, ProviderError, ProviderUnavailable
from memory.config import load_settings
from memory.store import MemoryStore

KEY = "sk-abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def store(redis_url, tmp_path, monkeypatch):
    # lexical recall only (fast); the CLI tests run the hybrid recall with the real embedder
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "no-model"))
    s = MemoryStore(load_settings())
    yield s
    s.close()


@pytest.fixture
def assistant(store, fake_llm) -> Assistant:
    return Assistant(store, timeout=10)


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def block_of(system: str) -> str:
    """The text between the real boundary markers of the memories block."""
    m = re.search(r"<memories-([0-9a-f]+)>\n(.*)\n</memories-\1>$", system, re.S)
    assert m, system
    return m.group(2)


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- the happy path
def test_turn_streams_and_stores_reply_with_memories_used(assistant, store, fake_llm):
    mem = store.add_memory("My cat is called Ziggy", actor="cli")
    store.add_memory("The user works as a baker", actor="cli")
    conv = assistant.start_conversation()
    fake_llm.script(reply="Your cat is Ziggy.", chunk_size=3, usage=(120, 6))

    events = list(assistant.turn(conv.id, "what is my cat called?"))
    ks = kinds(events)
    assert ks[0] == "user_stored" and ks[-1] == "done"
    assert ks.index("recalled") < ks.index("delta")
    assert set(ks[1:-1]) <= {"waiting", "recalled", "delta"}
    assert "".join(e.text for e in events if e.kind == "delta") == "Your cat is Ziggy."
    recalled = next(e for e in events if e.kind == "recalled")
    assert recalled.hits[0].id == mem.id and recalled.memory_tokens > 0

    reply = events[-1].message
    assert reply.content == "Your cat is Ziggy." and reply.status == "complete"
    assert reply.model == "openai/fake-model"
    assert reply.used_memories[0].id == mem.id and reply.used_memories[0].score > 0
    assert (reply.prompt_tokens, reply.completion_tokens) == (120, 6)
    assert reply.memory_tokens == recalled.memory_tokens and reply.latency_ms > 0
    assert [(m.role, m.content) for m in store.messages(conv.id)] == [
        ("user", "what is my cat called?"),
        ("assistant", "Your cat is Ziggy."),
    ]
    assert store.get_message(reply.id).used_memories[0].id == mem.id

    sent = fake_llm.last_messages()
    assert sent[0]["role"] == "system" and "My cat is called Ziggy" in block_of(sent[0]["content"])
    assert sent[-1] == {"role": "user", "content": "what is my cat called?"}
    assert len(sent) == 2  # no duplicated user turn from the session history


def test_second_turn_sends_history_once_and_does_not_recall_own_turns(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="Noted: blue.")
    assistant.reply(conv.id, "my favourite colour is blue")
    fake_llm.script(reply="Blue.")
    msg = assistant.reply(conv.id, "what colour do I like?")
    sent = fake_llm.last_messages()
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "my favourite colour is blue"),
        ("assistant", "Noted: blue."),
        ("user", "what colour do I like?"),
    ]
    assert "<memories-" not in sent[0]["content"]  # own turns are history, not recalled memories
    assert msg.used_memories == []


def test_past_conversations_are_recalled_as_excerpts(assistant, store, fake_llm):
    old = assistant.start_conversation()
    fake_llm.script(reply="Lovely, a parrot named Kiwi.")
    assistant.reply(old.id, "I adopted a parrot named Kiwi")
    new = assistant.start_conversation()
    fake_llm.script(reply="Kiwi.")
    msg = assistant.reply(new.id, "what is my parrot named?")
    block = block_of(fake_llm.last_messages()[0]["content"])
    assert (
        'section="conversation excerpt"' in block and "user: I adopted a parrot named Kiwi" in block
    )
    assert msg.used_memories and msg.used_memories[0].kind == "message"


def test_no_memory_and_system_prompt_override(assistant, store, fake_llm):
    store.add_memory("My cat is called Ziggy")
    conv = assistant.start_conversation(system_prompt="You are a pirate.")
    fake_llm.script(reply="Arr.")
    msg = assistant.reply(conv.id, "what is my cat called?", use_memory=False)
    system = fake_llm.last_messages()[0]["content"]
    assert system.startswith("You are a pirate.") and "Ziggy" not in system
    assert msg.used_memories == [] and msg.memory_tokens == 0


# --------------------------------------------------------------------------- failures
def test_user_message_is_stored_before_the_llm_fails(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(error=500)
    events = list(assistant.turn(conv.id, "are you there?"))
    assert kinds(events)[0] == "user_stored" and events[-1].kind == "error"
    assert events[-1].error_type == "ProviderError" and "server had an error" in events[-1].error
    msgs = store.messages(conv.id)
    assert msgs[0].role == "user" and msgs[0].content == "are you there?"
    assert (
        msgs[1].status == "failed" and msgs[1].content == "" and msgs[1].error == events[-1].error
    )
    assert events[-1].message.id == msgs[1].id


def test_unreachable_server_keeps_the_question(store, monkeypatch):
    monkeypatch.setenv("MEMCHAT_MODEL", "openai/fake-model")
    monkeypatch.setenv("MEMCHAT_API_BASE", f"http://127.0.0.1:{closed_port()}/v1")
    assistant = Assistant(store, timeout=3)
    conv = assistant.start_conversation()
    with pytest.raises(ProviderUnavailable, match="Could not reach"):
        assistant.reply(conv.id, "hello?")
    assert [m.content for m in store.messages(conv.id) if m.role == "user"] == ["hello?"]


def test_no_model_configured_is_an_error_event_and_keeps_the_message(store):
    assistant = Assistant(store)
    assert assistant.model_choice() is None
    assert "MEMCHAT_MODEL" in assistant.configuration_problem()
    conv = assistant.start_conversation()
    events = list(assistant.turn(conv.id, "hi"))
    assert kinds(events) == ["user_stored", "error"]
    assert events[-1].error_type == "NoModelConfigured" and events[-1].message is None
    assert [m.content for m in store.messages(conv.id)] == ["hi"]


def test_cancel_mid_stream_keeps_partial_as_cancelled(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="abcdefghij" * 30, chunk_size=2, delay=0.05)
    cancel = threading.Event()
    events = []
    for ev in assistant.turn(conv.id, "tell me a long story", cancel=cancel):
        events.append(ev)
        if sum(e.kind == "delta" for e in events) == 3:
            cancel.set()
    assert events[-1].kind == "done"
    msg = events[-1].message
    partial = "".join(e.text for e in events if e.kind == "delta")
    assert msg.status == "cancelled" and msg.content == partial and 6 <= len(partial) < 300
    assert store.get_message(msg.id).status == "cancelled"


def test_broken_stream_is_an_error_with_partial_stored_as_failed(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="one two three four five six", chunk_size=4, break_after=3)
    events = list(assistant.turn(conv.id, "count"))
    err = events[-1]
    assert err.kind == "error" and err.error_type == "StreamBroken" and "broke off" in err.error
    assert err.message.status == "failed" and err.message.content == "one two thre"
    stored = store.get_message(err.message.id)
    assert stored.content == "one two thre" and stored.error == err.error
    with pytest.raises(AssistantError):
        fake_llm.script(reply="x" * 40, break_after=1)
        assistant.reply(conv.id, "again")


def test_context_window_exceeded_trims_harder_and_retries_once(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    for i in range(6):
        store.add_message(conv.id, "user", f"question {i} " + "word " * 600)
        store.add_message(conv.id, "assistant", f"answer {i} " + "word " * 600)
    fake_llm.script(error=400)  # context_length_exceeded
    fake_llm.script(reply="short answer")
    msg = assistant.reply(conv.id, "and now?")
    first, second = (r["body"]["messages"] for r in fake_llm.chat_requests()[-2:])
    assert len(second) < len(first) and second[-1]["content"] == "and now?"
    assert msg.content == "short answer" and msg.status == "complete"

    fake_llm.script(error=400)
    fake_llm.script(error=400)
    events = list(assistant.turn(conv.id, "and again?"))
    assert events[-1].kind == "error" and events[-1].error_type == "ContextWindowExceeded"


def test_api_keys_never_reach_the_stored_error(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(error=401, message=f"Incorrect API key provided: {KEY}.")
    events = list(assistant.turn(conv.id, "hi"))
    assert events[-1].error_type == "AuthenticationFailed"
    assert KEY not in events[-1].error
    for m in store.messages(conv.id):
        assert KEY not in (m.error or "") and KEY not in m.content
    row = store.db.query("SELECT * FROM messages WHERE conversation_id = ?", (conv.id,))
    assert KEY not in repr([dict(r) for r in row])


def test_reply_raises_the_mapped_error(assistant, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(error=503)
    with pytest.raises(AssistantError) as info:
        assistant.reply(conv.id, "hi")
    assert isinstance(info.value, ProviderUnavailable | ProviderError) and info.value.exit_code == 4


# --------------------------------------------------------------------------- regenerate / edit
def test_regenerate_replaces_the_last_reply(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="first try")
    first = assistant.reply(conv.id, "name a fruit")
    fake_llm.script(reply="second try")
    events = list(assistant.regenerate(conv.id))
    assert kinds(events)[0] == "user_stored" and events[-1].kind == "done"
    assert [(m.role, m.content) for m in store.messages(conv.id)] == [
        ("user", "name a fruit"),
        ("assistant", "second try"),
    ]
    assert events[-1].message.id != first.id
    sent = fake_llm.last_messages()
    assert [m["content"] for m in sent[1:]] == [
        "name a fruit"
    ]  # the old reply is gone from history too


def test_edit_last_replaces_the_question_and_answers_again(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="ok 1")
    assistant.reply(conv.id, "first question")
    fake_llm.script(reply="ok 2")
    assistant.reply(conv.id, "typo questoin")
    fake_llm.script(reply="fixed answer")
    events = list(assistant.edit_last(conv.id, "fixed question"))
    assert events[-1].message.content == "fixed answer"
    assert [m.content for m in store.messages(conv.id)] == [
        "first question",
        "ok 1",
        "fixed question",
        "fixed answer",
    ]
    assert [m["content"] for m in fake_llm.last_messages()[1:]] == [
        "first question",
        "ok 1",
        "fixed question",
    ]


def test_regenerate_without_user_message_is_refused(assistant):
    conv = assistant.start_conversation()
    with pytest.raises(ValueError, match="no user message"):
        list(assistant.regenerate(conv.id))


# --------------------------------------------------------------------------- titles and models
def test_title_from_the_llm_then_fallback(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="Sourdough needs a starter.")
    assistant.reply(conv.id, "how do I bake sourdough bread at home without yeast?")
    fake_llm.script(reply='Title: "Baking Sourdough at Home."\nextra line')
    assert assistant.make_title(conv.id) == "Baking Sourdough at Home"
    assert store.get_conversation(conv.id).title == "Baking Sourdough at Home"
    req = fake_llm.last_request()["body"]
    assert not req.get("stream") and "sourdough" in req["messages"][-1]["content"]

    fake_llm.script(error=500)
    assert assistant.make_title(conv.id) == "how do I bake sourdough bread…"
    assert store.get_conversation(conv.id).title == "how do I bake sourdough bread…"


def test_model_override_per_conversation_and_mid_conversation(assistant, store, fake_llm):
    a = assistant.start_conversation()
    b = assistant.start_conversation(model="other-model")
    fake_llm.script(reply="x", default=True)
    assistant.reply(a.id, "hi")
    assert fake_llm.last_request()["body"]["model"] == "fake-model"
    msg = assistant.reply(b.id, "hi")
    assert (
        fake_llm.last_request()["body"]["model"] == "other-model"
        and msg.model == "openai/other-model"
    )
    assistant.set_model(a.id, "switched-model")
    assert assistant.model_choice(a.id).model == "openai/switched-model"
    assistant.reply(a.id, "and now?")
    assert fake_llm.last_request()["body"]["model"] == "switched-model"
    assistant.reply(a.id, "just this turn", model="turn-model")
    assert fake_llm.last_request()["body"]["model"] == "turn-model"
    assert [m.model for m in store.messages(a.id) if m.role == "assistant"] == [
        "openai/fake-model",
        "openai/switched-model",
        "openai/turn-model",
    ]
    assistant.set_model(a.id, None)
    assert assistant.model_choice(a.id).model == "openai/fake-model"
    assert "openai/fake-model" in assistant.available_models()


def test_works_without_redis(fake_llm, tmp_path, monkeypatch):
    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "no-model"))
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.short.mode == "sqlite"
        a = Assistant(s)
        conv = a.start_conversation()
        fake_llm.script(reply="one")
        a.reply(conv.id, "first")
        fake_llm.script(reply="two")
        a.reply(conv.id, "second")
        assert [m["content"] for m in fake_llm.last_messages()[1:]] == ["first", "one", "second"]


def test_abandoned_stream_keeps_partial_as_cancelled(assistant, store, fake_llm):
    conv = assistant.start_conversation()
    fake_llm.script(reply="abcdefghij" * 10, chunk_size=2, delay=0.02)
    events = assistant.turn(conv.id, "go")
    got = []
    for ev in events:
        got.append(ev)
        if sum(e.kind == "delta" for e in got) == 2:
            break
    events.close()  # the UI went away mid-stream
    reply = [m for m in store.messages(conv.id) if m.role == "assistant"]
    assert len(reply) == 1 and reply[0].status == "cancelled" and reply[0].content == "abcd"


def test_waiting_event_while_the_model_library_loads(assistant, fake_llm, monkeypatch):
    import assistant.llm as llm_mod

    monkeypatch.setattr(llm_mod, "is_loaded", lambda: False)
    conv = assistant.start_conversation()
    fake_llm.script(reply="ok")
    events = list(assistant.turn(conv.id, "hi"))
    assert kinds(events)[:3] == ["user_stored", "waiting", "recalled"]
    assert "Loading" in events[1].text and events[-1].kind == "done"


def test_sigkill_mid_stream_keeps_the_user_message_and_the_partial_reply(fake_llm, redis_url, home):
    """The process answering dies mid-stream: on restart both turns are in SQLite."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time as _time

    from memory.config import load_settings
    from memory.store import MemoryStore

    fake_llm.script(reply="word " * 400, chunk_size=1, delay=0.01)
    code = textwrap.dedent(
        """
        from assistant.assistant import Assistant
        from memory.store import MemoryStore
        s = MemoryStore()
        a = Assistant(s)
        c = a.start_conversation("crash test")
        print(c.id, flush=True)
        for ev in a.turn(c.id, "please write a long answer"):
            if ev.kind == "delta":
                print("delta", flush=True)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    conv_id = p.stdout.readline().strip()
    for _ in range(60):  # let a second of text stream, then kill
        assert p.stdout.readline().strip() == "delta"
    _time.sleep(0.8)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with MemoryStore(load_settings()) as s:
        msgs = s.messages(conv_id)
        assert [m.role for m in msgs] == ["user", "assistant"]
        assert msgs[0].content == "please write a long answer"
        assert msgs[1].status == "partial" and msgs[1].content.startswith("word word")
