"""What the top layer calls: enqueue work after a chat turn, and ask how the pipeline is doing.

``enqueue_after_turn`` never raises and never blocks on the LLM: it schedules a debounced
extraction (rapid turns coalesce into one task through a Redis key) and returns at once.
"""

from __future__ import annotations

import logging

import redis

from tasks import outbox, queue
from tasks.status import snapshot, worker_alive

log = logging.getLogger("memchat.tasks.api")

DEBOUNCE_KEY_TTL = 120  # a coalescing key outlives a lost task by at most this long


def _bound(store) -> bool:
    try:
        queue.bind(store, keep=True)
        return True
    except Exception as e:  # noqa: BLE001 - no Redis: messages stay recallable, nothing queued
        log.info("background pipeline unavailable: %s", e)
        return False


def skip_extraction(store, conversation_id: str) -> int:
    """Memory is on again in a conversation: the turns made while it was off are never
    learned (marked as handled); returns how many."""
    from tasks.extract import skip_turns

    return skip_turns(store, conversation_id)


def enqueue_after_turn(store, conversation_id: str, message_id: str | None = None) -> str | None:
    """Schedule extraction for a conversation's new turns. Returns "queued", "coalesced" (a
    queued task will pick this turn up), "deferred" (Redis is down: the job is kept in SQLite
    and queued when it answers) or None (it could not even be kept). Whether a turn is worth
    extracting (a complete reply, not incognito) is Assistant.finish_turn's decision."""
    from tasks.extract import debounce_key, extract

    args = [conversation_id, message_id]
    key = f"extract:{conversation_id}"
    try:
        if not _bound(store):
            return "deferred" if outbox.defer(store, "extract", args, key) else None
        r = queue.redis()
        dkey = debounce_key(store.profile, conversation_id)
        if not r.set(dkey, message_id or "", nx=True, ex=DEBOUNCE_KEY_TTL):
            r.set(dkey, message_id or "", xx=True, ex=DEBOUNCE_KEY_TTL)
            outcome = "coalesced"
        else:
            extract.schedule(
                (store.profile, conversation_id, message_id),
                delay=queue.debounce(),
                retries=queue.retries(),
                retry_delay=queue.retry_delay(),
            )
            outcome = "queued"
    except (redis.RedisError, OSError) as e:
        log.info("queue unavailable (%s): extraction kept for later", e)
        return "deferred" if outbox.defer(store, "extract", args, key) else None
    except Exception as e:  # noqa: BLE001 - chatting never fails because of the pipeline
        log.warning("could not queue extraction: %s", e)
        return None
    outbox.replay_if_any(store)  # the queue works: send what was kept while it did not
    return outcome


def enqueue_summary(store, conversation_id: str) -> bool:
    """Summarize a conversation that just ended (and extract what is left); True when queued
    or kept in SQLite for when Redis answers again."""
    from tasks.maintenance import summarize_task

    args = [conversation_id, True]
    key = f"summarize:{conversation_id}"
    if not _bound(store):
        return outbox.defer(store, "summarize", args, key)
    try:
        summarize_task(store.profile, conversation_id, True)
        return True
    except (redis.RedisError, OSError) as e:
        log.info("queue unavailable (%s): summary kept for later", e)
        return outbox.defer(store, "summarize", args, key)
    except Exception as e:  # noqa: BLE001
        log.warning("could not queue a summary: %s", e)
        return False


def pending_count(store) -> int:
    """Tasks waiting in the queue, scheduled for later, or kept in SQLite while Redis is down."""
    s = snapshot(store)
    return int(s.get("queued", 0)) + int(s.get("scheduled", 0)) + int(s.get("deferred", 0))


def catch_up(store) -> int:
    """Queue extraction again for conversations with turns not yet extracted (jobs a lost
    queue held); 0 without Redis. See tasks.outbox.catch_up."""
    if not _bound(store):
        return 0
    return outbox.catch_up(store)


def retry_failed(store, task_id: str | None = None) -> int:
    if not _bound(store):
        return 0
    return queue.retry_failed(task_id)


__all__ = [
    "catch_up",
    "enqueue_after_turn",
    "enqueue_summary",
    "pending_count",
    "retry_failed",
    "skip_extraction",
    "snapshot",
    "worker_alive",
]
