"""Shared CLI output: JSON for scripts, rich tables for people."""

from __future__ import annotations

import sys
from collections.abc import Sequence
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
    import json  # here: the chat app's status bar imports this module before its first paint

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


def plural(n: int, one: str, many: str | None = None) -> str:
    """``plural(1, "memory", "memories")`` → "1 memory"; 3 → "3 memories"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _list(parts: Sequence[object], none: str) -> str:
    """The non-empty strings of ``parts`` (a falsy count leaves its 0 out), or ``none``."""
    kept = [p for p in parts if isinstance(p, str) and p]
    return "; ".join(kept) if kept else none


def describe_outcome(name: str, result: Any) -> str:
    """A pipeline job's or task's result as a sentence (the CLI and the Pipeline tab), never a
    Python dict. Unknown results fall back to "key value, …"."""
    if not isinstance(result, dict):
        return "" if result is None else str(result)
    r = result

    def n(key: str) -> int:
        v = r.get(key) or 0
        return len(v) if isinstance(v, (list, dict)) else int(v)

    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    if name == "extract" or "new_turns" in r:
        if not n("new_turns"):
            return "no new chat turns"
        text = (
            f"read {plural(n('new_turns'), 'new turn')}: {n('add')} added, {n('update')} updated, "
            f"{n('supersede')} superseded, {n('noop')} already known"
        )
        if n("dropped"):
            text += f", {n('dropped')} dropped"
        if r.get("seconds") is not None:
            text += f" ({float(r['seconds']):.1f} s)"
        return text
    if name == "sync":
        saved = [
            n("sessions") and plural(n("sessions"), "session"),
            n("commands")
            and plural(n("commands"), "prompt-history entry", "prompt-history entries"),
        ]
        said = [x for x in saved if isinstance(x, str) and x]
        return f"saved {' and '.join(said)} to SQLite" if said else "nothing to save"
    if name == "cleanup":
        return _list(
            [
                n("expired") and f"{plural(n('expired'), 'memory', 'memories')} expired",
                n("retention") and f"{n('retention')} unused past the retention period forgotten",
                n("purged") and f"{n('purged')} deleted past the grace period purged",
                n("kv_expired")
                and f"{plural(n('kv_expired'), 'expired short-term copy', 'expired short-term copies')} dropped",
            ],
            "nothing to clean up",
        )
    if name == "reconcile":
        repaired = r.get("repaired") or {}
        return _list(
            [
                n("outbox_applied") and f"{plural(n('outbox_applied'), 'index update')} applied",
                n("recovered_tasks")
                and f"{plural(n('recovered_tasks'), 'orphaned task')} re-queued",
                repaired and "vector index rebuilt for " + ", ".join(str(p) for p in repaired),
                n("rebuilds_finished")
                and f"{plural(n('rebuilds_finished'), 'interrupted rebuild')} finished",
            ],
            "SQLite and the vector index agree",
        )
    if name == "summarize_idle":
        return _list(
            [
                n("summaries_queued")
                and f"{plural(n('summaries_queued'), 'summary', 'summaries')} queued",
                n("extractions_queued")
                and f"{plural(n('extractions_queued'), 'extraction')} queued",
            ],
            "no idle conversation to summarize",
        )
    if name == "optimize":
        return _list(
            [
                n("merged") and f"merged {plural(n('merged'), 'exact duplicate')}",
                n("near_duplicates")
                and f"{plural(n('near_duplicates'), 'near-duplicate pair')} to review",
            ],
            "no duplicates",
        )
    if name == "stats":
        profiles = r.get("profiles") or {}
        parts = []
        for p, tiers in profiles.items():
            sq = (tiers or {}).get("sqlite") or {}
            mems = sum(v for k, v in sq.items() if k not in ("messages", "conversations"))
            parts.append(
                f"{p}: {plural(int(mems), 'memory', 'memories')}, "
                f"{plural(int(sq.get('messages', 0)), 'message')}"
            )
        if r.get("failed_tasks"):
            parts.append(f"{plural(int(r['failed_tasks']), 'failed task')}")
        return _list(parts, "counted")
    if "summary" in r and "turns" in r:  # summarize
        return (
            f"summarized {plural(n('turns'), 'turn')}"
            if r.get("summary")
            else "nothing to summarize"
        )
    return (
        ", ".join(
            f"{k.replace('_', ' ')} {len(v) if isinstance(v, (list, dict)) else v}"
            for k, v in r.items()
        )
        or "done"
    )
