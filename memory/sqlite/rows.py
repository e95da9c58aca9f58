"""Converters between SQLite rows and the dataclasses in memory.models."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from memory.models import Conversation, HistoryEntry, Memory, Message, UsedMemory

_MEMORY_FIELDS = [f.name for f in fields(Memory)]
_MESSAGE_FIELDS = [f.name for f in fields(Message)]
_CONV_FIELDS = [f.name for f in fields(Conversation)]


def memory_to_row(m: Memory) -> dict[str, Any]:
    row = {name: getattr(m, name) for name in _MEMORY_FIELDS}
    row["tags"] = json.dumps(sorted(set(m.tags)))
    row["source_message_ids"] = json.dumps(list(m.source_message_ids))
    row["pinned"] = int(bool(m.pinned))
    return row


def row_to_memory(row: dict[str, Any]) -> Memory:
    data = {k: row[k] for k in _MEMORY_FIELDS if k in row}
    data["tags"] = json.loads(row.get("tags") or "[]")
    data["source_message_ids"] = json.loads(row.get("source_message_ids") or "[]")
    data["pinned"] = bool(row.get("pinned"))
    return Memory(**data)


def message_to_row(m: Message) -> dict[str, Any]:
    row = {name: getattr(m, name) for name in _MESSAGE_FIELDS}
    row["used_memories"] = json.dumps([u.__dict__ for u in m.used_memories])
    return row


def row_to_message(row: dict[str, Any]) -> Message:
    data = {k: row[k] for k in _MESSAGE_FIELDS if k in row}
    data["used_memories"] = [UsedMemory(**u) for u in json.loads(row.get("used_memories") or "[]")]
    return Message(**data)


def conversation_to_row(c: Conversation) -> dict[str, Any]:
    row = {name: getattr(c, name) for name in _CONV_FIELDS}
    row["archived"] = int(c.archived)
    row["incognito"] = int(c.incognito)
    row["memory_off"] = int(c.memory_off)
    return row


def row_to_conversation(row: dict[str, Any]) -> Conversation:
    data = {k: row[k] for k in _CONV_FIELDS if k in row}
    data["archived"] = bool(row.get("archived"))
    data["incognito"] = bool(row.get("incognito"))
    data["memory_off"] = bool(row.get("memory_off"))
    return Conversation(**data)


def row_to_history(row: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        id=row["id"],
        memory_id=row["memory_id"],
        action=row["action"],
        actor=row["actor"],
        reason=row["reason"],
        before=json.loads(row["before"]) if row.get("before") else None,
        after=json.loads(row["after"]) if row.get("after") else None,
        at=row["at"],
    )


def insert_sql(table: str, row: dict[str, Any], *, replace: bool = False) -> tuple[str, tuple]:
    cols = list(row)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    return (
        f"{verb} INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
        tuple(row[c] for c in cols),
    )
