"""Errors the assistant layer raises: each str() is one actionable line, never an API key.

``exit_code``: 3 for configuration problems, 4 for provider problems.
"""

from __future__ import annotations

import re

CONFIG_EXIT = 3
PROVIDER_EXIT = 4

# Things that look like secrets: OpenAI/Anthropic/OpenRouter style keys, Google keys, bearer tokens.
_SECRET_RES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-*.]{3,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"),
    re.compile(r"\bgsk_[A-Za-z0-9]{10,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.=]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?key|x-api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"
    ),
)


def scrub(text: str) -> str:
    """Remove anything that looks like an API key from ``text``; collapse to one line."""
    text = str(text)
    for rx in _SECRET_RES:
        text = rx.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return " ".join(text.split())


class AssistantError(Exception):
    """Base class: ``str(err)`` is a one-line message telling the user what to do."""

    exit_code: int = PROVIDER_EXIT

    def __init__(self, message: str = "") -> None:
        self.message = scrub(message) if message else self.default_message()
        super().__init__(self.message)

    def default_message(self) -> str:
        return "the assistant failed"

    def __str__(self) -> str:
        return self.message


class NoModelConfigured(AssistantError):
    exit_code = CONFIG_EXIT

    def default_message(self) -> str:
        return (
            "No LLM configured. Either `export MEMCHAT_MODEL=openai/gpt-4o-mini` and "
            "`export OPENAI_API_KEY=...`; or run `ollama pull llama3.2` and "
            '`export MEMCHAT_MODEL=ollama_chat/llama3.2`; or put `model = "openai/gpt-4o-mini"` in '
            "config.toml; or for an OpenAI-compatible server set MEMCHAT_API_BASE=http://host:port/v1 "
            "(and MEMCHAT_MODEL)."
        )


class AuthenticationFailed(AssistantError):
    exit_code = CONFIG_EXIT

    def __init__(self, message: str = "", *, env_var: str | None = None, model: str = "") -> None:
        self.env_var = env_var
        self.model = model
        if not message:
            who = f" for {model}" if model else ""
            fix = f"set a valid key with `export {env_var}=...`" if env_var else "check the API key"
            message = f"The provider rejected the API key{who}: {fix}."
        super().__init__(message)


class ModelNotFound(AssistantError):
    exit_code = CONFIG_EXIT

    def __init__(self, message: str = "", *, model: str = "") -> None:
        self.model = model
        if not message:
            message = (
                f"Model {model!r} was not found by the provider: check MEMCHAT_MODEL / `model` in "
                "config.toml (for Ollama, `ollama pull <name>` first)."
            )
        super().__init__(message)


class RateLimited(AssistantError):
    exit_code = PROVIDER_EXIT

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        if not message:
            message = "The provider is rate limiting requests"
        when = f"retry after {retry_after:g}s" if retry_after is not None else "wait and retry"
        super().__init__(f"{message.rstrip('.')}: {when}.")


class ContextWindowExceeded(AssistantError):
    exit_code = PROVIDER_EXIT

    def default_message(self) -> str:
        return (
            "The conversation is longer than the model's context window: start a new chat or "
            "lower the history/memory budget."
        )


class ProviderUnavailable(AssistantError):
    exit_code = PROVIDER_EXIT

    def __init__(self, message: str = "", *, api_base: str | None = None) -> None:
        self.api_base = api_base
        if not message:
            where = api_base or "the provider"
            message = f"Could not reach {where} (connection refused or timed out): is it running?"
        super().__init__(message)


class StreamBroken(AssistantError):
    exit_code = PROVIDER_EXIT

    def __init__(self, message: str = "", *, partial: str = "") -> None:
        self.partial = partial
        super().__init__(message or "The reply stream broke midway: retry the message.")


class ReplyTimedOut(StreamBroken):
    """A streamed reply went on longer than ``reply_timeout_seconds`` and was cut off."""

    def __init__(self, *, model: str, limit: float, partial: str = "") -> None:
        self.limit = limit
        got = "the partial reply is kept" if partial else "nothing had arrived"
        super().__init__(
            f"The reply from {model} took longer than {limit:g}s in total and was cut off "
            f"({got}): retry, or raise reply_timeout_seconds in config.toml.",
            partial=partial,
        )


class ProviderError(AssistantError):
    exit_code = PROVIDER_EXIT

    def __init__(self, message: str = "", *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message or "The LLM provider returned an error.")


class InvalidReply(ProviderError):
    """The server answered with something that is not the OpenAI API (a stream event that is
    not JSON, say): reachable, but not speaking the expected protocol."""


__all__ = [
    "AssistantError",
    "AuthenticationFailed",
    "ContextWindowExceeded",
    "InvalidReply",
    "ModelNotFound",
    "NoModelConfigured",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "ReplyTimedOut",
    "StreamBroken",
    "scrub",
]
