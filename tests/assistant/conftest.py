"""Fixtures for the assistant tests: a started fake OpenAI-compatible server."""

from __future__ import annotations

import pytest
from fakellm import FakeLLM  # tests/ is on sys.path via tests/conftest.py (rootdir conftest)


@pytest.fixture
def fake_llm(monkeypatch):
    """A started :class:`FakeLLM`, with MEMCHAT_MODEL / MEMCHAT_API_BASE / OPENAI_API_KEY
    pointing at it; stopped afterwards."""
    with FakeLLM() as server:
        monkeypatch.setenv("MEMCHAT_MODEL", "openai/fake-model")
        monkeypatch.setenv("MEMCHAT_API_BASE", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake")
        yield server
