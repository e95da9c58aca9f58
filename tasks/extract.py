"""The extraction job: new chat turns -> LLM candidates -> consolidated memories.

Idempotent: the last message extracted per conversation is a durable mark written in the same
SQLite transaction as the memories (memory.curation.consolidation.apply), so a re-run, a retry or a
task recovered from a killed worker starts after it and never duplicates.
"""

from __future__ import annotations

import logging
import time

from huey.exceptions import RetryTask

from memory.models import Memory, Message
from tasks import queue
from tasks.queue import huey

log = logging.getLogger("memchat.tasks.extract")

CONTEXT_TURNS = 4  # already-processed turns shown to the model for context
NO_MODEL_WAIT = 60.0  # seconds between checks while no model is configured
LOCKED_WAIT = 1.0


def debounce_key(profile: str, conversation_id: str) -> str:
    return f"{queue.PREFIX}debounce:{profile}:{conversation_id}"


def mark_name(conversation_id: str) -> str:
    return f"extracted:{conversation_id}"


def llm_for(store, conversation_id: str | None = None):
    """An assistant.llm.LLM for background work on a conversation: the model (and API base) a
    chat turn in it would use (Assistant.model_choice). Raises NoModelConfigured."""
    from assistant.assistant import Assistant

    return Assistant(store, timeout=120).llm_for(conversation_id)


def _turns(store, conversation_id: str) -> tuple[list[Message], list[Message]]:
    """(already extracted turns, new turns) of a conversation, oldest first."""
    turns = [
        m
        for m in store.messages(conversation_id)
        if m.role in ("user", "assistant") and m.content.strip() and m.status != "partial"
    ]
    mark = store.get_mark(mark_name(conversation_id))
    ids = [m.id for m in turns]
    if mark in ids:
        cut = ids.index(mark) + 1
        return turns[:cut], turns[cut:]
    return [], turns


def pending_turns(store, conversation_id: str) -> int:
    return len(_turns(store, conversation_id)[1])


def skip_turns(store, conversation_id: str) -> int:
    """Mark every turn so far as handled without learning from it (the turns of a conversation
    whose memory was off); returns how many were skipped."""
    _done, new = _turns(store, conversation_id)
    if new:
        store.set_mark(mark_name(conversation_id), new[-1].id)
    return len(new)


def _dedupe(proposals):
    from memory.facades import Consolidation

    by_text, by_key = {}, {}
    for p in proposals:
        by_text[Consolidation.normalise(p.candidate.content)] = p
    for p in by_text.values():
        k = (p.candidate.key, p.candidate.entity_id) if p.candidate.key else id(p)
        by_key[k] = p
    return list(by_key.values())


def run_extract(profile: str, conversation_id: str, upto_message_id: str | None = None) -> dict:
    """Extract what is new in a conversation (up to its latest complete turn)."""
    from assistant.errors import NoModelConfigured
    from assistant.extraction import MalformedOutput, extract
    from memory.errors import NotFound

    store = queue.store_for(profile)
    key = debounce_key(profile, conversation_id)
    try:
        conv = store.get_conversation(conversation_id)
    except NotFound:
        return {"skipped": "conversation deleted"}
    if conv.incognito:  # only the app's embedded worker can see one (it shares the app's store)
        return {"skipped": "incognito"}
    if conv.memory_off:  # queued before memory was switched off: nothing is learned
        return {"skipped": "memory off"}
    try:
        llm = llm_for(store, conv.id)
    except NoModelConfigured as e:
        # Wait in the queue; later turns of this conversation coalesce into this task.
        queue.set_status("extract", f"waiting: {e}")
        queue.redis().set(key, upto_message_id or "", ex=int(NO_MODEL_WAIT * 2))
        raise RetryTask("no model configured", delay=NO_MODEL_WAIT) from None
    lock = f"extract:{profile}:{conversation_id}"
    if not queue.acquire(lock):
        raise RetryTask("another worker is extracting this conversation", delay=LOCKED_WAIT)
    queue.redis().delete(key)  # turns stored from now on queue a new task
    started = time.monotonic()
    try:
        done, new = _turns(store, conversation_id)
        if not new:
            return {"new_turns": 0}
        store.index_pending()
        probe = Memory(
            content=" ".join(m.content for m in new if m.role == "user")[:2000] or new[-1].content,
            profile=profile,
        )
        existing = store.consolidation.neighbours(probe, limit=8)
        try:
            run = extract(
                llm,
                new,
                context=done[-CONTEXT_TURNS:],
                existing=existing,
                profile=profile,
                conversation_id=conversation_id,
            )
        except MalformedOutput as e:
            queue.set_status("extract", f"last attempt failed: {e}")
            queue.add_stats(extract_malformed=1)
            raise
        decisions = []
        for p in _dedupe(run.proposals):
            near = {m.id: m for m in existing}
            near.update({m.id: m for m in store.consolidation.neighbours(p.candidate)})
            decisions.append(store.consolidation.decide(p, list(near.values())))
        store.consolidation.apply(
            decisions, actor="worker:extract", mark=(mark_name(conversation_id), new[-1].id)
        )
        store.index_pending()
    finally:
        queue.release(lock)
    counts = {a: sum(1 for d in decisions if d.action == a) for a in store.consolidation.ACTIONS}
    queue.add_stats(
        extract_runs=1,
        extract_prompt_tokens=run.prompt_tokens,
        extract_completion_tokens=run.completion_tokens,
        extract_cost=run.cost or 0,
        **{f"memories_{a}": n for a, n in counts.items()},
    )
    queue.set_status("extract", None)
    result = {
        "new_turns": len(new),
        "dropped": len(run.dropped),
        **counts,
        "seconds": round(time.monotonic() - started, 3),
    }
    queue.redis().hset(
        queue.PERIODIC, "extract", queue._dumps({"at": time.time(), "ok": True, "result": result})
    )
    return result


@huey.task(retries=3, retry_delay=10, retry_backoff=2, name="extract")
def extract(profile: str, conversation_id: str, upto_message_id: str | None = None) -> dict:
    """Extract memories from a conversation's new turns (huey task)."""
    return run_extract(profile, conversation_id, upto_message_id)


@huey.task(retries=2, retry_delay=30, retry_backoff=2, name="summarize")
def summarize(profile: str, conversation_id: str, idle: bool = True) -> dict:
    """Summarize a conversation that ended or went idle (huey task)."""
    from assistant.errors import NoModelConfigured
    from assistant.summaries import summarize as do_summarize

    store = queue.store_for(profile)
    conv = store.get_conversation(conversation_id)
    if conv.incognito:
        return {"skipped": "incognito"}
    if conv.memory_off:
        return {"skipped": "memory off"}
    lock = f"summarize:{profile}:{conversation_id}"
    if not queue.acquire(lock):
        return {"skipped": "locked"}
    try:
        try:
            llm = llm_for(store, conv.id)
        except NoModelConfigured as e:
            queue.set_status("summarize", f"waiting: {e}")
            return {"skipped": "no model"}
        run = do_summarize(store, llm, conversation_id, idle=idle)
        store.index_pending()
    finally:
        queue.release(lock)
    queue.add_stats(
        summary_runs=1 if run.memory else 0,
        summary_prompt_tokens=run.prompt_tokens,
        summary_completion_tokens=run.completion_tokens,
        summary_cost=run.cost or 0,
    )
    return {"summary": run.memory.id if run.memory else None, "turns": len(run.covered)}
