"""Read-only view of the pipeline for `memchat worker --status`, `memchat doctor` and the TUI.

Works from any store without binding the queue: it reads the broker's keys through a client of
the Redis the store uses (its URL from ``MemoryStore.redis_url``), so asking "is a worker
alive?" never starts or changes anything.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from tasks.queue import (
    FAILED,
    HEARTBEAT,
    HOST,
    INFLIGHT,
    NAME,
    PERIODIC,
    STATS,
    STATUS,
    consumer_alive,
)

QUEUE_KEY = f"huey.redis.{NAME}"
SCHEDULE_KEY = f"huey.schedule.{NAME}"


def _client(store):
    """A client (str responses) of the Redis that carries huey's queue, or None without one."""
    st = store.short_term_status()
    if st.degraded or not st.url:
        return None
    return _broker(st.url)


@functools.lru_cache(maxsize=4)
def _broker(url: str):
    import redis

    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
    )


def consumers(store) -> list[dict[str, Any]]:
    r = _client(store)
    if r is None:
        return []
    out = []
    for key in r.scan_iter(match=HEARTBEAT + "*", count=100):
        raw = r.get(key)
        if not raw:
            continue
        d = json.loads(raw)
        if consumer_alive(d["id"], {d["id"]: d}):
            out.append(d)
    return sorted(out, key=lambda d: d.get("at", 0), reverse=True)


def describe(c: dict[str, Any]) -> str:
    where = "" if c.get("host") == HOST else f" on {c.get('host')}"
    ago = max(0.0, time.time() - float(c.get("at", 0)))
    return f"{c.get('mode', 'worker')} consumer pid {c.get('pid')}{where}, {c.get('workers')} threads (beat {ago:.0f}s ago)"


def worker_alive(store) -> str | None:
    """A one-line description of a live consumer, or None when no consumer beats."""
    try:
        found = consumers(store)
    except Exception:  # noqa: BLE001 - a status probe never raises
        return None
    return describe(found[0]) if found else None


def _hash_json(r, key: str) -> dict[str, Any]:
    out = {}
    for k, v in r.hgetall(key).items():
        try:
            d = json.loads(v)
        except ValueError:
            continue
        if isinstance(d, dict):
            d.pop("data", None)
        out[k] = d
    return out


def snapshot(store) -> dict[str, Any]:
    """Queue depth, running and failed tasks, periodic jobs' last runs, consumers, totals."""
    r = _client(store)
    deferred = _deferred(store)
    if r is None:
        return {
            "available": False,
            "reason": store.short_term_status().reason
            or "no Redis: the background pipeline is off",
            "deferred": deferred,
        }
    stats = {k: float(v) for k, v in r.hgetall(STATS).items()}
    return {
        "available": True,
        "queued": int(r.llen(QUEUE_KEY)),
        "scheduled": int(r.zcard(SCHEDULE_KEY)),
        "running": list(_hash_json(r, INFLIGHT).values()),
        "failed": sorted(_hash_json(r, FAILED).values(), key=lambda d: d.get("at", 0)),
        "jobs": _hash_json(r, PERIODIC),
        "notes": {k: v.get("text", "") for k, v in _hash_json(r, STATUS).items()},
        "consumers": consumers(store),
        "stats": stats,
        "deferred": deferred,
    }


def _deferred(store) -> int:
    """Jobs kept in SQLite while Redis was down, not yet queued (every profile)."""
    try:
        return store.deferred_count(all_profiles=True)
    except Exception:  # noqa: BLE001 - a status probe never raises
        return 0


__all__ = ["consumers", "snapshot", "worker_alive"]
