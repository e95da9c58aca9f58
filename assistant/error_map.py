"""Turn litellm and HTTP failures into one actionable AssistantError each (keys scrubbed)."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterator

from assistant.errors import (
    AssistantError,
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidReply,
    ModelNotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    StreamBroken,
    scrub,
)
from assistant.model_choice import PROVIDER_KEY_VARS, ModelChoice

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- error mapping
def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "original_exception", None)]


def _is_connection_problem(exc: BaseException) -> bool:
    import httpx
    import openai

    for e in _chain(exc):
        if isinstance(
            e,
            openai.APIConnectionError
            | httpx.ConnectError
            | httpx.TimeoutException
            | ConnectionRefusedError
            | TimeoutError,
        ):
            # RemoteProtocolError mid-body is a broken stream, not an unreachable server.
            if isinstance(e, httpx.RemoteProtocolError):
                continue
            return True
    return False


def _invalid_reply(exc: BaseException) -> BaseException | None:
    """The JSON error behind a failure, when the server sent something that is not JSON (a
    malformed SSE event): it reached the server, so this is not a connection problem."""
    import json

    for e in _chain(exc):
        if isinstance(e, json.JSONDecodeError):
            return e
    return None


def _retry_after(exc: BaseException) -> float | None:
    for e in _chain(exc):
        for headers in (
            getattr(e, "litellm_response_headers", None),
            getattr(getattr(e, "response", None), "headers", None),
            getattr(e, "headers", None),
        ):
            if not headers:
                continue
            try:
                ms = headers.get("retry-after-ms")
                if ms is not None:
                    return float(ms) / 1000
                ra = headers.get("retry-after")
                if ra is None:
                    continue
                try:
                    return max(0.0, float(ra))
                except ValueError:
                    when = email.utils.parsedate_to_datetime(ra)
                    return max(0.0, when.timestamp() - time.time())
            except Exception:
                continue
    return None


def _provider_message(exc: BaseException) -> str:
    """The provider's own words, without litellm's prefixes or any key."""
    import re

    msg = str(getattr(exc, "message", None) or exc)
    msg = msg.split(" LiteLLM Retried:")[0].split(" Original exception:")[0]
    prev = None
    while prev != msg:
        prev = msg
        msg = re.sub(r"^\s*(litellm\.)?[A-Za-z_]*(Error|Exception|Timeout)\s*[:\-]\s*", "", msg)
    return scrub(msg)[:500] or type(exc).__name__


def map_error(exc: BaseException, choice: ModelChoice, *, partial: str = "") -> AssistantError:
    """Turn a litellm/openai/httpx exception into one of ours. ``partial``: text already
    streamed (non-empty → :class:`StreamBroken`)."""
    if isinstance(exc, AssistantError):
        return exc
    from assistant.llm import _litellm

    _litellm()  # configured once (quiet, no downloads) before its exception classes are used
    from litellm import exceptions as lx

    model = choice.model
    where = choice.api_base or f"the {choice.provider} API"
    detail = _provider_message(exc)

    if isinstance(exc, lx.MidStreamFallbackError):
        inner = exc.original_exception
        if not partial and not getattr(exc, "generated_content", "") and inner is not None:
            return map_error(inner, choice)
    invalid = _invalid_reply(exc)
    if invalid is not None:
        url = choice.api_base or f"the {choice.provider} API"
        what = f"{type(invalid).__name__}: {_provider_message(invalid)}"
        if partial:
            return StreamBroken(
                f"{url} sent an invalid reply for {model} midway ({what}): retry the message.",
                partial=partial,
            )
        return InvalidReply(
            f"{url} sent an invalid reply for {model} (not the OpenAI streaming format: {what}); "
            "check that api_base points at an OpenAI-compatible server."
        )
    if partial:
        return StreamBroken(
            f"The reply from {model} broke off midway ({detail}): retry the message.",
            partial=partial,
        )
    if isinstance(exc, lx.AuthenticationError):
        var = PROVIDER_KEY_VARS.get(choice.provider)
        if choice.api_base and choice.provider == "openai":
            fix = f"set the key your server at {choice.api_base} expects in OPENAI_API_KEY"
        elif var:
            fix = f"set a valid key with `export {var}=...`"
        else:
            fix = "check the provider's API key environment variable"
        return AuthenticationFailed(
            f"{model}: the provider rejected the API key ({detail}): {fix}.",
            env_var=var,
            model=model,
        )
    if isinstance(exc, lx.NotFoundError):
        return ModelNotFound(
            f"Model {model!r} was not found at {where} ({detail}): check MEMCHAT_MODEL / "
            "`model` in config.toml (for Ollama, `ollama pull <name>` first).",
            model=model,
        )
    if isinstance(exc, lx.RateLimitError):
        return RateLimited(f"{model} is rate limited ({detail})", retry_after=_retry_after(exc))
    if isinstance(exc, lx.ContextWindowExceededError):
        return ContextWindowExceeded(
            f"The conversation exceeds {model}'s context window ({detail}): start a new chat "
            "or lower the history/memory budget."
        )
    timeout_types = (lx.Timeout,)
    if isinstance(exc, timeout_types) or _is_connection_problem(exc):
        kind = "timed out" if isinstance(exc, timeout_types) else "connection failed"
        hint = " Is `ollama serve` running?" if choice.provider.startswith("ollama") else ""
        return ProviderUnavailable(
            f"Could not reach {where} for {model} ({kind}: {detail}).{hint}",
            api_base=choice.api_base,
        )
    if isinstance(exc, lx.ServiceUnavailableError | lx.APIConnectionError):
        return ProviderUnavailable(
            f"{where} is unavailable for {model} ({detail}): try again shortly.",
            api_base=choice.api_base,
        )
    status = getattr(exc, "status_code", None)
    return ProviderError(
        f"{model}: {detail}", status_code=status if isinstance(status, int) else None
    )
