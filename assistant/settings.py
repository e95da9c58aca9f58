"""The assistant's settings: which model answers and how it is asked.

They extend memory's settings (``memory.config``: the one loader, the config file and the
``MEMCHAT_*`` environment) with the model options; ``tasks.settings`` and ``tui.settings``
build on these in turn.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from memory import config

DEFAULT_SYSTEM_PROMPT = (
    "You are memchat, a helpful assistant with long-term memory. Use the remembered "
    "context when it is relevant, say so when you rely on it, and never invent memories."
)


class AssistantSettings(config.Settings):
    """memory's settings plus the model options."""

    model: str | None = Field(
        None, description="Any litellm model string, e.g. openai/gpt-4o-mini."
    )
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    reply_timeout_seconds: float = Field(
        300,
        gt=0,
        le=86_400,
        allow_inf_nan=False,
        description="Longest one reply may take in total (a chat reply, and the worker's "
        "extraction, summary and title calls); a slower chat reply is cut off with its partial "
        "text kept (the network timeout is per read, so a provider trickling a chunk every "
        "25 s would otherwise never end). Env: MEMCHAT_REPLY_TIMEOUT_SECONDS.",
    )
    system_prompt: str = Field(
        DEFAULT_SYSTEM_PROMPT, description="Default system prompt / persona."
    )


def load_settings(**overrides: Any) -> AssistantSettings:
    """The assistant's settings from the config file and environment."""
    return config.load(AssistantSettings, **overrides)


def settings_for(store: Any) -> AssistantSettings:
    """The store's settings as AssistantSettings (see memory.config.settings_of)."""
    return config.settings_of(store, AssistantSettings)
