"""The short-term tier: session state, recent turns, active sessions, temporary values,
a preference cache and prompt history, namespaced by profile.

Redis is the primary backend. ``SqliteShortTerm`` keeps the same data in the ``kv`` table
when no Redis can be had, and ``ResilientShortTerm`` switches to it when Redis dies mid-run
(and back when it returns), so chatting never stops because Redis did.

``ResilientShortTerm`` is also the gate into this tier: every call's arguments are redacted
(``memory.secrets.redact_value``) before either backend sees them -- session state, turns,
temporaries (keys too, so a read asks for what a write stored), the preference cache and
prompt history alike. The ``kv`` table is covered a second time by the SQLite gate.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from memory.models import now
from memory.secrets import redact_value
from memory.sqlite.db import Database

log = logging.getLogger("memchat.short_term")


class ShortTerm(Protocol):
    mode: str

    def ping(self) -> bool: ...
    def set_state(self, profile: str, session: str, values: dict[str, Any], ttl: float) -> None: ...
    def get_state(self, profile: str, session: str) -> dict[str, Any]: ...
    def state_ttl(self, profile: str, session: str) -> float | None: ...
    def push_turn(
        self, profile: str, session: str, turn: dict[str, Any], keep: int, ttl: float
    ) -> None: ...
    def recent_turns(self, profile: str, session: str, n: int) -> list[dict[str, Any]]: ...
    def active_sessions(self, profile: str) -> list[tuple[str, float]]: ...
    def end_session(self, profile: str, session: str) -> None: ...
    def set_temp(self, profile: str, key: str, value: str, ttl: float) -> None: ...
    def get_temp(self, profile: str, key: str) -> str | None: ...
    def temp_items(self, profile: str) -> list[tuple[str, str, float | None]]: ...
    def delete_temp(self, profile: str, key: str) -> None: ...
    def cache_prefs(self, profile: str, prefs: dict[str, str], stamp: str) -> None: ...
    def cached_prefs(self, profile: str) -> tuple[str, dict[str, str]] | None: ...
    def push_command(self, profile: str, text: str, keep: int) -> None: ...
    def commands(self, profile: str, n: int) -> list[str]: ...
    def wipe_profile(self, profile: str) -> int: ...


class RedisShortTerm:
    mode = "redis"

    def __init__(self, url: str):
        import redis

        self.url = url
        self.r = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
        )

    def k(self, profile: str, *parts: str) -> str:
        return ":".join(("memchat", profile, *parts))

    def ping(self) -> bool:
        return bool(self.r.ping())

    def set_state(self, profile, session, values, ttl):
        key = self.k(profile, "session", session)
        p = self.r.pipeline()
        p.hset(key, mapping={f: json.dumps(v) for f, v in values.items()})
        p.expire(key, int(ttl))
        p.zadd(self.k(profile, "active"), {session: now()})
        p.execute()

    def get_state(self, profile, session):
        return {
            f: json.loads(v) for f, v in self.r.hgetall(self.k(profile, "session", session)).items()
        }

    def state_ttl(self, profile, session):
        t = self.r.ttl(self.k(profile, "session", session))
        return float(t) if t and t > 0 else None

    def push_turn(self, profile, session, turn, keep, ttl):
        key = self.k(profile, "turns", session)
        p = self.r.pipeline()
        p.rpush(key, json.dumps(turn))
        p.ltrim(key, -keep, -1)
        p.expire(key, int(ttl))
        p.zadd(self.k(profile, "active"), {session: now()})
        p.execute()

    def recent_turns(self, profile, session, n):
        return [json.loads(x) for x in self.r.lrange(self.k(profile, "turns", session), -n, -1)]

    def active_sessions(self, profile):
        return [
            (s, float(t))
            for s, t in self.r.zrevrange(self.k(profile, "active"), 0, -1, withscores=True)
        ]

    def end_session(self, profile, session):
        p = self.r.pipeline()
        p.zrem(self.k(profile, "active"), session)
        p.delete(self.k(profile, "session", session), self.k(profile, "turns", session))
        p.execute()

    def set_temp(self, profile, key, value, ttl):
        self.r.set(self.k(profile, "tmp", key), value, px=max(1, int(ttl * 1000)))

    def get_temp(self, profile, key):
        return self.r.get(self.k(profile, "tmp", key))

    def temp_items(self, profile):
        out = []
        prefix = self.k(profile, "tmp", "")
        for key in self.r.scan_iter(match=prefix + "*", count=500):
            p = self.r.pipeline()
            p.get(key)
            p.pttl(key)
            value, pttl = p.execute()
            if value is not None:
                out.append((key[len(prefix) :], value, pttl / 1000 if pttl and pttl > 0 else None))
        return sorted(out)

    def delete_temp(self, profile, key):
        self.r.delete(self.k(profile, "tmp", key))

    def cache_prefs(self, profile, prefs, stamp):
        key = self.k(profile, "prefs")
        p = self.r.pipeline()
        p.delete(key)
        if prefs:
            p.hset(key, mapping=prefs)
        p.set(self.k(profile, "prefs:valid"), stamp)
        p.execute()

    def cached_prefs(self, profile):
        p = self.r.pipeline()
        p.get(self.k(profile, "prefs:valid"))
        p.hgetall(self.k(profile, "prefs"))
        stamp, prefs = p.execute()
        return None if stamp is None else (stamp, prefs)

    def push_command(self, profile, text, keep):
        key = self.k(profile, "commands")
        p = self.r.pipeline()
        p.rpush(key, text)
        p.ltrim(key, -keep, -1)
        p.execute()

    def commands(self, profile, n):
        return list(self.r.lrange(self.k(profile, "commands"), -n, -1))

    def wipe_profile(self, profile):
        keys = list(self.r.scan_iter(match=self.k(profile, "*"), count=1000))
        return int(self.r.delete(*keys)) if keys else 0


class SqliteShortTerm:
    """The same data in SQLite's ``kv`` table, used when no Redis is reachable."""

    mode = "sqlite"

    def __init__(self, db: Database):
        self.db = db

    def _get(self, profile: str, key: str) -> Any:
        row = self.db.one(
            "SELECT value FROM kv WHERE profile = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (profile, key, now()),
        )
        return json.loads(row["value"]) if row else None

    def _set(self, profile: str, key: str, value: Any, ttl: float | None) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO kv (profile, key, value, expires_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (profile, key, json.dumps(value), now() + ttl if ttl else None, now()),
            )

    def _ttl(self, profile: str, key: str) -> float | None:
        exp = self.db.scalar(
            "SELECT expires_at FROM kv WHERE profile = ? AND key = ?", (profile, key)
        )
        return max(0.0, exp - now()) if exp else None

    def _del(self, profile: str, *keys: str) -> None:
        with self.db.tx() as conn:
            conn.executemany(
                "DELETE FROM kv WHERE profile = ? AND key = ?", [(profile, k) for k in keys]
            )

    def ping(self):
        return True

    def _touch(self, profile, session):
        active = self._get(profile, "active") or {}
        active[session] = now()
        self._set(profile, "active", active, None)

    def set_state(self, profile, session, values, ttl):
        with self.db.tx():
            state = self._get(profile, f"session:{session}") or {}
            state.update(values)
            self._set(profile, f"session:{session}", state, ttl)
            self._touch(profile, session)

    def get_state(self, profile, session):
        return self._get(profile, f"session:{session}") or {}

    def state_ttl(self, profile, session):
        return self._ttl(profile, f"session:{session}")

    def push_turn(self, profile, session, turn, keep, ttl):
        with self.db.tx():
            turns = (self._get(profile, f"turns:{session}") or []) + [turn]
            self._set(profile, f"turns:{session}", turns[-keep:], ttl)
            self._touch(profile, session)

    def recent_turns(self, profile, session, n):
        return (self._get(profile, f"turns:{session}") or [])[-n:]

    def active_sessions(self, profile):
        active = self._get(profile, "active") or {}
        return sorted(((s, float(t)) for s, t in active.items()), key=lambda x: -x[1])

    def end_session(self, profile, session):
        with self.db.tx():
            active = self._get(profile, "active") or {}
            active.pop(session, None)
            self._set(profile, "active", active, None)
            self._del(profile, f"session:{session}", f"turns:{session}")

    def set_temp(self, profile, key, value, ttl):
        self._set(profile, f"tmp:{key}", value, ttl)

    def get_temp(self, profile, key):
        return self._get(profile, f"tmp:{key}")

    def temp_items(self, profile):
        rows = self.db.query(
            "SELECT key, value, expires_at FROM kv WHERE profile = ? AND key LIKE 'tmp:%' "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
            (profile, now()),
        )
        return [
            (
                r["key"][4:],
                json.loads(r["value"]),
                r["expires_at"] - now() if r["expires_at"] else None,
            )
            for r in rows
        ]

    def delete_temp(self, profile, key):
        self._del(profile, f"tmp:{key}")

    def cache_prefs(self, profile, prefs, stamp):
        self._set(profile, "prefs", {"stamp": stamp, "prefs": prefs}, None)

    def cached_prefs(self, profile):
        got = self._get(profile, "prefs")
        if not isinstance(got, dict) or not isinstance(got.get("prefs"), dict):
            return None  # none, or the unstamped form of an older version
        return str(got.get("stamp", "")), got["prefs"]

    def push_command(self, profile, text, keep):
        with self.db.tx():
            cmds = (self._get(profile, "commands") or []) + [text]
            self._set(profile, "commands", cmds[-keep:], None)

    def commands(self, profile, n):
        return (self._get(profile, "commands") or [])[-n:]

    def wipe_profile(self, profile):
        with self.db.tx() as conn:
            return conn.execute("DELETE FROM kv WHERE profile = ?", (profile,)).rowcount

    def purge_expired(self) -> int:
        with self.db.tx() as conn:
            return conn.execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?", (now(),)
            ).rowcount


def _refuses_writes(e: Exception) -> bool:
    """A Redis that answers but cannot take writes: AOF/RDB write errors (MISCONF), out of
    memory (OOM), a read-only replica, or still loading its data."""
    text = str(e).rsplit("caused error: ", 1)[-1]  # redis-py's wording for a pipeline's error
    return text.split(" ", 1)[0] in ("MISCONF", "OOM", "READONLY", "LOADING")


class ResilientShortTerm:
    """Redis first; on a connection failure, SQLite until Redis answers again.

    Every RETRY_SECONDS while down it tries again (restarting the embedded server through
    ``restart`` when there is one). On recovery it replays what was written to SQLite during
    the outage: session state, temporaries and prompt history go back into Redis, and the
    recent-turn lists of affected sessions are dropped so they refill from SQLite messages.
    """

    RETRY_SECONDS = 5.0

    def __init__(
        self,
        primary: RedisShortTerm | None,
        fallback: SqliteShortTerm,
        mode: str,
        restart: Callable[..., Any] | None = None,
    ):
        self.primary = primary
        self.fallback = fallback
        self.configured_mode = mode  # "redis-url", "embedded" or "sqlite"
        self.restart = restart
        self.degraded_reason: str | None = None if primary else "no Redis server available"
        self.startup_error: Exception | None = None  # why the embedded server did not start
        self._down_since: float | None = None if primary else time.monotonic()
        self._down_wall: float | None = None
        self._lock = threading.RLock()

    @property
    def mode(self) -> str:
        return "sqlite" if self.degraded else self.configured_mode

    @property
    def degraded(self) -> bool:
        return self.primary is None or self._down_since is not None

    def _mark_down(self, e: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                log.warning("Redis unreachable (%s); short-term memory continues in SQLite", e)
                self._down_wall = now()
            self._down_since = time.monotonic()
            self.degraded_reason = f"Redis unreachable: {e}"

    def _try_recover(self) -> bool:
        """Called while down, at most every RETRY_SECONDS: bring Redis back and replay."""
        if self.primary is None:  # no server to come back
            return False
        try:
            if self.restart is not None:
                self.restart()
            self.primary.ping()
            self._replay(self.primary)
        except Exception as e:  # noqa: BLE001 - still down, whatever the reason
            self._mark_down(e)
            return False
        with self._lock:
            self._down_since = None
            self.degraded_reason = None
        log.warning("Redis is back; short-term memory written meanwhile was replayed")
        return True

    def rebuild_from_sqlite(self) -> int:
        """Write every SQLite copy of short-term data (session state, temporaries, prompt
        history) into Redis -- after it lost its data (a damaged AOF moved aside). Returns how
        many entries there were; 0 when Redis is not in use."""
        if self.primary is None or self.degraded:
            return 0
        with self._lock:
            return self._replay(self.primary, since=0.0)

    def _replay(self, primary: RedisShortTerm, since: float | None = None) -> int:
        since = (self._down_wall or 0.0) if since is None else since
        rows = self.fallback.db.query(
            "SELECT profile, key, value, expires_at FROM kv WHERE updated_at >= ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (since, now()),
        )
        for r in rows:
            profile, key, value = r["profile"], r["key"], json.loads(r["value"])
            ttl = (r["expires_at"] - now()) if r["expires_at"] else None
            if key.startswith("session:"):
                primary.set_state(profile, key[8:], value, ttl or 86400)
            elif key.startswith("tmp:"):
                primary.set_temp(profile, key[4:], value, ttl or 86400)
            elif key.startswith("turns:"):
                primary.r.delete(primary.k(profile, "turns", key[6:]))
            elif key == "commands":
                for text in value:
                    primary.push_command(profile, text, 10_000)
                self.fallback._del(profile, "commands")
            # "prefs": nothing to replay; the cache is stamped and checked on every read
        return len(rows)

    def _backend(self):
        if self.primary is None:
            return self.fallback
        with self._lock:
            if self._down_since is None:
                return self.primary
            if time.monotonic() - self._down_since < self.RETRY_SECONDS:
                return self.fallback
            return self.primary if self._try_recover() else self.fallback

    def _call(self, name: str, *args):
        args = redact_value(args)  # nothing reaches either backend unredacted
        backend = self._backend()
        if backend is self.fallback:  # SQLite: no Redis errors to catch (and no redis import)
            return getattr(backend, name)(*args)
        import redis

        try:
            return getattr(backend, name)(*args)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            self._mark_down(e)
            return getattr(self.fallback, name)(*args)
        except redis.ResponseError as e:
            if not _refuses_writes(e):
                raise
            self._mark_down(e)  # e.g. its disk is full: keep going on SQLite until it recovers
            return getattr(self.fallback, name)(*args)

    def ping(self) -> bool:
        """True when Redis answers now (tries a recovery if it was down)."""
        if self.primary is None:
            return False
        if self._down_since is not None:
            with self._lock:
                return self._try_recover()
        try:
            return bool(self.primary.ping())
        except Exception as e:  # noqa: BLE001 - any failure means "down"
            self._mark_down(e)
            return False

    def __getattr__(self, name: str):
        if name.startswith("_") or not hasattr(SqliteShortTerm, name):
            raise AttributeError(name)
        return lambda *args: self._call(name, *args)
