"""Conversations and their messages in SQLite. Every message is also recallable (episodic).

Every field written is redacted (``memory.secrets.redact_value``) so the returned record is
what was stored; the connection redacts every SQL parameter again (``memory.sqlite.db``)."""

from __future__ import annotations

import builtins
import json
from dataclasses import replace
from typing import Any

from memory.models import (
    Conversation,
    Message,
    ReplyVersion,
    ReplyVersions,
    UsedMemory,
    new_id,
    now,
)
from memory.secrets import redact_value
from memory.sqlite import fts
from memory.sqlite.db import Database
from memory.sqlite.long_term import outbox
from memory.sqlite.rows import (
    conversation_to_row,
    insert_sql,
    message_to_row,
    row_to_conversation,
    row_to_message,
)

# BM25 column weights in messages_ctx_fts: the two turns before count 0.6, the turn itself 1.
CONTEXT_WEIGHTS = "0.6, 1.0"
# "incognito" is not among them: an incognito conversation never has a row (memory.ephemeral)
_CONV_MUTABLE = {"title", "model", "system_prompt", "project", "archived", "memory_off"}
_MSG_MUTABLE = {
    "content",
    "status",
    "model",
    "used_memories",
    "prompt_tokens",
    "completion_tokens",
    "memory_tokens",
    "cost",
    "latency_ms",
    "error",
}


class Chats:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ conversations
    def create(self, c: Conversation) -> Conversation:
        if c.incognito:
            raise ValueError("an incognito conversation is never stored (see memory.ephemeral)")
        c = redact_value(c)
        with self.db.tx() as conn:
            sql, params = insert_sql("conversations", conversation_to_row(c))
            conn.execute(sql, params)
        return c

    def get(self, conversation_id: str, profile: str) -> Conversation:
        return row_to_conversation(
            self.db.by_id("conversations", conversation_id, profile, "conversation")
        )

    def update(self, conversation_id: str, profile: str, **changes: Any) -> Conversation:
        unknown = set(changes) - _CONV_MUTABLE
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        changes = redact_value(changes)
        c = replace(self.get(conversation_id, profile), **changes, updated_at=now())
        row = conversation_to_row(c)
        cols = [*changes, "updated_at"]
        with self.db.tx() as conn:
            conn.execute(
                f"UPDATE conversations SET {', '.join(f'{k} = ?' for k in cols)} WHERE id = ?",
                (*[row[k] for k in cols], c.id),
            )
        return c

    def delete(self, conversation_id: str, profile: str) -> int:
        """Delete a conversation and its messages (also from the vector index)."""
        c = self.get(conversation_id, profile)
        with self.db.tx() as conn:
            ids = [
                r[0]
                for r in conn.execute("SELECT id FROM messages WHERE conversation_id = ?", (c.id,))
            ]
            for mid in ids:
                outbox(conn, profile, "message", mid, "delete")
            conn.execute("DELETE FROM reply_versions WHERE conversation_id = ?", (c.id,))
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (c.id,))
            conn.execute("DELETE FROM conversations WHERE id = ?", (c.id,))
        return len(ids)

    def list(
        self, profile: str, *, archived: bool | None = False, limit: int = 200
    ) -> builtins.list[Conversation]:
        where = "profile = ?"
        params: builtins.list[Any] = [profile]
        if archived is not None:
            where += " AND archived = ?"
            params.append(int(archived))
        rows = self.db.query(
            f"SELECT * FROM conversations WHERE {where} ORDER BY updated_at DESC LIMIT ?",
            (*params, limit),
        )
        return [row_to_conversation(r) for r in rows]

    # ------------------------------------------------------------------ messages
    def add_message(self, m: Message) -> Message:
        m = redact_value(m)
        with self.db.tx() as conn:
            sql, params = insert_sql("messages", message_to_row(m))
            conn.execute(sql, params)
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (m.created_at, m.conversation_id),
            )
            if m.content.strip() and m.role in ("user", "assistant"):
                outbox(conn, m.profile, "message", m.id, "upsert")
        return m

    def update_message(self, message_id: str, profile: str, **changes: Any) -> Message:
        unknown = set(changes) - _MSG_MUTABLE
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        changes = redact_value(changes)
        m = replace(self.get_message(message_id, profile), **changes)
        row = message_to_row(m)
        with self.db.tx() as conn:
            conn.execute(
                f"UPDATE messages SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                (*[row[k] for k in changes], m.id),
            )
            if "content" in changes:
                outbox(conn, profile, "message", m.id, "upsert")
        return m

    def delete_message(self, message_id: str, profile: str) -> None:
        m = self.get_message(message_id, profile)
        with self.db.tx() as conn:
            conn.execute("DELETE FROM messages WHERE id = ?", (m.id,))
            outbox(conn, profile, "message", m.id, "delete")

    def get_message(self, message_id: str, profile: str) -> Message:
        return row_to_message(self.db.by_id("messages", message_id, profile, "message"))

    def messages(self, conversation_id: str, *, limit: int | None = None) -> builtins.list[Message]:
        """Messages oldest first; with ``limit``, the last ``limit`` of them."""
        if limit is None:
            rows = self.db.query(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY created_at, rowid",
                (conversation_id,),
            )
        else:
            rows = self.db.query(
                "SELECT * FROM (SELECT rowid AS _r, * FROM messages WHERE conversation_id = ? "
                "ORDER BY created_at DESC, rowid DESC LIMIT ?) ORDER BY created_at, _r",
                (conversation_id, limit),
            )
        return [row_to_message(r) for r in rows]

    def partial_texts(self, ids: builtins.list[str]) -> dict[str, str]:
        """id -> stored text of those messages that are partial (a reply cut off mid-stream)."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.query(
            f"SELECT id, content FROM messages WHERE id IN ({marks}) AND status = 'partial'",
            tuple(ids),
        )
        return {r["id"]: r["content"] for r in rows}

    def messages_by_ids(self, ids: builtins.list[str]) -> dict[str, Message]:
        out: dict[str, Message] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self.db.query(
                f"SELECT * FROM messages WHERE id IN ({','.join('?' * len(chunk))})", tuple(chunk)
            )
            out.update({r["id"]: row_to_message(r) for r in rows})
        return out

    def count_messages(self, profile: str) -> int:
        return int(
            self.db.scalar("SELECT COUNT(*) FROM messages WHERE profile = ?", (profile,)) or 0
        )

    def search_messages(
        self,
        profile: str,
        query: str,
        *,
        limit: int = 50,
        conversation_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[tuple[Message, float]]:
        """Lexical (FTS5 BM25) search over chat turns; higher score is better.

        ``since``/``until`` keep turns written in [since, until)."""
        return self._search(
            "messages_fts", "", profile, query, limit, conversation_id, since, until
        )

    def search_in_context(
        self,
        profile: str,
        query: str,
        *,
        limit: int = 50,
        conversation_id: str | None = None,
    ) -> builtins.list[tuple[Message, float]]:
        """Like :meth:`search_messages`, but each turn is read together with the two turns
        before it (their words count for less than the turn's own): an answer is found by the
        words of the question it answers."""
        return self._search(
            "messages_ctx_fts", CONTEXT_WEIGHTS, profile, query, limit, conversation_id, None, None
        )

    def _search(
        self,
        table: str,
        weights: str,
        profile: str,
        query: str,
        limit: int,
        conversation_id: str | None,
        since: float | None,
        until: float | None,
    ) -> builtins.list[tuple[Message, float]]:
        expr = fts.selective_match(self.db.conn, table, query)
        if not expr:
            return []
        where = "t.profile = ? AND t.role IN ('user', 'assistant')"
        params: builtins.list[Any] = [profile]
        for cond, value in (
            ("t.conversation_id = ?", conversation_id),
            ("t.created_at >= ?", since),
            ("t.created_at < ?", until),
        ):
            if value is not None:
                where += f" AND {cond}"
                params.append(value)
        rows = fts.ranked_rows(
            self.db, table, "messages", expr, where, tuple(params), limit, weights
        )
        return [(row_to_message(r), float(r["_score"])) for r in rows]

    def message_ids_between(
        self, profile: str, since: float, until: float, limit: int
    ) -> builtins.list[str]:
        """Ids of up to ``limit`` chat turns written in [since, until), oldest first."""
        rows = self.db.query(
            "SELECT id FROM messages WHERE profile = ? AND created_at >= ? AND created_at < ? "
            "AND role IN ('user', 'assistant') ORDER BY created_at LIMIT ?",
            (profile, since, until, limit),
        )
        return [r["id"] for r in rows]

    # ------------------------------------------------------------------ reply versions
    # Every answer to a regenerated prompt is kept as a row; the live reply (a message) holds
    # the text of the one shown: the newest, not yet a row, or the row marked ``selected``.
    def keep_reply_version(self, profile: str, prompt_id: str, reply: Message) -> None:
        """Keep ``reply`` (about to be replaced by a new answer) as a version; a reply that
        shows a kept version is that version already."""
        with self.db.tx() as conn:
            if not self._selected(conn, profile, prompt_id):
                self._insert_version(conn, profile, prompt_id, reply)
            conn.execute(
                "UPDATE reply_versions SET selected = 0 WHERE prompt_id = ? AND profile = ?",
                (prompt_id, profile),
            )

    def reply_versions(self, profile: str, prompt_id: str, live: Message | None) -> ReplyVersions:
        rows = self.db.query(
            "SELECT * FROM reply_versions WHERE prompt_id = ? AND profile = ? ORDER BY n",
            (prompt_id, profile),
        )
        versions = [
            ReplyVersion(r["id"], r["n"], r["content"], r["model"], r["status"], r["created_at"])
            for r in rows
        ]
        current = next((i for i, r in enumerate(rows) if r["selected"]), None)
        if current is None and live is not None:
            n = (rows[-1]["n"] if rows else 0) + 1
            versions.append(
                ReplyVersion(live.id, n, live.content, live.model, live.status, live.created_at)
            )
        return ReplyVersions(prompt_id, versions, len(versions) - 1 if current is None else current)

    def select_reply_version(
        self, profile: str, prompt_id: str, live: Message, version_id: str
    ) -> dict[str, Any]:
        """Mark version ``version_id`` as the one shown (keeping the live reply's own answer as
        a version first); returns the fields the live reply takes from it."""
        with self.db.tx() as conn:
            if not self._selected(conn, profile, prompt_id):
                self._insert_version(conn, profile, prompt_id, live)
            found = conn.execute(
                "SELECT 1 FROM reply_versions WHERE id = ? AND prompt_id = ? AND profile = ?",
                (version_id, prompt_id, profile),
            ).fetchone()
            if found is None:
                raise ValueError(f"no version {version_id} of this reply")
            conn.execute(
                "UPDATE reply_versions SET selected = (id = ?) WHERE prompt_id = ? AND profile = ?",
                (version_id, prompt_id, profile),
            )
        row = self.db.one("SELECT * FROM reply_versions WHERE id = ?", (version_id,))
        assert row is not None
        return {
            "content": row["content"],
            "model": row["model"],
            "status": row["status"],
            "used_memories": [UsedMemory(**u) for u in json.loads(row["used_memories"] or "[]")],
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "memory_tokens": row["memory_tokens"],
            "error": None,
        }

    def versioned_prompts(self, profile: str, conversation_id: str) -> builtins.list[str]:
        rows = self.db.query(
            "SELECT DISTINCT prompt_id FROM reply_versions WHERE conversation_id = ? AND profile = ?",
            (conversation_id, profile),
        )
        return [r["prompt_id"] for r in rows]

    def drop_reply_versions(self, profile: str, prompt_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "DELETE FROM reply_versions WHERE prompt_id = ? AND profile = ?",
                (prompt_id, profile),
            )

    @staticmethod
    def _selected(conn, profile: str, prompt_id: str) -> bool:
        return (
            conn.execute(
                "SELECT 1 FROM reply_versions WHERE prompt_id = ? AND profile = ? AND selected = 1",
                (prompt_id, profile),
            ).fetchone()
            is not None
        )

    @staticmethod
    def _insert_version(conn, profile: str, prompt_id: str, reply: Message) -> None:
        reply = redact_value(reply)
        n = conn.execute(
            "SELECT COALESCE(MAX(n), 0) FROM reply_versions WHERE prompt_id = ? AND profile = ?",
            (prompt_id, profile),
        ).fetchone()[0]
        row = {
            "id": new_id(),
            "profile": profile,
            "conversation_id": reply.conversation_id,
            "prompt_id": prompt_id,
            "source_message_id": reply.id,
            "n": n + 1,
            "content": reply.content,
            "model": reply.model,
            "status": reply.status,
            "used_memories": json.dumps([u.__dict__ for u in reply.used_memories]),
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "memory_tokens": reply.memory_tokens,
            "selected": 0,
            "created_at": reply.created_at,
        }
        sql, params = insert_sql("reply_versions", row)
        conn.execute(sql, params)
