"""Shared CLI output: JSON for scripts, rich tables for people."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any


def to_jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    return obj


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, default=str) + "\n")


def when(ts: float | None) -> str:
    if not ts:
        return ""
    try:
        return datetime.fromtimestamp(ts, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):  # a stored time out of range (1e20)
        return "?"


def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def safe(text: str, width: int | None = None) -> str:
    """Text with control characters removed (never interpreted by the terminal), shortened."""
    cleaned = "".join(
        ch if ch.isprintable() or ch == " " else " " for ch in text.replace("\n", " ")
    )
    if width and len(cleaned) > width:
        cleaned = cleaned[: width - 1] + "…"
    return cleaned
