"""The assistant layer: prompts, the LLM client and the Assistant facade.

``from assistant import Assistant`` is lazy: importing the package costs nothing (litellm is
only imported when a reply needs it).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Assistant"]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from assistant.assistant import Assistant

        return Assistant
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
