"""assistant.llm against a real (fake) OpenAI-compatible HTTP server: no mocks of litellm."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from assistant.errors import (
    AssistantError,
    AuthenticationFailed,
    ContextWindowExceeded,
    ModelNotFound,
    NoModelConfigured,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamBroken,
)
from assistant.llm import LLM, ModelChoice, detect_models, resolve_model

KEY = "sk-test-fake"
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


@pytest.fixture
def llm(fake_llm) -> LLM:
    return LLM(resolve_model(None, None, probe_ollama=False), timeout=5)


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def collect(events):
    deltas, usage = [], []
    for ev in events:
        (deltas if ev.kind == "delta" else usage).append(ev)
    return deltas, usage


# --------------------------------------------------------------------------- streaming
def test_stream_returns_text_in_deltas_and_usage(llm, fake_llm):
    fake_llm.script(reply="Hello there, general Kenobi!", chunk_size=5, usage=(12, 7))
    deltas, usage = collect(llm.stream(MSGS))
    assert "".join(d.text for d in deltas) == "Hello there, general Kenobi!"
    assert len(deltas) >= 5
    assert len(usage) == 1
    assert usage[0].prompt_tokens == 12 and usage[0].completion_tokens == 7
    assert usage[0].cost is None  # unknown model: no price


def test_request_carries_messages_model_and_key(llm, fake_llm):
    fake_llm.script(reply="ok")
    list(llm.stream(MSGS))
    req = fake_llm.last_request()
    assert req["path"] == "/v1/chat/completions"
    assert fake_llm.last_messages() == MSGS
    assert req["body"]["model"] == "fake-model"
    assert req["body"]["stream"] is True
    assert req["body"]["stream_options"] == {"include_usage": True}
    assert req["headers"]["authorization"] == f"Bearer {KEY}"


def test_cancel_mid_stream_stops_early_with_partial_text(llm, fake_llm):
    text = "abcdefghij" * 20
    fake_llm.script(reply=text, chunk_size=2, delay=0.05)
    cancel = threading.Event()
    got = []
    t0 = time.monotonic()
    for ev in llm.stream(MSGS, cancel=cancel):
        assert ev.kind == "delta"
        got.append(ev.text)
        if len(got) == 3:
            cancel.set()
    assert 3 <= len(got) <= 4
    assert "".join(got) == text[: len("".join(got))]
    assert time.monotonic() - t0 < 2  # the full reply would take ~5 s


def test_cancel_while_blocked_waiting_for_a_chunk(llm, fake_llm):
    fake_llm.script(reply="abcdefgh", chunk_size=2, delay=3)
    cancel = threading.Event()
    got = []
    t0 = time.monotonic()
    threading.Timer(0.3, cancel.set).start()
    for ev in llm.stream(MSGS, cancel=cancel):
        got.append(ev.text)
    assert got == ["ab"]
    assert time.monotonic() - t0 < 2


def test_complete_returns_text(llm, fake_llm):
    fake_llm.script(json={"facts": ["likes tea"]})
    out = llm.complete(MSGS, response_format={"type": "json_object"}, max_tokens=50)
    assert out == '{"facts": ["likes tea"]}'
    body = fake_llm.last_request()["body"]
    assert body["messages"] == MSGS
    assert not body.get("stream")


def test_complete_with_dynamic_reply(llm, fake_llm):
    fake_llm.script(reply_fn=lambda body: body["messages"][-1]["content"].upper())
    assert llm.complete([{"role": "user", "content": "shout"}]) == "SHOUT"


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("script", "err_type"),
    [
        ({"error": 401}, AuthenticationFailed),
        ({"error": 404}, ModelNotFound),
        ({"error": 400}, ContextWindowExceeded),
        ({"error": 400, "code": "invalid_value", "message": "temperature is bad"}, ProviderError),
        ({"error": 500}, ProviderError),
    ],
)
@pytest.mark.parametrize("streaming", [True, False])
def test_http_errors_map(llm, fake_llm, script, err_type, streaming):
    fake_llm.script(**script)
    with pytest.raises(err_type) as info:
        if streaming:
            list(llm.stream(MSGS))
        else:
            llm.complete(MSGS)
    msg = str(info.value)
    assert "\n" not in msg and msg
    assert KEY not in msg and "sk-test" not in msg
    assert len(fake_llm.chat_requests()) == 1  # no hidden retries


def test_auth_error_names_env_var(llm, fake_llm):
    fake_llm.script(error=401)
    with pytest.raises(AuthenticationFailed) as info:
        list(llm.stream(MSGS))
    assert "OPENAI_API_KEY" in str(info.value)
    assert info.value.exit_code == 3


def test_rate_limited_has_retry_after(llm, fake_llm):
    fake_llm.script(error=429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        list(llm.stream(MSGS))
    assert info.value.retry_after == pytest.approx(7)
    assert "7" in str(info.value)
    assert info.value.exit_code == 4
    assert len(fake_llm.chat_requests()) == 1


def test_connection_refused_is_provider_unavailable():
    base = f"http://127.0.0.1:{closed_port()}/v1"
    llm = LLM(ModelChoice("openai/fake-model", base, "test", api_key=KEY), timeout=2)
    t0 = time.monotonic()
    with pytest.raises(ProviderUnavailable) as info:
        list(llm.stream(MSGS))
    assert base in str(info.value)
    assert KEY not in str(info.value)
    assert time.monotonic() - t0 < 2
    with pytest.raises(ProviderUnavailable):
        llm.complete(MSGS)


def test_stall_with_short_timeout_is_provider_unavailable(fake_llm):
    fake_llm.script(stall=3)
    llm = LLM(resolve_model(None, None, probe_ollama=False), timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ProviderUnavailable) as info:
        list(llm.stream(MSGS))
    assert time.monotonic() - t0 < 2.5
    assert "timed out" in str(info.value)


def test_broken_stream_delivers_partial_text_then_raises(llm, fake_llm):
    fake_llm.script(reply="0123456789abcdef", chunk_size=2, break_after=3)
    got = []
    with pytest.raises(StreamBroken) as info:
        for ev in llm.stream(MSGS):
            got.append(ev.text)
    assert "".join(got) == "012345"
    assert info.value.partial == "012345"
    assert KEY not in str(info.value)


def test_error_messages_never_contain_the_key(llm, fake_llm):
    fake_llm.script(error=500, message=f"upstream said: bad key {KEY}123456 Bearer {KEY}xyz")
    with pytest.raises(AssistantError) as info:
        llm.complete(MSGS)
    assert "sk-" not in str(info.value)
    assert "upstream said" in str(info.value)


# --------------------------------------------------------------------------- metadata
def test_token_count_context_window_and_cost(llm):
    assert llm.count_tokens(MSGS) > 0
    assert llm.context_window() == 8192  # unknown model: fallback
    assert llm.cost(10, 10) is None
    known = LLM(ModelChoice("openai/gpt-4o-mini", None, "test"))
    assert known.context_window() > 100_000
    assert known.cost(1000, 1000) > 0


# --------------------------------------------------------------------------- resolve_model
def test_resolve_explicit_model():
    c = resolve_model("anthropic/claude-haiku-4-5", None, probe_ollama=False)
    assert (c.model, c.api_base, c.source) == ("anthropic/claude-haiku-4-5", None, "config")


def test_resolve_explicit_with_api_base_prefixes_openai():
    c = resolve_model("qwen2.5-7b", "http://127.0.0.1:8080/v1", probe_ollama=False)
    assert c.model == "openai/qwen2.5-7b"
    assert c.api_base == "http://127.0.0.1:8080/v1"
    c = resolve_model("meta-llama/Llama-3-8B", "http://127.0.0.1:8080/v1", probe_ollama=False)
    assert c.model == "openai/meta-llama/Llama-3-8B"


def test_resolve_from_memchat_env(fake_llm):
    c = resolve_model(None, None, probe_ollama=False)
    assert c.model == "openai/fake-model"
    assert c.api_base == fake_llm.url
    assert c.source == "env:MEMCHAT_MODEL"


@pytest.mark.parametrize(
    ("var", "prefix"),
    [
        ("OPENAI_API_KEY", "openai/"),
        ("ANTHROPIC_API_KEY", "anthropic/"),
        ("GEMINI_API_KEY", "gemini/"),
        ("GOOGLE_API_KEY", "gemini/"),
        ("GROQ_API_KEY", "groq/"),
        ("MISTRAL_API_KEY", "mistral/"),
        ("OPENROUTER_API_KEY", "openrouter/"),
        ("DEEPSEEK_API_KEY", "deepseek/"),
    ],
)
def test_resolve_detects_env_keys(monkeypatch, var, prefix):
    monkeypatch.setenv(var, "k-123")
    c = resolve_model(None, None, probe_ollama=False)
    assert c.model.startswith(prefix)
    assert c.source == f"env:{var}"
    assert c.model in detect_models(probe_ollama=False)


def test_resolve_nothing_raises_actionable_error(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    with pytest.raises(NoModelConfigured) as info:
        resolve_model(None, None)
    msg = str(info.value)
    assert "MEMCHAT_MODEL=openai/gpt-4o-mini" in msg and "OPENAI_API_KEY" in msg
    assert "ollama pull llama3.2" in msg and "config.toml" in msg and "MEMCHAT_API_BASE" in msg
    assert info.value.exit_code == 3
    assert detect_models() == []


def test_resolve_finds_ollama(monkeypatch):
    """A stub Ollama answering /api/tags on loopback."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Tags(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = json.dumps({"models": [{"name": "llama3.2:latest"}, {"name": "qwen"}]}).encode()
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Tags)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{srv.server_address[1]}")
        c = resolve_model(None, None)
        assert c.model == "ollama_chat/llama3.2:latest"
        assert c.api_base == f"http://127.0.0.1:{srv.server_address[1]}"
        assert c.source == "ollama"
        assert detect_models() == ["ollama_chat/llama3.2:latest", "ollama_chat/qwen"]
    finally:
        srv.shutdown()
        srv.server_close()
