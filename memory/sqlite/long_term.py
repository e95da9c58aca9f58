"""Long-term memories in SQLite: CRUD with an append-only history and an index outbox.

Every write to a memory appends a ``memory_history`` row and, in the same transaction, an
``index_outbox`` row telling the vector tier what to upsert or delete; a crash between SQLite
and Chroma is repaired by replaying the outbox.

Every field of what is written is redacted (``memory.secrets``): the record or the changes
here, so the returned ``Memory`` and its history snapshots are exactly what was stored, and
every SQL parameter again by the connection (``memory.sqlite.db``), which no write can bypass.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from dataclasses import replace
from typing import Any

from memory.models import SECTIONS, HistoryEntry, Memory, now
from memory.secrets import redact, redact_value
from memory.sqlite import fts
from memory.sqlite.db import Database
from memory.sqlite.rows import insert_sql, memory_to_row, row_to_history, row_to_memory

_MUTABLE = {
    "content",
    "section",
    "key",
    "value",
    "tags",
    "entity_type",
    "entity_id",
    "confidence",
    "importance",
    "pinned",
    "persistence",
    "status",
    "scope",
    "expires_at",
    "superseded_by",
    "valid_from",
    "valid_to",
    "deleted_at",
    "source_message_ids",
    "source_conversation_id",
}


# What a memory's vector is made of (memory.vectors.indexer.memory_doc: the text with its tags,
# and the metadata). Changing anything else (pin, importance, a future expiry, key/value) leaves
# the vector as it is, so it queues no re-embedding: `memory pin` has nothing to replay.
VECTOR_FIELDS = frozenset(
    {"content", "tags", "section", "entity_id", "source_conversation_id", "created_at"}
)


def _snapshot(m: Memory) -> dict[str, Any]:
    d = m.to_dict()
    for k in ("access_count", "last_accessed_at"):
        d.pop(k, None)
    return d


def outbox(conn: sqlite3.Connection, profile: str, kind: str, item_id: str, op: str) -> None:
    conn.execute(
        "INSERT INTO index_outbox (profile, kind, item_id, op, created_at) VALUES (?, ?, ?, ?, ?)",
        (profile, kind, item_id, op, now()),
    )


# The index each list order walks (named: with ANALYZE statistics, or without them for a newer
# index, SQLite picked one that matched the filter and then sorted every row of the profile).
_LIST_INDEX = {
    "updated_at": "memories_pinned_updated",
    "created_at": "memories_pinned_created",
    "importance": "memories_importance",
}


class LongTermMemories:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ history
    def _log(
        self, conn, m: Memory, action: str, actor: str, reason: str, before=None, after=None
    ) -> None:
        conn.execute(
            "INSERT INTO memory_history (memory_id, profile, at, action, actor, reason, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.id,
                m.profile,
                now(),
                action,
                actor,
                reason,
                json.dumps(before) if before is not None else None,
                json.dumps(after) if after is not None else None,
            ),
        )

    def history(self, memory_id: str) -> builtins.list[HistoryEntry]:
        rows = self.db.query(
            "SELECT * FROM memory_history WHERE memory_id = ? ORDER BY at, id", (memory_id,)
        )
        return [row_to_history(r) for r in rows]

    # ------------------------------------------------------------------ writes
    def add(self, m: Memory, *, actor: str = "user", reason: str = "") -> Memory:
        if m.section not in SECTIONS:
            raise ValueError(f"unknown section {m.section!r}; use one of: {', '.join(SECTIONS)}")
        m = redact_value(m)
        with self.db.tx() as conn:
            sql, params = insert_sql("memories", memory_to_row(m))
            conn.execute(sql, params)
            self._log(conn, m, "added", actor, reason, after=_snapshot(m))
            outbox(conn, m.profile, "memory", m.id, "upsert")
        return m

    def update(
        self,
        memory_id: str,
        profile: str,
        *,
        actor: str = "user",
        reason: str = "",
        action: str = "updated",
        **changes: Any,
    ) -> Memory:
        unknown = set(changes) - _MUTABLE
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        changes = redact_value(changes)
        with self.db.tx() as conn:
            before = self.get(memory_id, profile)
            after = replace(before, **changes, updated_at=now())
            row = memory_to_row(after)
            cols = [c for c in row if c in changes or c == "updated_at"]
            conn.execute(
                f"UPDATE memories SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                (*[row[c] for c in cols], before.id),
            )
            self._log(
                conn,
                after,
                action,
                actor,
                reason,
                before={k: _snapshot(before)[k] for k in cols if k != "updated_at"},
                after={k: _snapshot(after)[k] for k in cols if k != "updated_at"},
            )
            if before.is_live != after.is_live or (after.is_live and VECTOR_FIELDS & set(cols)):
                outbox(conn, profile, "memory", before.id, "upsert" if after.is_live else "delete")
        return after

    def pin(
        self, memory_id: str, profile: str, pinned: bool = True, *, actor: str = "user"
    ) -> Memory:
        """Pin or unpin (history says "pinned"/"unpinned")."""
        return self.update(
            memory_id,
            profile,
            actor=actor,
            action="pinned" if pinned else "unpinned",
            pinned=pinned,
        )

    def delete(
        self, memory_id: str, profile: str, *, actor: str = "user", reason: str = ""
    ) -> Memory:
        """Soft delete: hidden from recall at once, purged after the grace period."""
        return self.update(
            memory_id,
            profile,
            actor=actor,
            reason=reason,
            action="deleted",
            status="deleted",
            deleted_at=now(),
        )

    def restore(
        self, memory_id: str, profile: str, *, actor: str = "user", reason: str = "undo"
    ) -> Memory:
        return self.update(
            memory_id,
            profile,
            actor=actor,
            reason=reason,
            action="restored",
            status="active",
            deleted_at=None,
        )

    def purge(self, memory_id: str, profile: str, *, actor: str = "user", reason: str = "") -> None:
        """Remove the row for good (its history keeps only that it existed)."""
        with self.db.tx() as conn:
            m = self.get(memory_id, profile)
            conn.execute("DELETE FROM memories WHERE id = ?", (m.id,))
            self._log(conn, m, "purged", actor, reason)
            outbox(conn, profile, "memory", m.id, "delete")

    def supersede(
        self, old_id: str, new: Memory, *, actor: str = "worker", reason: str = ""
    ) -> Memory:
        """Add ``new`` and retire ``old_id``: it keeps its row and history, marked superseded."""
        with self.db.tx():
            new = self.add(new, actor=actor, reason=reason)
            self.update(
                old_id,
                new.profile,
                actor=actor,
                reason=reason or "superseded by a newer fact",
                action="superseded",
                superseded_by=new.id,
                valid_to=now(),
            )
        return new

    def touch(self, ids: builtins.list[str]) -> None:
        """Record that recall used these memories (no history row: too noisy)."""
        if not ids:
            return
        with self.db.tx() as conn:
            conn.executemany(
                "UPDATE memories SET access_count = access_count + 1, last_accessed_at = ? WHERE id = ?",
                [(now(), i) for i in ids],
            )

    # ------------------------------------------------------------------ reads
    def get(self, memory_id: str, profile: str) -> Memory:
        return row_to_memory(self.db.by_id("memories", memory_id, profile, "memory"))

    def get_many(self, ids: builtins.list[str]) -> dict[str, Memory]:
        out: dict[str, Memory] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT * FROM memories WHERE id IN ({','.join('?' * len(chunk))})"
            out.update({r["id"]: row_to_memory(r) for r in self.db.query(q, tuple(chunk))})
        return out

    def generation(self, profile: str) -> int:
        """A number that every write to ``profile``'s memories moves on (migration 13's
        triggers), to stamp what is cached from them."""
        return int(
            self.db.scalar("SELECT n FROM memory_generation WHERE profile = ?", (profile,)) or 0
        )

    def find_by_key(self, profile: str, section: str, key: str) -> Memory | None:
        key = redact(key)  # keys are stored redacted: ask for what a write stored
        row = self.db.one(
            "SELECT * FROM memories WHERE profile = ? AND section = ? AND key = ? AND status = 'active' "
            "AND superseded_by IS NULL ORDER BY updated_at DESC LIMIT 1",
            (profile, section, key),
        )
        return row_to_memory(row) if row else None

    def list(
        self,
        profile: str,
        *,
        section: str | None = None,
        status: str | None = "active",
        include_superseded: bool = False,
        limit: int = 100,
        offset: int = 0,
        order: str = "updated_at DESC",
    ) -> builtins.list[Memory]:
        where, params = self._where(profile, section, status, include_superseded)
        allowed = {
            "updated_at DESC",
            "created_at DESC",
            "importance DESC",
            "access_count DESC",
            "created_at ASC",
        }
        order = order if order in allowed else "updated_at DESC"
        # Pinned first, as two look-ups: ORDER BY pinned DESC, x DESC runs against the index
        # (profile, pinned, updated_at DESC), so SQLite sorted every live row of the profile
        # for each page (0.4-2 s at 100k memories); apart, each half walks its index in order
        # and stops at the page's end.
        few = "memories INDEXED BY memories_pinned_updated"  # few pinned, whatever ANALYZE says
        pinned = int(
            self.db.scalar(f"SELECT COUNT(*) FROM {few} WHERE {where} AND pinned = 1", params) or 0
        )
        rows: builtins.list[dict] = []
        if offset < pinned:
            rows = self.db.query(
                f"SELECT * FROM {few} WHERE {where} AND pinned = 1 ORDER BY {order} "
                "LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
        if len(rows) < limit:
            walk = _LIST_INDEX.get(order.split()[0], "memories_pinned_updated")
            rows += self.db.query(
                f"SELECT * FROM memories INDEXED BY {walk} WHERE {where} AND pinned = 0 "
                f"ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, limit - len(rows), max(0, offset - pinned)),
            )
        return [row_to_memory(r) for r in rows]

    def count(
        self, profile: str, *, section: str | None = None, status: str | None = "active"
    ) -> int:
        where, params = self._where(profile, section, status, False)
        return int(self.db.scalar(f"SELECT COUNT(*) FROM memories WHERE {where}", params) or 0)

    def from_conversation(self, profile: str, conversation_id: str) -> builtins.list[Memory]:
        """Live memories (active or pending, not superseded) learned from a conversation."""
        # named: without statistics SQLite took any (profile, ...) index, a walk of the profile
        rows = self.db.query(
            "SELECT * FROM memories INDEXED BY memories_source_conversation "
            "WHERE profile = ? AND source_conversation_id = ? "
            "AND status IN ('active', 'pending') AND superseded_by IS NULL "
            "ORDER BY pinned DESC, updated_at DESC",
            (profile, conversation_id),
        )
        return [row_to_memory(r) for r in rows]

    def counts_by_section(self, profile: str) -> dict[str, int]:
        rows = self.db.query(
            "SELECT section, COUNT(*) AS n FROM memories WHERE profile = ? AND status = 'active' "
            "AND superseded_by IS NULL GROUP BY section",
            (profile,),
        )
        return {r["section"]: r["n"] for r in rows}

    @staticmethod
    def _where(profile, section, status, include_superseded) -> tuple[str, tuple]:
        clauses, params = ["profile = ?"], [profile]
        if section:
            clauses.append("section = ?")
            params.append(section)
        if status:
            clauses.append("status = ?")
            params.append(status)
        if not include_superseded:
            clauses.append("superseded_by IS NULL")
        if status == "active":
            clauses.append("(expires_at IS NULL OR expires_at > ?)")
            params.append(now())
        return " AND ".join(clauses), tuple(params)

    def search(
        self, profile: str, query: str, *, limit: int = 50, live_only: bool = True
    ) -> builtins.list[tuple[Memory, float]]:
        """Lexical (FTS5 BM25) search; higher score is better."""
        expr = fts.selective_match(self.db.conn, "memories_fts", query)
        if not expr:
            return []
        where = "t.profile = ?"
        params: tuple[Any, ...] = (profile,)
        if live_only:
            where += (
                " AND t.status = 'active' AND t.superseded_by IS NULL "
                "AND (t.expires_at IS NULL OR t.expires_at > ?)"
            )
            params = (profile, now())
        rows = fts.ranked_rows(
            self.db,
            "memories_fts",
            "memories",
            expr,
            where,
            params,
            limit,
            weights="4.0, 2.0, 2.0, 1.0, 1.0",
        )
        return [(row_to_memory(r), float(r["_score"])) for r in rows]

    # ------------------------------------------------------------------ maintenance
    def always_on(self, profile: str, *, limit: int = 200) -> builtins.list[Memory]:
        """Live preferences and pinned memories of ``profile``: pinned first, then the most
        important, then the most recently changed."""
        # Two index look-ups: the OR of both filters walked every live row of the profile (~200 ms
        # at 100k memories, on every prompt). The indexes are named (INDEXED BY) because once
        # the cleanup's PRAGMA optimize has written ANALYZE statistics, SQLite takes the
        # importance index over the partial one (which has no statistics row when empty), a scan.
        # not _where(): its `status = ?` cannot use memories_pinned, whose condition names 'active'
        live = "profile = ? AND status = 'active' AND superseded_by IS NULL AND (expires_at IS NULL OR expires_at > ?)"
        at = now()
        rows = self.db.query(
            f"SELECT * FROM memories INDEXED BY memories_pinned WHERE pinned = 1 AND {live} "
            f"UNION SELECT * FROM memories INDEXED BY memories_profile_section "
            f"WHERE section = 'preferences' AND {live} "
            "ORDER BY pinned DESC, importance DESC, updated_at DESC LIMIT ?",
            (profile, at, profile, at, limit),
        )
        return [row_to_memory(r) for r in rows]

    def expiring(self, profile: str, *, limit: int = 50) -> builtins.list[Memory]:
        """Live memories of ``profile`` with an expiry still ahead, the soonest first."""
        rows = self.db.query(
            "SELECT * FROM memories INDEXED BY memories_expires WHERE profile = ? AND status = 'active' "
            "AND superseded_by IS NULL AND expires_at IS NOT NULL AND expires_at > ? ORDER BY expires_at LIMIT ?",
            (profile, now(), limit),
        )
        return [row_to_memory(r) for r in rows]

    def expire(self, *, actor: str = "worker:cleanup") -> builtins.list[str]:
        """Soft-delete memories whose expiry has passed; returns their ids."""
        rows = self.db.query(
            "SELECT id, profile FROM memories INDEXED BY memories_expires "
            "WHERE expires_at IS NOT NULL AND expires_at <= ? AND status = 'active'",
            (now(),),
        )
        for r in rows:
            self.update(
                r["id"],
                r["profile"],
                actor=actor,
                reason="expired",
                action="expired",
                status="deleted",
                deleted_at=now(),
            )
        return [r["id"] for r in rows]

    def purge_deleted(self, older_than_days: float, *, actor: str = "worker:cleanup") -> int:
        cutoff = now() - older_than_days * 86400
        rows = self.db.query(
            "SELECT id, profile FROM memories WHERE status = 'deleted' AND deleted_at <= ?",
            (cutoff,),
        )
        for r in rows:
            self.purge(r["id"], r["profile"], actor=actor, reason="grace period over")
        return len(rows)
