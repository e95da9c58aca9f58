"""The app's settings (keymap, theme) and the composition of every layer's settings.

``AppSettings`` is what the app, the CLI and ``memchat config`` load: memory's
(``memory.config``), the assistant's (``assistant.settings``), the worker's
(``tasks.settings``) and the ``ui`` section below. It is the only class that refuses an
unknown key, since only the whole composition knows them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from memory import config
from tasks.settings import TaskSettings


class UISettings(BaseModel):
    """The Textual app."""

    theme: str = Field("textual-dark", description="Any Textual theme name.")
    llm_titles: bool = Field(
        True,
        description="Ask the model for a short title after a chat's first exchange (one small request).",
    )
    keymap: dict[str, str] = Field(
        default_factory=dict, description="Binding id -> keys, e.g. {'send' = 'ctrl+s'}."
    )
    export_dir: Path | None = Field(
        None,
        description="Where the chat app writes an exported conversation (F5); "
        "default: ~/memchat-exports.",
    )


class AppSettings(TaskSettings):
    """Every memchat setting. Every field can be set in config.toml or the environment."""

    model_config = SettingsConfigDict(extra="forbid")

    ui: UISettings = Field(default_factory=UISettings)
    warm_seconds: int = Field(
        600,
        ge=0,
        description="How long the warm process (which runs `ask`, `memory list/search/add`... "
        "with litellm already imported) waits idle before it exits; 0 turns it off. "
        "The environment variable MEMCHAT_WARM_SECONDS is read first.",
    )


def load_settings(**overrides: Any) -> AppSettings:
    """Every setting from the config file and environment; raises ConfigError (one line)."""
    return config.load(AppSettings, **overrides)


def describe_fields() -> list[tuple[str, str, str]]:
    """(name, default, description) for every setting, for `memchat config`."""
    return config.describe_fields(AppSettings)
