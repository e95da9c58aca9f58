"""Jobs the queue could not take: kept in SQLite (memory.sqlite.deferred) and replayed later.

When Redis is down (killed, restarting, or REDIS_URL unreachable), ``tasks.api`` hands the
job to :func:`defer` instead of dropping it. :func:`replay` queues every kept job, oldest
first, and is called whenever the queue is known to work again: after the next successful
enqueue, when a consumer starts, and from the consumer's heartbeat every few seconds.
Jobs coalesce per conversation, and every task is idempotent, so replaying twice is harmless.
"""

from __future__ import annotations

import logging
import threading

from tasks import queue

log = logging.getLogger("memchat.tasks.outbox")

_replaying = threading.Lock()


def _task(name: str):
    from tasks.extract import extract, summarize

    return {"extract": extract, "summarize": summarize}.get(name)


def defer(store, name: str, args: list, key: str) -> bool:
    """Keep a job for later; False when even SQLite refused it (logged)."""
    try:
        store.defer_job(name, args, key)
        log.info("queue unavailable: %s %s kept in SQLite until Redis answers", name, key)
        return True
    except Exception as e:  # noqa: BLE001 - the caller's chat turn must not fail
        log.warning("could not keep %s %s for later: %s", name, key, e)
        return False


def replay(store=None) -> int:
    """Queue every deferred job (all profiles); returns how many were queued.

    Raises nothing: a job whose enqueue fails stays in SQLite for the next attempt.
    """
    if not _replaying.acquire(blocking=False):
        return 0  # another thread is replaying
    n = 0
    try:
        store = store or queue.store_for()
        for job in store.deferred_jobs():
            task = _task(job.name)
            if task is None:
                log.warning("dropping deferred job of unknown kind %r", job.name)
                store.deferred_done(job)
                continue
            t = task.s(job.profile, *job.args)
            t.retries, t.retry_delay = queue.retries(), queue.retry_delay()
            try:
                queue.huey.enqueue(t)
            except Exception as e:  # noqa: BLE001 - still down: keep it, try again later
                log.info("replay of deferred jobs postponed: %s", e)
                break
            store.deferred_done(job)
            n += 1
        if n:
            log.warning("queued %d background job(s) kept while Redis was down", n)
    except Exception as e:  # noqa: BLE001
        log.warning("replaying deferred jobs failed: %s", e)
    finally:
        _replaying.release()
    return n


CATCH_UP_KEY_TTL = 120  # as tasks.api.DEBOUNCE_KEY_TTL: a queued extraction holds this key


def catch_up(store) -> int:
    """Queue extraction for every conversation (all profiles) with turns newer than its
    extraction mark, unless one is queued already; returns how many were queued.

    SQLite is the system of record: a job the queue lost with its Redis data (a damaged AOF
    moved aside, a deleted ``redis/`` folder, a Redis flushed) is found again here, at every
    worker start, instead of at the next idle catch-up half an hour later. Extraction is
    idempotent (it starts after the mark), so a job queued twice does its work once.
    """
    from tasks.extract import debounce_key, extract, pending_turns

    r = queue.redis()
    known = _extractions_known()
    n = 0
    for profile in store.profiles():
        ps = queue.store_for(profile)
        for conv in ps.list_conversations(archived=None, limit=1_000_000):
            if (profile, conv.id) in known or not pending_turns(ps, conv.id):
                continue
            # The key a queued extraction holds (tasks.api.enqueue_after_turn): set, one is
            # waiting already.
            if not r.set(debounce_key(profile, conv.id), "", nx=True, ex=CATCH_UP_KEY_TTL):
                continue
            extract.schedule(
                (profile, conv.id, None),
                delay=0,
                retries=queue.retries(),
                retry_delay=queue.retry_delay(),
            )
            n += 1
    if n:
        log.warning("queued extraction for %d conversation(s) with turns not extracted", n)
    return n


def _extractions_known() -> set[tuple[str, str]]:
    """(profile, conversation) of every extraction the queue holds: queued, scheduled, or
    running (a dead consumer's running task is re-queued by queue.recover_orphans)."""
    import json

    tasks = [*queue.huey.pending(), *queue.huey.scheduled()]
    found = {
        (t.args[0], t.args[1]) for t in tasks if t.name.endswith("extract") and len(t.args) > 1
    }
    for raw in queue.redis().hgetall(queue.INFLIGHT).values():
        d = json.loads(raw)
        if str(d.get("name", "")).endswith("extract") and len(d.get("args") or []) > 1:
            found.add((d["args"][0], d["args"][1]))
    return found


def catch_up_quietly(store) -> int:
    """:func:`catch_up` that never raises (a worker starts whatever it finds)."""
    try:
        return catch_up(store)
    except Exception as e:  # noqa: BLE001
        log.warning("could not check for turns left unextracted: %s", e)
        return 0


def replay_if_any(store) -> int:
    """:func:`replay`, after a cheap check that something is waiting."""
    try:
        if not store.deferred_count(all_profiles=True):
            return 0
    except Exception:  # noqa: BLE001
        return 0
    return replay(store)


__all__ = ["catch_up", "catch_up_quietly", "defer", "replay", "replay_if_any"]
