"""The background pipeline on huey (layer 3: imports assistant and memory, never tui).

``tasks.huey`` is the huey instance, loaded lazily with every task registered, so
``huey_consumer tasks.huey`` works while ``import tasks`` stays cheap (no Redis, no litellm).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "huey":
        from tasks.consumer import _load_tasks
        from tasks.queue import huey

        _load_tasks()
        return huey
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
