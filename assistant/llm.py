"""The LLM client: model resolution, streaming/non-streaming calls via litellm, error mapping.

litellm is imported lazily (it takes seconds and, unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is
set first, fetches a price list from the network): always through :func:`_litellm`.
Call :func:`warm_up` from a background thread at start-up to pay the import early.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

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
    scrub,
)

log = logging.getLogger(__name__)

DEFAULT_OLLAMA = "http://127.0.0.1:11434"
FALLBACK_CONTEXT_WINDOW = 8192

# env var -> default model, in detection order.
ENV_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("OPENAI_API_KEY", "openai/gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic/claude-haiku-4-5"),
    ("GEMINI_API_KEY", "gemini/gemini-2.5-flash"),
    ("GOOGLE_API_KEY", "gemini/gemini-2.5-flash"),
    ("GROQ_API_KEY", "groq/llama-3.1-8b-instant"),
    ("MISTRAL_API_KEY", "mistral/mistral-small-latest"),
    ("OPENROUTER_API_KEY", "openrouter/openai/gpt-4o-mini"),
    ("DEEPSEEK_API_KEY", "deepseek/deepseek-chat"),
)

# provider prefix -> env var holding its key (for error messages).
PROVIDER_KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
    "xai": "XAI_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
}
KNOWN_PROVIDERS = set(PROVIDER_KEY_VARS) | {
    "ollama", "ollama_chat", "azure", "azure_ai", "bedrock", "vertex_ai", "huggingface",
    "hosted_vllm", "vllm", "lm_studio", "llamafile", "openai_like", "text-completion-openai",
    "custom_openai", "litellm_proxy", "nvidia_nim", "cerebras", "sambanova", "github",
    "watsonx", "replicate", "anyscale", "deepinfra", "ai21", "nlp_cloud", "cloudflare",
}


# --------------------------------------------------------------------------- litellm import
_import_lock = threading.Lock()
_litellm_mod: Any = None


def _litellm() -> Any:
    """Import and configure litellm once (env var first, quiet, no HF downloads)."""
    global _litellm_mod
    if _litellm_mod is not None:
        return _litellm_mod
    with _import_lock:
        if _litellm_mod is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            litellm.set_verbose = False
            litellm.telemetry = False
            # token_counter would otherwise fetch llama/command-r tokenizers from the HF hub.
            litellm.disable_hf_tokenizer_download = True
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
                logging.getLogger(name).setLevel(logging.WARNING)
            _litellm_mod = litellm
    return _litellm_mod


def warm_up() -> None:
    """Import litellm now (run in a background thread so the first message isn't slow)."""
    _litellm()


def is_loaded() -> bool:
    """True once litellm has been imported (calls no longer block on the import)."""
    return _litellm_mod is not None


# --------------------------------------------------------------------------- model choice
@dataclass
class ModelChoice:
    model: str
    api_base: str | None = None
    source: str = "config"
    api_key: str | None = field(default=None, repr=False)

    @property
    def provider(self) -> str:
        return provider_of(self.model) or "openai"


def provider_of(model: str) -> str | None:
    head, sep, _ = model.partition("/")
    return head if sep and head in KNOWN_PROVIDERS else None


def ollama_base() -> str:
    """Ollama's URL from ``OLLAMA_HOST`` (``host``, ``host:port`` or a URL), else the default."""
    raw = (os.environ.get("OLLAMA_HOST") or "").strip()
    if not raw:
        return DEFAULT_OLLAMA
    if "://" not in raw:
        raw = "http://" + raw
    scheme, _, rest = raw.partition("://")
    hostport = rest.split("/", 1)[0]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        host, port = hostport, "11434"
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    return f"{scheme}://{host}:{port}"


def ollama_models(base: str | None = None, *, timeout: float = 0.3) -> list[str]:
    """Names of the models a local Ollama serves ([] when it isn't answering)."""
    url = (base or ollama_base()).rstrip("/") + "/api/tags"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL
            data = json.loads(resp.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError):
        return []
    return [m["name"] for m in data.get("models") or [] if isinstance(m, dict) and m.get("name")]


def _env_choice() -> ModelChoice | None:
    for var, default in ENV_DEFAULTS:
        if os.environ.get(var, "").strip():
            return ModelChoice(default, None, f"env:{var}")
    return None


def resolve_model(
    model: str | None, api_base: str | None, *, probe_ollama: bool = True,
    source: str = "config",
) -> ModelChoice:
    """Pick the model to use: explicit (or ``MEMCHAT_MODEL``) > env API key > local Ollama.

    Raises :class:`NoModelConfigured` when nothing is found. Never imports litellm.
    """
    api_base = (api_base or os.environ.get("MEMCHAT_API_BASE") or "").strip() or None
    if not model and os.environ.get("MEMCHAT_MODEL", "").strip():
        model, source = os.environ["MEMCHAT_MODEL"].strip(), "env:MEMCHAT_MODEL"
    if model:
        model = model.strip()
        if api_base and provider_of(model) is None:
            model = f"openai/{model}"
        if provider_of(model) in ("ollama", "ollama_chat") and not api_base:
            api_base = ollama_base()
        return ModelChoice(model, api_base, source)
    if api_base:
        raise NoModelConfigured(
            f"MEMCHAT_API_BASE is {api_base} but no model is named: set MEMCHAT_MODEL "
            "(e.g. `export MEMCHAT_MODEL=openai/<model-name>`) or `model = \"…\"` in config.toml."
        )
    choice = _env_choice()
    if choice is not None:
        return choice
    if probe_ollama:
        base = ollama_base()
        names = ollama_models(base)
        if names:
            return ModelChoice(f"ollama_chat/{names[0]}", base, "ollama")
    raise NoModelConfigured()


def detect_models(
    model: str | None = None, api_base: str | None = None, *, probe_ollama: bool = True,
) -> list[str]:
    """Candidate models for a picker: configured, then one per env key, then Ollama's."""
    out: list[str] = []
    try:
        out.append(resolve_model(model, api_base, probe_ollama=False).model)
    except NoModelConfigured:
        pass
    for var, default in ENV_DEFAULTS:
        if os.environ.get(var, "").strip():
            out.append(default)
    if probe_ollama:
        out.extend(f"ollama_chat/{n}" for n in ollama_models())
    return list(dict.fromkeys(out))


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
        if isinstance(e, openai.APIConnectionError | httpx.ConnectError | httpx.TimeoutException
                      | ConnectionRefusedError | TimeoutError):
            # RemoteProtocolError mid-body is a broken stream, not an unreachable server.
            if isinstance(e, httpx.RemoteProtocolError):
                continue
            return True
    return False


def _retry_after(exc: BaseException) -> float | None:
    for e in _chain(exc):
        for headers in (getattr(e, "litellm_response_headers", None),
                        getattr(getattr(e, "response", None), "headers", None),
                        getattr(e, "headers", None)):
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
    _litellm()
    from litellm import exceptions as lx

    model = choice.model
    where = choice.api_base or f"the {choice.provider} API"
    detail = _provider_message(exc)

    if isinstance(exc, lx.MidStreamFallbackError):
        inner = exc.original_exception
        if not partial and not getattr(exc, "generated_content", "") and inner is not None:
            return map_error(inner, choice)
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
            env_var=var, model=model,
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
    return ProviderError(f"{model}: {detail}", status_code=status if isinstance(status, int) else None)


# --------------------------------------------------------------------------- client
@dataclass
class StreamEvent:
    kind: Literal["delta", "usage"]
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None


def _close_stream(resp: Any, *, abort: bool = False) -> None:
    """Close a litellm stream. ``abort``: also shut the socket down, which is what wakes a
    read blocked in another thread (closing alone doesn't)."""
    inner = getattr(resp, "completion_stream", None)
    if abort:
        http = getattr(inner, "response", None)  # openai.Stream -> httpx.Response
        try:
            net = http.extensions.get("network_stream") if http is not None else None
            sock = net.get_extra_info("socket") if net is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
    for obj in (inner, resp):
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass
            return


class LLM:
    """A thin synchronous client over ``litellm.completion`` for one :class:`ModelChoice`."""

    def __init__(self, choice: ModelChoice, *, timeout: float = 60) -> None:
        self.choice = choice
        self.timeout = timeout

    @property
    def model(self) -> str:
        return self.choice.model

    def _kwargs(self, messages: list[dict], max_tokens: int | None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": self.choice.model,
            "messages": messages,
            "timeout": self.timeout,
            "num_retries": 0,   # retries are ours (tasks layer)
            "max_retries": 0,   # ... and not the openai SDK's either
            "drop_params": True,
        }
        if self.choice.api_base:
            kw["api_base"] = self.choice.api_base
        if self.choice.api_key:
            kw["api_key"] = self.choice.api_key
        elif (self.choice.api_base and self.choice.provider == "openai"
              and not os.environ.get("OPENAI_API_KEY")):
            kw["api_key"] = "sk-no-key-required"  # local OpenAI-compatible servers
        if max_tokens is not None:
            kw["max_tokens"] = max_tokens
        return kw

    def stream(
        self, messages: list[dict], *, cancel: threading.Event | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[StreamEvent]:
        """Yield ``delta`` events as text arrives, then one ``usage`` event.

        Setting ``cancel`` stops early (closing the connection, even while blocked waiting
        for the next chunk); the text already yielded stands and no usage event follows.
        """
        litellm = _litellm()
        if cancel is not None and cancel.is_set():
            return
        try:
            resp = litellm.completion(
                **self._kwargs(messages, max_tokens), stream=True,
                stream_options={"include_usage": True},
            )
        except Exception as exc:
            raise map_error(exc, self.choice) from exc

        done = threading.Event()
        if cancel is not None:
            def watch() -> None:
                while not done.is_set():
                    if cancel.wait(0.05):
                        _close_stream(resp, abort=True)
                        return
            threading.Thread(target=watch, daemon=True, name="llm-cancel").start()

        parts: list[str] = []
        usage: Any = None
        try:
            for chunk in resp:
                if cancel is not None and cancel.is_set():
                    return
                choices = getattr(chunk, "choices", None) or []
                text = getattr(getattr(choices[0], "delta", None), "content", None) if choices else None
                if text:
                    parts.append(text)
                    yield StreamEvent("delta", text)
                u = getattr(chunk, "usage", None)
                if u and getattr(u, "prompt_tokens", None) is not None:
                    usage = u
        except Exception as exc:
            if cancel is not None and cancel.is_set():
                return
            raise map_error(exc, self.choice, partial="".join(parts)) from exc
        finally:
            done.set()
            _close_stream(resp)
        if cancel is not None and cancel.is_set():
            return
        p = getattr(usage, "prompt_tokens", None) if usage else None
        c = getattr(usage, "completion_tokens", None) if usage else None
        if p is None:
            p = self.count_tokens(messages)
        if c is None:
            c = self._count_text("".join(parts))
        yield StreamEvent("usage", prompt_tokens=p, completion_tokens=c, cost=self.cost(p, c))

    def _response_format_supported(self, response_format: Any) -> bool:
        litellm = _litellm()
        wants_schema = isinstance(response_format, dict) and response_format.get("type") == "json_schema"
        wants_schema = wants_schema or isinstance(response_format, type)
        try:
            if wants_schema:
                return bool(litellm.supports_response_schema(model=self.choice.model))
            params = litellm.get_supported_openai_params(model=self.choice.model) or []
            return "response_format" in params
        except Exception:
            return False

    def complete(
        self, messages: list[dict], *, response_format: Any = None, max_tokens: int | None = None,
    ) -> str:
        """A non-streaming completion; returns the text. ``response_format`` is passed only
        when the model supports it (and dropped on a 400 that isn't a context overflow)."""
        litellm = _litellm()
        from litellm import exceptions as lx

        kw = self._kwargs(messages, max_tokens)
        if response_format is not None and self._response_format_supported(response_format):
            kw["response_format"] = response_format
        try:
            try:
                resp = litellm.completion(**kw)
            except lx.BadRequestError as exc:
                if "response_format" not in kw or isinstance(exc, lx.ContextWindowExceededError):
                    raise
                kw.pop("response_format")
                resp = litellm.completion(**kw)
        except Exception as exc:
            raise map_error(exc, self.choice) from exc
        try:
            return resp.choices[0].message.content or ""
        except (AttributeError, IndexError):
            return ""

    # ------------------------------------------------------------------ metadata
    def _count_text(self, text: str) -> int:
        try:
            return int(_litellm().token_counter(model=self.choice.model, text=text))
        except Exception:
            return max(1, len(text) // 4) if text else 0

    def count_tokens(self, messages: list[dict]) -> int:
        """Prompt tokens for ``messages`` (litellm's tokenizer; len/4 estimate on failure)."""
        try:
            return int(_litellm().token_counter(model=self.choice.model, messages=messages))
        except Exception:
            chars = sum(len(str(m.get("content") or "")) + 16 for m in messages)
            return max(1, chars // 4)

    def context_window(self) -> int:
        """The model's input token limit; 8192 when litellm doesn't know the model."""
        litellm = _litellm()
        try:
            info = litellm.get_model_info(self.choice.model)
            n = info.get("max_input_tokens") or info.get("max_tokens")
            if n:
                return int(n)
        except Exception:
            pass
        try:
            n = litellm.get_max_tokens(self.choice.model)
            if n:
                return int(n)
        except Exception:
            pass
        return FALLBACK_CONTEXT_WINDOW

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """USD for the tokens, or None when the price is unknown (local/unknown models)."""
        if prompt_tokens is None and completion_tokens is None:
            return None
        try:
            p, c = _litellm().cost_per_token(
                model=self.choice.model, prompt_tokens=prompt_tokens or 0,
                completion_tokens=completion_tokens or 0,
            )
            return float(p) + float(c)
        except Exception:
            return None


__all__ = [
    "LLM",
    "ModelChoice",
    "StreamEvent",
    "detect_models",
    "is_loaded",
    "map_error",
    "ollama_base",
    "ollama_models",
    "resolve_model",
    "warm_up",
]
