"""Background jobs kept in SQLite while the queue's Redis is unreachable.

The memory layer knows nothing of huey: a job is a name, a JSON list of arguments and a
coalescing key (one pending job per key and profile -- ten turns typed during an outage leave
one "extract this conversation" job whose arguments are the newest). The tasks layer writes
here when an enqueue fails and replays the rows, oldest first, once Redis answers again.
Replaying is at-least-once: a row is deleted only after its job was queued, and every memchat
task is idempotent.
"""

from __future__ import annotations

import json
from typing import Any

from memory.models import DeferredJob, now
from memory.sqlite.db import Database


class DeferredJobs:
    def __init__(self, db: Database):
        self.db = db

    def add(self, profile: str, name: str, args: list[Any], key: str | None = None) -> int:
        """Keep a job; a pending job with the same key is updated instead (newest args win)."""
        t = now()
        key = key or f"{name}:{t}"
        with self.db.tx() as conn:
            row = conn.execute(
                "INSERT INTO job_outbox (profile, name, key, args, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (profile, key) DO UPDATE SET"
                " name = excluded.name, args = excluded.args, updated_at = excluded.updated_at,"
                " version = job_outbox.version + 1"
                " RETURNING id",
                (profile, name, key, json.dumps(args), t, t),
            ).fetchone()
        return int(row[0])

    def pending(self, *, profile: str | None = None, limit: int = 500) -> list[DeferredJob]:
        """Jobs waiting to be queued, oldest first (every profile unless one is given)."""
        where, params = ("WHERE profile = ?", (profile,)) if profile else ("", ())
        rows = self.db.query(
            f"SELECT * FROM job_outbox {where} ORDER BY id LIMIT {int(limit)}", params
        )
        return [
            DeferredJob(
                id=r["id"],
                profile=r["profile"],
                name=r["name"],
                key=r["key"],
                args=json.loads(r["args"]),
                created_at=r["created_at"],
                updated_at=r["updated_at"],
                version=r["version"],
            )
            for r in rows
        ]

    def count(self, profile: str | None = None) -> int:
        if profile:
            return int(
                self.db.scalar("SELECT COUNT(*) FROM job_outbox WHERE profile = ?", (profile,))
            )
        return int(self.db.scalar("SELECT COUNT(*) FROM job_outbox"))

    def done(self, job: DeferredJob) -> bool:
        """Drop a replayed job -- unless it was updated meanwhile (then it is replayed again)."""
        with self.db.tx() as conn:
            n = conn.execute(
                "DELETE FROM job_outbox WHERE id = ? AND version = ?",
                (job.id, job.version),
            ).rowcount
        return bool(n)


__all__ = ["DeferredJobs"]
