"""The one huey instance (``huey``) on memchat's Redis, and the bookkeeping around it.

``huey`` is created at import without touching Redis: its storage is bound on first use to the
Redis the memory store uses (``REDIS_URL`` or the embedded server), or explicitly with
:func:`bind`. Task modules (tasks.extract, tasks.maintenance) import it from here.

huey pops a task off the Redis list before running it, so a consumer killed mid-task would
lose it. Every running task is therefore recorded in ``memchat:huey:inflight`` (with its
serialized form and the consumer running it); a consumer whose heartbeat is gone or whose
process is dead has its in-flight tasks put back on the queue by :func:`recover_orphans`
(run at consumer start and periodically). Tasks that exhaust their retries are parked in
``memchat:huey:failed`` -- visible in ``memchat worker --status`` and retryable.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from huey import RedisHuey
from huey import signals as S
from huey.storage import RedisStorage

from memory.proc import pid_alive
from memory.secrets import redact

log = logging.getLogger("memchat.tasks")

NAME = "memchat"
PREFIX = "memchat:huey:"
INFLIGHT = PREFIX + "inflight"
FAILED = PREFIX + "failed"
PERIODIC = PREFIX + "periodic"
STATUS = PREFIX + "status"
STATS = PREFIX + "stats"
HEARTBEAT = PREFIX + "consumer:"
HEARTBEAT_TTL = 15  # seconds a consumer counts as alive after its last beat
HEARTBEAT_EVERY = 3.0
HOST = socket.gethostname()
CONSUMER_ID = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def env_float(name: str, default: float) -> float:
    """Tuning knobs for tests and benchmarks (``MEMCHAT_TASKS_*``), not user settings."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def retry_delay() -> float:
    return env_float("MEMCHAT_TASKS_RETRY_DELAY", 10.0)


def retries() -> int:
    return int(env_float("MEMCHAT_TASKS_RETRIES", 3))


def debounce() -> float:
    return env_float("MEMCHAT_TASKS_DEBOUNCE", 0.0)


class _Binding:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.store: Any = None
        self.own_store = False
        self.url: str | None = None


_b = _Binding()


class MemchatHuey(RedisHuey):
    """RedisHuey whose storage connects lazily (importing tasks never starts Redis)."""

    def create_storage(self):
        return None

    @property
    def storage(self):
        s = self.__dict__.get("_storage")
        if s is None:
            bind()
            s = self.__dict__.get("_storage")
        return s

    @storage.setter
    def storage(self, value) -> None:
        self.__dict__["_storage"] = value


huey = MemchatHuey(NAME, results=False, utc=True)


# ------------------------------------------------------------------------------ binding
def _redis_url(store) -> str:
    return store.redis_url()


def bind(store=None, *, keep: bool = False) -> MemchatHuey:
    """Point ``huey`` (and the tasks) at ``store``'s Redis; opens a store when none is given.

    ``keep``: when the queue is already bound to the same Redis, keep the store it has (a
    short-lived CLI store must not replace the one a running consumer writes through).
    """
    import redis

    with _b.lock:
        bound = _b.store is not None and huey.__dict__.get("_storage") is not None
        if bound and (store is None or (keep and _redis_url(store) == _b.url)):
            return huey
        if store is None:
            from memory.store import MemoryStore
            from tasks.settings import load_settings

            store = MemoryStore(load_settings())
            _b.own_store = True
        else:
            if _b.own_store and _b.store is not None and _b.store is not store:
                _b.store.close()
            _b.own_store = False
        url = _redis_url(store)
        if huey.__dict__.get("_storage") is None or url != _b.url:
            pool = redis.ConnectionPool.from_url(
                url, socket_timeout=10, socket_connect_timeout=3, health_check_interval=30
            )
            huey.storage = RedisStorage(NAME, connection_pool=pool, read_timeout=1)
            _b.url = url
        _b.store = store
    return huey


def unbind() -> None:
    """Forget the store and the Redis connection (tests, shutdown)."""
    with _b.lock:
        s = huey.__dict__.get("_storage")
        if s is not None:
            try:
                s.pool.disconnect()
            except Exception:  # noqa: BLE001
                pass
        huey.storage = None
        if _b.own_store and _b.store is not None:
            _b.store.close()
        _b.store, _b.url, _b.own_store = None, None, False


def store_for(profile: str | None = None):
    """The memory store tasks write to (bound one, seen from ``profile``)."""
    if _b.store is None:
        bind()
    s = _b.store
    return s if not profile or profile == s.profile else s.for_profile(profile)


def bound_store():
    """The store the queue is bound to, or None (never opens one)."""
    return _b.store


def redis():
    """A redis-py client (bytes) on the queue's Redis."""
    return huey.storage.conn


# ------------------------------------------------------------------------------ helpers
def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


def set_status(name: str, text: str | None) -> None:
    """A visible one-line state for ``--status`` (e.g. why extraction waits)."""
    try:
        if text:
            redis().hset(STATUS, name, _dumps({"text": text, "at": time.time()}))
        else:
            redis().hdel(STATUS, name)
    except Exception as e:  # noqa: BLE001 - bookkeeping never breaks a task
        log.debug("status write failed: %s", e)


def add_stats(**amounts: float) -> None:
    try:
        p = redis().pipeline()
        for k, v in amounts.items():
            if v:
                p.hincrbyfloat(STATS, k, float(v))
        p.execute()
    except Exception as e:  # noqa: BLE001
        log.debug("stats write failed: %s", e)


def _task_summary(task) -> dict[str, Any]:
    return {"id": task.id, "name": task.name, "args": list(task.args), "kwargs": task.kwargs}


# ------------------------------------------------------------------------------ in-flight + failures
@huey.pre_execute("memchat-inflight")
def _record_inflight(task) -> None:
    data = base64.b64encode(huey.serialize_task(task)).decode()
    redis().hset(
        INFLIGHT,
        task.id,
        _dumps(
            {**_task_summary(task), "consumer": CONSUMER_ID, "started": time.time(), "data": data}
        ),
    )


@huey.post_execute("memchat-inflight")
def _clear_inflight(task, value, exc) -> None:
    redis().hdel(INFLIGHT, task.id)
    if exc is None:
        redis().hdel(FAILED, task.id)


@huey.signal(S.SIGNAL_ERROR)
def _park_failed(signal, task, exc=None) -> None:
    """Park a task that failed for good; either way one log line says so (huey's own record
    of the failure carries the traceback, which only the log file shows)."""
    if task.retries:  # more attempts to come
        log.warning(
            "task %s %s failed (%s: %s); %d more attempt(s) to come",
            task.name,
            task.id,
            type(exc).__name__,
            exc,
            task.retries,
        )
        return
    data = base64.b64encode(huey.serialize_task(task)).decode()
    redis().hset(
        FAILED,
        task.id,
        _dumps(
            {
                **_task_summary(task),
                "error": redact(f"{type(exc).__name__}: {exc}")[:500],
                "at": time.time(),
                "data": data,
            }
        ),
    )
    log.error(
        "task %s %s failed for good (%s: %s); retry it with `memchat worker --retry-failed %s`",
        task.name,
        task.id,
        type(exc).__name__,
        exc,
        task.id[:8],
    )


def failed_tasks() -> list[dict[str, Any]]:
    out = []
    for _tid, raw in redis().hgetall(FAILED).items():
        d = json.loads(raw)
        d.pop("data", None)
        out.append(d)
    return sorted(out, key=lambda d: d.get("at", 0))


def load_tasks() -> None:
    """Register every task with ``huey`` (each module registers its own at import); needed
    before a stored task is deserialized, e.g. by ``memchat worker --retry-failed`` in a fresh
    process ("tasks.extract.extract not found in TaskRegistry" otherwise)."""
    import tasks.extract  # noqa: F401
    import tasks.maintenance  # noqa: F401


def retry_failed(task_id: str | None = None) -> int:
    """Put parked failed tasks (all, or the one whose id starts with ``task_id``) back on the queue."""
    load_tasks()
    n = 0
    for tid, raw in redis().hgetall(FAILED).items():
        tid = tid.decode() if isinstance(tid, bytes) else tid
        if task_id and not tid.startswith(task_id):
            continue
        d = json.loads(raw)
        task = huey.deserialize_task(base64.b64decode(d["data"]))
        task.retries = retries()
        task.retry_delay = retry_delay()
        task.eta = None
        if redis().hdel(FAILED, tid):
            huey.enqueue(task)
            n += 1
    return n


def running_tasks() -> list[dict[str, Any]]:
    out = []
    for _tid, raw in redis().hgetall(INFLIGHT).items():
        d = json.loads(raw)
        d.pop("data", None)
        out.append(d)
    return out


# ------------------------------------------------------------------------------ heartbeats
def beat(mode: str, workers: int) -> None:
    redis().set(
        HEARTBEAT + CONSUMER_ID,
        _dumps(
            {
                "id": CONSUMER_ID,
                "host": HOST,
                "pid": os.getpid(),
                "mode": mode,
                "workers": workers,
                "at": time.time(),
            }
        ),
        ex=HEARTBEAT_TTL,
    )


def stop_beating() -> None:
    try:
        redis().delete(HEARTBEAT + CONSUMER_ID)
    except Exception:  # noqa: BLE001
        pass


def consumer_alive(consumer_id: str, beats: dict[str, dict] | None = None) -> bool:
    host, _, rest = consumer_id.partition(":")
    pid = rest.partition(":")[0]
    if host == HOST and pid.isdigit() and not pid_alive(int(pid)):
        return False
    if beats is None:
        return bool(redis().exists(HEARTBEAT + consumer_id))
    return consumer_id in beats


def live_consumers() -> dict[str, dict]:
    out = {}
    for key in redis().scan_iter(match=HEARTBEAT + "*", count=100):
        raw = redis().get(key)
        if raw:
            d = json.loads(raw)
            if consumer_alive(d["id"], {d["id"]: d}):
                out[d["id"]] = d
    return out


def recover_orphans() -> int:
    """Re-queue tasks left in flight by consumers that died; returns how many."""
    beats = live_consumers()
    n = 0
    for tid, raw in redis().hgetall(INFLIGHT).items():
        d = json.loads(raw)
        owner = d.get("consumer", "")
        if owner == CONSUMER_ID or consumer_alive(owner, beats):
            continue
        if redis().hdel(INFLIGHT, tid):  # only one recoverer wins
            huey.storage.enqueue(base64.b64decode(d["data"]))
            log.warning(
                "re-queued task %s %s left behind by dead consumer %s",
                d.get("name"),
                d.get("id"),
                owner,
            )
            n += 1
    return n


# ------------------------------------------------------------------------------ locks
def acquire(name: str, ttl: int = 300) -> bool:
    """A per-job lock held by this consumer; a lock left by a dead consumer is taken over."""
    key = PREFIX + "lock:" + name
    if redis().set(key, CONSUMER_ID, nx=True, ex=ttl):
        return True
    holder = redis().get(key)
    holder = holder.decode() if isinstance(holder, bytes) else holder
    if holder and holder != CONSUMER_ID and not consumer_alive(holder):
        redis().delete(key)
        return bool(redis().set(key, CONSUMER_ID, nx=True, ex=ttl))
    return False


def release(name: str) -> None:
    key = PREFIX + "lock:" + name
    holder = redis().get(key)
    if (
        holder is not None
        and (holder.decode() if isinstance(holder, bytes) else holder) == CONSUMER_ID
    ):
        redis().delete(key)


__all__ = [
    "CONSUMER_ID",
    "bind",
    "huey",
    "load_tasks",
    "recover_orphans",
    "redis",
    "retry_failed",
    "store_for",
    "unbind",
]
