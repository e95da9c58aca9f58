"""Periodic jobs: sync, cleanup, reconcile, idle summaries (+ extraction catch-up), optimize, stats.

Each job works on every profile found in the database and records its last run and result
(or error) in Redis for ``memchat worker --status``. ``run_all_periodic`` runs them once,
in-process (``memchat worker --once``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from huey import crontab

from tasks import queue
from tasks.queue import huey

log = logging.getLogger("memchat.tasks.maintenance")

IDLE_SECONDS_DEFAULT = 30 * 60


def _record(name: str) -> Callable:
    """Run the job, store {at, ok, result|error, seconds} under its name, re-raise failures."""

    def wrap(fn: Callable[[], dict]) -> Callable[[], dict]:
        @functools.wraps(fn)
        def inner() -> dict:
            started = time.monotonic()
            entry: dict = {"at": time.time()}
            try:
                result = fn()
                entry.update(ok=True, result=result)
                return result
            except Exception as e:
                entry.update(ok=False, error=f"{type(e).__name__}: {e}")
                raise
            finally:
                entry["seconds"] = round(time.monotonic() - started, 3)
                try:
                    queue.redis().hset(queue.PERIODIC, name, queue._dumps(entry))
                except Exception:  # noqa: BLE001
                    pass

        return inner

    return wrap


# ------------------------------------------------------------------------------ jobs
@_record("sync")
def sync() -> dict:
    """Copy every active session's Redis state into SQLite (idempotent)."""
    base = queue.store_for()
    n = commands = 0
    for p in base.profiles():
        store = queue.store_for(p)
        for session, _at in store.active_sessions():
            store.sync_session_state(session)
            n += 1
        commands += store.sync_commands()
    return {"sessions": n, "commands": commands}


@_record("cleanup")
def cleanup() -> dict:
    """Expire temporaries, purge soft-deleted memories past the grace period, drop expired
    short-term copies, apply retention, and let SQLite optimize itself."""
    store = queue.store_for()
    settings = store.settings.memory
    expired = store.expire_temporaries()
    retired = 0
    if settings.retention_days:
        cutoff = time.time() - settings.retention_days * 86400
        for p in store.profiles():
            ps = queue.store_for(p)
            for m in ps.list_memories(limit=100_000):
                last = m.last_accessed_at or m.updated_at
                if not m.pinned and last < cutoff:
                    ps.delete_memory(
                        m.id,
                        actor="worker:cleanup",
                        reason=f"not used for {settings.retention_days} days (retention)",
                    )
                    retired += 1
    purged = store.purge_deleted(settings.purge_after_days)
    return {"expired": expired, "retention": retired, **purged}


@_record("reconcile")
def reconcile() -> dict:
    """Finish vector rebuilds a killed process left incomplete, replay the index outbox,
    re-queue tasks of dead consumers, repair SQLite <-> Chroma drift."""
    store = queue.store_for()
    recovered = queue.recover_orphans()
    finished = store.resume_rebuilds()
    applied = store.index_pending()
    vec = store.vectors
    repaired = {}
    if vec is not None:
        for p in store.profiles():
            ps = queue.store_for(p)
            if ps.vector_health().rebuilding:  # another process is rebuilding it right now
                continue
            have = vec.ids(p)
            want = {f"mem:{m.id}" for m in ps.list_memories(limit=1_000_000)}
            missing = len(want - {i for i in have if i.startswith("mem:")})
            extra = len({i for i in have if i.startswith("mem:")} - want)
            if missing or extra or vec.model_mismatch(p):
                log.warning(
                    "profile %s: %d memories missing from the vector index, %d stale; reindexing",
                    p,
                    missing,
                    extra,
                )
                ps.reindex()
                repaired[p] = {"missing": missing, "stale": extra}
    return {
        "outbox_applied": applied,
        "recovered_tasks": recovered,
        "repaired": repaired,
        "rebuilds_finished": finished,
    }


@_record("summarize_idle")
def summarize_idle() -> dict:
    """Summarize idle or long conversations; enqueue extraction for any left behind."""
    from assistant.summaries import chunk_to_summarize
    from tasks.extract import extract, pending_turns

    idle_after = queue.env_float("MEMCHAT_TASKS_IDLE_SECONDS", IDLE_SECONDS_DEFAULT)
    base = queue.store_for()
    summaries = catchup = 0
    for p in base.profiles():
        store = queue.store_for(p)
        for conv in store.list_conversations(archived=None, limit=10_000):
            if conv.memory_off:  # nothing is learned from it, nor summarized
                continue
            idle = time.time() - conv.updated_at > idle_after
            if chunk_to_summarize(store, conv.id, idle=idle):
                summarize_task(p, conv.id, idle)
                summaries += 1
            if idle and pending_turns(store, conv.id):
                extract.schedule(
                    (p, conv.id, None),
                    delay=0,
                    retries=queue.retries(),
                    retry_delay=queue.retry_delay(),
                )
                catchup += 1
    return {"summaries_queued": summaries, "extractions_queued": catchup}


def summarize_task(profile: str, conversation_id: str, idle: bool) -> None:
    from tasks.extract import summarize

    summarize.schedule(
        (profile, conversation_id, idle), delay=0, retries=2, retry_delay=queue.retry_delay()
    )


@_record("optimize")
def optimize() -> dict:
    """Merge exact duplicate memories; list near-duplicates for review (never merged blindly)."""
    merged, proposals = 0, []
    for p in queue.store_for().profiles():
        store = queue.store_for(p)
        exact, near = store.consolidation.duplicate_groups(store.list_memories(limit=100_000))
        for group in exact:
            store.consolidation.merge_exact(group)
            merged += len(group) - 1
        proposals += [
            {"profile": p, "a": a.id, "b": b.id, "overlap": score} for a, b, score in near
        ]
    queue.set_status(
        "optimize", f"{len(proposals)} near-duplicate pair(s) to review" if proposals else None
    )
    return {"merged": merged, "near_duplicates": proposals[:50]}


@_record("stats")
def stats() -> dict:
    """Counts per tier and section, plus the pipeline's running totals (tokens, cost, failures)."""
    base = queue.store_for()
    out: dict = {"profiles": {}}
    for p in base.profiles():
        tiers = queue.store_for(p).stats()
        out["profiles"][p] = {t.name: t.counts for t in tiers}
    raw = queue.redis().hgetall(queue.STATS)
    out["pipeline"] = {k.decode(): float(v) for k, v in raw.items()}
    out["failed_tasks"] = queue.redis().hlen(queue.FAILED)
    return out


JOBS: dict[str, Callable[[], dict]] = {
    "sync": sync,
    "cleanup": cleanup,
    "reconcile": reconcile,
    "summarize_idle": summarize_idle,
    "optimize": optimize,
    "stats": stats,
}


def run_all_periodic() -> dict[str, dict | str]:
    """Run every periodic job once, here and now; a failing job does not stop the others."""
    out: dict[str, dict | str] = {}
    for name, fn in JOBS.items():
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - reported per job
            out[name] = f"failed: {type(e).__name__}: {e}"
    return out


# ------------------------------------------------------------------------------ schedules
huey.periodic_task(crontab(minute="*"), name="periodic_sync")(sync)
huey.periodic_task(crontab(minute="17"), name="periodic_cleanup")(cleanup)
huey.periodic_task(crontab(minute="*/5"), name="periodic_reconcile")(reconcile)
huey.periodic_task(crontab(minute="*/5"), name="periodic_summarize_idle")(summarize_idle)
huey.periodic_task(crontab(minute="43"), name="periodic_optimize")(optimize)
huey.periodic_task(crontab(minute="*/15"), name="periodic_stats")(stats)
