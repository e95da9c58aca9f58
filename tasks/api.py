"""What the top layer calls: enqueue work after a chat turn, and ask how the pipeline is doing.

``enqueue_after_turn`` never raises and never blocks on the LLM: it schedules a debounced
extraction (rapid turns coalesce into one task through a Redis key) and returns at once.
"""

from __future__ import annotations

import logging

from tasks import queue
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


def enqueue_after_turn(store, conversation_id: str, message_id: str | None = None) -> str | None:
    """Schedule extraction for a conversation's new turns. Returns "queued", "coalesced" (a
    queued task will pick this turn up) or None (incognito, or no Redis for the queue)."""
    from tasks.extract import debounce_key, extract

    try:
        if store.get_conversation(conversation_id).incognito:
            return None
        if not _bound(store):
            return None
        r = queue.redis()
        key = debounce_key(store.profile, conversation_id)
        if not r.set(key, message_id or "", nx=True, ex=DEBOUNCE_KEY_TTL):
            r.set(key, message_id or "", xx=True, ex=DEBOUNCE_KEY_TTL)
            return "coalesced"
        extract.schedule(
            (store.profile, conversation_id, message_id),
            delay=queue.debounce(),
            retries=queue.retries(),
            retry_delay=queue.retry_delay(),
        )
        return "queued"
    except Exception as e:  # noqa: BLE001 - chatting never fails because of the pipeline
        log.warning("could not queue extraction: %s", e)
        return None


def enqueue_summary(store, conversation_id: str) -> bool:
    """Summarize a conversation that just ended (and extract what is left)."""
    from tasks.maintenance import summarize_task

    if not _bound(store):
        return False
    try:
        summarize_task(store.profile, conversation_id, True)
        return True
    except Exception as e:  # noqa: BLE001
        log.warning("could not queue a summary: %s", e)
        return False


def pending_count(store) -> int:
    """Tasks waiting in the queue or scheduled for later."""
    s = snapshot(store)
    return int(s.get("queued", 0)) + int(s.get("scheduled", 0)) if s.get("available") else 0


def retry_failed(store, task_id: str | None = None) -> int:
    if not _bound(store):
        return 0
    return queue.retry_failed(task_id)


__all__ = [
    "enqueue_after_turn",
    "enqueue_summary",
    "pending_count",
    "retry_failed",
    "snapshot",
    "worker_alive",
]
