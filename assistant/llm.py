"""The LLM client: streaming and non-streaming calls through litellm.

litellm is imported lazily (it takes seconds and, unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is
set first, fetches a price list from the network): always through :func:`_litellm`.
Call :func:`warm_up` from a background thread at start-up to pay the import early.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from assistant.error_map import map_error  # noqa: F401 - re-exported
from assistant.errors import ReplyTimedOut
from assistant.model_choice import (  # noqa: F401 - re-exported for callers of assistant.llm
    DEFAULT_OLLAMA,
    ENV_DEFAULTS,
    KNOWN_PROVIDERS,
    PROVIDER_KEY_VARS,
    ModelChoice,
    choice_for,
    detect_models,
    ollama_base,
    ollama_models,
    provider_of,
    resolve_model,
)

log = logging.getLogger(__name__)

FALLBACK_CONTEXT_WINDOW = 8192

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

    def __init__(
        self, choice: ModelChoice, *, timeout: float = 60, reply_timeout: float | None = None
    ) -> None:
        """``timeout``: per network read; ``reply_timeout``: the whole of one streamed reply
        (None: no limit), cut off with the text so far kept (:class:`ReplyTimedOut`)."""
        self.choice = choice
        self.timeout = timeout
        self.reply_timeout = reply_timeout

    @property
    def model(self) -> str:
        return self.choice.model

    def _kwargs(self, messages: list[dict], max_tokens: int | None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": self.choice.model,
            "messages": messages,
            "timeout": self.timeout,
            "num_retries": 0,  # retries are ours (tasks layer)
            "max_retries": 0,  # ... and not the openai SDK's either
            "drop_params": True,
        }
        if self.choice.api_base:
            kw["api_base"] = self.choice.api_base
        if self.choice.api_key:
            kw["api_key"] = self.choice.api_key
        elif (
            self.choice.api_base
            and self.choice.provider == "openai"
            and not os.environ.get("OPENAI_API_KEY")
        ):
            kw["api_key"] = "sk-no-key-required"  # local OpenAI-compatible servers
        if max_tokens is not None:
            kw["max_tokens"] = max_tokens
        return kw

    def stream(
        self,
        messages: list[dict],
        *,
        cancel: threading.Event | None = None,
        max_tokens: int | None = None,
    ) -> Iterator[StreamEvent]:
        """Yield ``delta`` events as text arrives, then one ``usage`` event.

        Setting ``cancel`` stops early (closing the connection, even while blocked waiting
        for the next chunk); the text already yielded stands and no usage event follows.
        A reply still streaming after ``reply_timeout`` seconds is cut off the same way and
        raises :class:`ReplyTimedOut` carrying the text so far.
        """
        litellm = _litellm()
        if cancel is not None and cancel.is_set():
            return
        started = time.monotonic()
        limit = self.reply_timeout
        timed_out = threading.Event()
        try:
            resp = litellm.completion(
                **self._kwargs(messages, max_tokens),
                stream=True,
                stream_options={"include_usage": True},
            )
        except Exception as exc:
            raise map_error(exc, self.choice) from exc

        done = threading.Event()
        if cancel is not None or limit is not None:

            def watch() -> None:
                while not done.is_set():
                    if cancel is not None and cancel.is_set():
                        _close_stream(resp, abort=True)
                        return
                    if limit is not None and time.monotonic() - started > limit:
                        timed_out.set()
                        _close_stream(resp, abort=True)
                        return
                    done.wait(0.05)

            threading.Thread(target=watch, daemon=True, name="llm-cancel").start()

        parts: list[str] = []
        usage: Any = None

        def too_slow() -> ReplyTimedOut:
            return ReplyTimedOut(model=self.model, limit=limit or 0, partial="".join(parts))

        try:
            for chunk in resp:
                if cancel is not None and cancel.is_set():
                    return
                if timed_out.is_set():
                    raise too_slow()
                choices = getattr(chunk, "choices", None) or []
                text = (
                    getattr(getattr(choices[0], "delta", None), "content", None)
                    if choices
                    else None
                )
                if text:
                    parts.append(text)
                    yield StreamEvent("delta", text)
                u = getattr(chunk, "usage", None)
                if u and getattr(u, "prompt_tokens", None) is not None:
                    usage = u
        except ReplyTimedOut:
            raise
        except Exception as exc:
            if cancel is not None and cancel.is_set():
                return
            if timed_out.is_set():
                raise too_slow() from exc
            raise map_error(exc, self.choice, partial="".join(parts)) from exc
        finally:
            done.set()
            _close_stream(resp)
        if cancel is not None and cancel.is_set():
            return
        if timed_out.is_set() and usage is None:  # (a whole reply carries its usage)
            raise too_slow()
        p = getattr(usage, "prompt_tokens", None) if usage else None
        c = getattr(usage, "completion_tokens", None) if usage else None
        if p is None:
            p = self.count_tokens(messages)
        if c is None:
            c = self._count_text("".join(parts))
        yield StreamEvent("usage", prompt_tokens=p, completion_tokens=c, cost=self.cost(p, c))

    def _response_format_supported(self, response_format: Any) -> bool:
        litellm = _litellm()
        wants_schema = (
            isinstance(response_format, dict) and response_format.get("type") == "json_schema"
        )
        wants_schema = wants_schema or isinstance(response_format, type)
        try:
            if wants_schema:
                return bool(litellm.supports_response_schema(model=self.choice.model))
            params = litellm.get_supported_openai_params(model=self.choice.model) or []
            return "response_format" in params
        except Exception:
            return False

    def _within_reply_timeout(self, call: Callable[[], Any]) -> Any:
        """``call()``, given at most ``reply_timeout`` seconds in all (the network timeout is per
        read: a provider trickling bytes would hold a worker for good). The call goes on in a
        daemon thread until its own read timeout ends it; its answer is dropped."""
        limit = self.reply_timeout
        if limit is None:
            return call()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc

        t = threading.Thread(target=run, daemon=True, name="llm-complete")
        t.start()
        t.join(limit)
        if t.is_alive():
            raise ReplyTimedOut(model=self.model, limit=limit)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def complete(
        self,
        messages: list[dict],
        *,
        response_format: Any = None,
        max_tokens: int | None = None,
    ) -> str:
        """A non-streaming completion; returns the text. ``response_format`` is passed only
        when the model supports it (and dropped on a 400 that isn't a context overflow)."""
        litellm = _litellm()
        from litellm import exceptions as lx

        kw = self._kwargs(messages, max_tokens)
        if response_format is not None and self._response_format_supported(response_format):
            kw["response_format"] = response_format

        def call() -> Any:
            try:
                return litellm.completion(**kw)
            except lx.BadRequestError as exc:
                if "response_format" not in kw or isinstance(exc, lx.ContextWindowExceededError):
                    raise
                kw.pop("response_format")
                return litellm.completion(**kw)

        try:
            resp = self._within_reply_timeout(call)
        except ReplyTimedOut:
            raise
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
                model=self.choice.model,
                prompt_tokens=prompt_tokens or 0,
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
