"""Fixtures for the pipeline tests: fast retries, a store on the test Redis, the fake LLM
scripted to answer like an extraction model, and a real huey consumer in threads."""

from __future__ import annotations

import pytest
from pipeline_fakes import extraction_reply


@pytest.fixture(autouse=True)
def fast_pipeline(monkeypatch):
    monkeypatch.setenv("MEMCHAT_TASKS_RETRY_DELAY", "0.1")
    monkeypatch.setenv("MEMCHAT_TASKS_RETRIES", "2")
    monkeypatch.setenv("MEMCHAT_TASKS_DEBOUNCE", "0")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    yield
    from tasks import queue

    queue.unbind()


@pytest.fixture
def llm(fake_llm):
    fake_llm.script(reply_fn=extraction_reply, default=True)
    return fake_llm


@pytest.fixture
def store(redis_url):
    from memory.config import load_settings
    from memory.store import MemoryStore

    s = MemoryStore(load_settings())
    yield s
    s.close()


@pytest.fixture
def consumer(store):
    from tasks.consumer import EmbeddedConsumer

    c = EmbeddedConsumer(store, workers=2).start()
    yield c
    c.stop(timeout=5)
