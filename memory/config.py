"""Settings: a TOML file, overridden by environment variables, validated by pydantic.

Where the file lives, first match wins: ``$MEMCHAT_CONFIG``; ``$MEMCHAT_HOME/config.toml``
when ``MEMCHAT_HOME`` is set and that file exists; the platform config dir
(``~/.config/memchat/config.toml`` on Linux). Environment variables beat the file:
``MEMCHAT_<FIELD>`` for top-level fields, ``MEMCHAT_<SECTION>__<FIELD>`` for nested ones,
plus the conventional ``REDIS_URL`` and ``CHROMA_URL``.

Settings live with the layer they belong to and are composed at the top: this module holds
memory's (the data dir, profile, Redis, Chroma, embeddings, the ``memory`` section) and the
loader every layer uses; ``assistant.settings`` adds the model options, ``tasks.settings`` the
worker, and ``tui.settings.AppSettings`` the keymap and theme -- the one class that refuses
unknown keys, since only the whole composition knows every key. A class lower down ignores the
keys of the layers above it.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from memory.errors import ConfigError
from memory.secrets import find_secrets

APP = "memchat"
_PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _shown(v: Any) -> str:
    """A wrong-typed setting value as the user wrote it (TOML spelling for booleans)."""
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    kind = {int: "a number", float: "a number", list: "a list", dict: "a table"}.get(type(v))
    return f"{v!r} ({kind or type(v).__name__})"[:200]


def check_profile(name: str) -> str:
    """The profile name normalised (lower case), or ValueError saying what a name may be."""
    v = name.strip().lower()
    if not _PROFILE_RE.match(v):
        raise ValueError("profile names are 1-32 characters: a-z, 0-9, '-' and '_'")
    if find_secrets(v):  # it would be stored redacted, and its data never found again
        raise ValueError("a profile name must not look like a secret (an API key or token)")
    return v


class MemorySettings(BaseModel):
    """How memory is kept and recalled."""

    review: bool = Field(
        False, description="New extracted memories wait as pending until accepted."
    )
    session_ttl_hours: float = Field(
        24.0, gt=0, le=24 * 365, description="Lifetime of short-term session state."
    )
    recent_turns: int = Field(
        100, ge=2, le=10_000, description="Recent turns kept per session in Redis."
    )
    temporary_ttl_seconds: int = Field(
        3600, ge=1, description="Default lifetime of temporary values."
    )
    recall_limit: int = Field(
        8, ge=0, le=100, description="Most memories injected into one prompt."
    )
    token_budget: int = Field(
        1000, ge=0, le=100_000, description="Most prompt tokens spent on memories."
    )
    always_token_budget: int = Field(
        300,
        ge=0,
        le=10_000,
        description="Prompt tokens for the notes that go into every prompt (preferences and "
        "pinned memories), before and apart from recalled ones; 0 turns them off.",
    )
    relevance_floor: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A recalled memory enters the prompt only when its learned probability of "
        "being relevant is at least this (0 keeps every hit; see docs/benchmarks.md for how the "
        "default was measured). A prompt with nothing relevant gets no memory block.",
    )
    retention_days: int | None = Field(
        None, ge=1, description="Drop unpinned memories not used for this long."
    )
    embedding_int8: bool = Field(
        True,
        description="Embed with an int8 copy of the model, made once in model_cache (~1.5x faster "
        "ingest, about half the memory, the same recall on LoCoMo); false runs the fp32 model. "
        "Env: MEMCHAT_MEMORY__EMBEDDING_INT8.",
    )
    purge_after_days: int = Field(
        30, ge=0, description="Soft-deleted memories are purged after this grace period."
    )


class Settings(BaseSettings):
    """memory's settings. Every field can be set in config.toml or the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MEMCHAT_",
        env_nested_delimiter="__",
        extra="ignore",  # the layers above add their own keys (see the module doc)
        populate_by_name=True,
        validate_default=True,
    )

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir(APP)),
        description="Data directory (SQLite, Chroma, embedded Redis, logs). Env: MEMCHAT_HOME.",
    )
    profile: str = Field("default", description="Memory profile; each is isolated in every tier.")
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("redis_url", "MEMCHAT_REDIS_URL", "REDIS_URL"),
        description="Use this Redis instead of the embedded one. Env: REDIS_URL.",
    )
    chroma_url: str | None = Field(
        None,
        validation_alias=AliasChoices("chroma_url", "MEMCHAT_CHROMA_URL", "CHROMA_URL"),
        description="A Chroma server URL; by default Chroma runs in the data dir.",
    )
    embedding_model: str | None = Field(
        None, description="Folder with all-MiniLM-L6-v2 ONNX files. Env: MEMCHAT_EMBEDDING_MODEL."
    )
    model_cache: Path | None = Field(
        None,
        description="Where models memchat derives are kept (the int8 embedding model); "
        "default: <home>/models. Env: MEMCHAT_MODEL_CACHE.",
    )
    memory: MemorySettings = Field(default_factory=MemorySettings)

    @field_validator("profile")
    @classmethod
    def _valid_profile(cls, v: str) -> str:
        return check_profile(v)

    @field_validator("home", "model_cache", mode="before")
    @classmethod
    def _expand_home(cls, v: Any) -> Any:
        """A path is a non-empty string: TOML ``home = 123`` or ``true`` would otherwise become
        the folder ``./123`` or ``./True`` in whatever directory memchat was started from, and
        an empty ``MEMCHAT_HOME=`` the current directory itself."""
        if v is None:
            return v
        if isinstance(v, Path):
            v = str(v)
        if not isinstance(v, str):
            raise ValueError(f"expected a folder path (a string), got {_shown(v)}")
        if not v.strip():
            raise ValueError(
                "the folder path is empty; set it to a folder (or unset it for the default)"
            )
        if _CONTROL_RE.search(v):
            raise ValueError(
                f"the folder path {v!r} contains a control character (a newline?); "
                "use a path without one"
            )
        return Path(os.path.expandvars(v)).expanduser()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _FileSource(settings_cls))

    # ----------------------------------------------------------------- derived paths
    @property
    def db_path(self) -> Path:
        return self.home / "memchat.db"

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def models_path(self) -> Path:
        return self.model_cache or self.home / "models"


def config_path() -> Path:
    """The config file memchat reads (it may not exist)."""
    if os.environ.get("MEMCHAT_CONFIG"):
        return Path(os.environ["MEMCHAT_CONFIG"]).expanduser()
    if os.environ.get("MEMCHAT_HOME"):
        p = Path(os.environ["MEMCHAT_HOME"]).expanduser() / "config.toml"
        if p.exists():
            return p
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config error in {path}: cannot read it ({e})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f" line {m.group(1)}" if m else ""
        what = re.sub(r"\s*\(at [^)]*\)", "", msg)
        raise ConfigError(f"config error in {path}{where}: {what} (fix the TOML syntax)") from None


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls):
        super().__init__(settings_cls)
        self.data = _read_file(config_path())

    def get_field_value(self, field, field_name):  # pragma: no cover - unused, required by ABC
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def _line_of(path: Path, key: str) -> int | None:
    try:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(rf"\s*{re.escape(key)}\s*=", line):
                return n
    except OSError:
        return None
    return None


def _explain(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    dotted = ".".join(loc) or "(top level)"
    problem = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        problem = "unknown setting (check the spelling; see README 'Configuration')"
    path = config_path()
    file_data = _read_file(path)
    node: Any = file_data
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None:
        line = _line_of(path, loc[-1]) if loc else None
        where = f" line {line}" if line else ""
        return f"config error in {path}{where}: {dotted}: {problem}"
    env = "MEMCHAT_" + "__".join(p.upper() for p in loc)
    return f"config error in environment variable {env}: {problem}"


S = TypeVar("S", bound=Settings)


def load(cls: type[S], **overrides: Any) -> S:
    """Read the config file and environment into ``cls`` (a layer's settings class).
    Raises ConfigError with one clear line."""
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(_explain(e)) from None


def settings_of(store: Any, cls: type[S]) -> S:
    """The settings ``store`` was opened with when they are a ``cls`` (the app, the CLI and the
    worker open it with the whole composition), else ``cls`` read for its data dir and profile."""
    s = store.settings
    if isinstance(s, cls):
        return s
    return load(cls, home=s.home, profile=s.profile)


def load_settings(**overrides: Any) -> Settings:
    """memory's settings from the config file and environment (see :func:`load`)."""
    return load(Settings, **overrides)


def describe_fields(cls: type[BaseModel] = Settings) -> list[tuple[str, str, str]]:
    """(name, default, description) for every setting, for docs and `memchat config`."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name}.")
                continue
            default = "" if f.default_factory else repr(f.default)
            rows.append((prefix + name, default, f.description or ""))

    walk(cls, "")
    return rows
