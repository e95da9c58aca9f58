"""The worker's settings, on top of the assistant's and memory's (see ``memory.config``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from assistant.settings import AssistantSettings
from memory import config


class WorkerSettings(BaseModel):
    """The background huey consumer."""

    embedded: bool = Field(
        True, description="Run a consumer inside the TUI unless a live worker exists."
    )
    workers: int = Field(2, ge=1, le=32, description="Worker threads for the consumer.")


class TaskSettings(AssistantSettings):
    """The assistant's settings plus the ``worker`` section."""

    worker: WorkerSettings = Field(default_factory=WorkerSettings)


def load_settings(**overrides: Any) -> TaskSettings:
    """The worker's settings from the config file and environment."""
    return config.load(TaskSettings, **overrides)


def settings_for(store: Any) -> TaskSettings:
    """The store's settings as TaskSettings (see memory.config.settings_of)."""
    return config.settings_of(store, TaskSettings)
