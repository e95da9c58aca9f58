"""Which model to talk to: an explicit choice, else detected from API keys or a local Ollama.

Nothing here imports litellm, so the app can say what it will use before the library loads.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from assistant.errors import NoModelConfigured

log = logging.getLogger(__name__)

DEFAULT_OLLAMA = "http://127.0.0.1:11434"

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
    "ollama",
    "ollama_chat",
    "azure",
    "azure_ai",
    "bedrock",
    "vertex_ai",
    "huggingface",
    "hosted_vllm",
    "vllm",
    "lm_studio",
    "llamafile",
    "openai_like",
    "text-completion-openai",
    "custom_openai",
    "litellm_proxy",
    "nvidia_nim",
    "cerebras",
    "sambanova",
    "github",
    "watsonx",
    "replicate",
    "anyscale",
    "deepinfra",
    "ai21",
    "nlp_cloud",
    "cloudflare",
}


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
    model: str | None,
    api_base: str | None,
    *,
    probe_ollama: bool = True,
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
            '(e.g. `export MEMCHAT_MODEL=openai/<model-name>`) or `model = "…"` in config.toml.'
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


def choice_for(model: str | None, default: ModelChoice | None) -> ModelChoice | None:
    """The model (and API base) for a conversation or a turn that names ``model``; ``default``
    (the configured one, or None) when it names none. The one rule for chat, ``memchat ask``
    and the worker's extraction, summaries and titles: the configured API base applies only
    to models of the same provider (or with no provider prefix)."""
    model = (model or "").strip()
    if not model:
        return default
    if default is not None and model in (default.model, default.model.removeprefix("openai/")):
        return default
    prov = provider_of(model)
    if prov is not None and (default is None or prov != default.provider):
        base = ollama_base() if prov.startswith("ollama") else None
        return ModelChoice(model, base, "conversation")
    return resolve_model(
        model, default.api_base if default else None, probe_ollama=False, source="conversation"
    )


def detect_models(
    model: str | None = None,
    api_base: str | None = None,
    *,
    probe_ollama: bool = True,
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


# --------------------------------------------------------------------------- reachability
@dataclass
class Reachability:
    """A cheap look at whether a model's server answers (``memchat doctor``): ``status`` is
    "OK", "WARN" or "FAIL"; ``detail`` says what was tried and what came back. ``checked`` is
    False for hosted providers, which are not probed (a real request costs money)."""

    status: str
    detail: str
    checked: bool = True


def describe_source(source: str) -> str:
    """``ModelChoice.source`` in words: where the model setting came from."""
    if source.startswith("env:"):
        var = source[4:]
        return (
            f"environment variable {var}"
            if var.startswith("MEMCHAT_")
            else f"detected from {var} in the environment"
        )
    return {
        "ollama": "detected from a local Ollama",
        "config": "config file",
        "conversation": "this conversation",
    }.get(source, source)


def probe(choice: ModelChoice, *, timeout: float = 2.0) -> Reachability:
    """GET ``<api_base>/models`` (Ollama: ``/api/tags``) with a short timeout. Only servers
    given by an API base (OpenAI-compatible servers, Ollama) are probed; hosted providers
    without one are reported as not checked."""
    base = (choice.api_base or "").rstrip("/")
    if not base:
        return Reachability(
            "OK", "hosted provider: not probed (its key is checked on first use)", False
        )
    ollama = choice.provider in ("ollama", "ollama_chat")
    url = base + ("/api/tags" if ollama else "/models")
    req = urllib.request.Request(url)  # noqa: S310 - the configured server
    key = choice.api_key or os.environ.get(PROVIDER_KEY_VARS.get(choice.provider, ""), "")
    if key and not ollama:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            body = resp.read(1_000_000)
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            return Reachability("WARN", f"the server answered {e.code}: the API key was refused")
        if e.code == 404:
            return Reachability("OK", f"the server answers (it has no model list at {url})")
        return Reachability("WARN", f"the server answered HTTP {e.code} to GET {url}")
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return Reachability(
            "FAIL",
            f"cannot reach the server ({reason}); `memchat ask` and the app will fail until it "
            "answers: start the server or fix MEMCHAT_API_BASE / api_base",
        )
    try:
        data = json.loads(body or b"{}")
        items = data.get("models" if ollama else "data") or []
        names = [str(m.get("name" if ollama else "id")) for m in items if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return Reachability("OK", "the server answers")
    wanted = choice.model.split("/", 1)[1] if provider_of(choice.model) else choice.model
    if names and wanted not in names and not (ollama and f"{wanted}:latest" in names):
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        return Reachability(
            "WARN", f"the server answers but does not list {wanted!r} (it has: {shown})"
        )
    return Reachability("OK", "the server answers" + (f" and lists {wanted!r}" if names else ""))
