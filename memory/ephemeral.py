"""Incognito conversations: held in this store's process memory only, never in storage.

:class:`memory.store.MemoryStore` routes every id of an incognito conversation, and of its
messages, here. Nothing of such a chat reaches SQLite, Redis, Chroma or a log, so

- no other process (another shell's ``memchat ask``, the worker, a backup) can recall or
  copy it: it is not in any file;
- a crash (``kill -9``) leaves nothing behind: the memory goes with the process;
- this process's own recall never returns it either: recall searches storage only.

Closing or leaving the chat just drops it from here. Text is redacted as it would be in
SQLite, so the model sees the same history either way.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from memory.errors import NotFound
from memory.models import Conversation, Message, now
from memory.secrets import redact


class Ephemeral:
    """Incognito conversations and their messages, by id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._convs: dict[str, Conversation] = {}
        self._msgs: dict[str, list[Message]] = {}  # conversation id -> messages, in order
        self._owner: dict[str, str] = {}  # message id -> conversation id

    # ------------------------------------------------------------------ lookups
    def has_conversation(self, conversation_id: str | None) -> bool:
        return bool(conversation_id) and conversation_id in self._convs

    def has_message(self, message_id: str | None) -> bool:
        return bool(message_id) and message_id in self._owner

    def __len__(self) -> int:
        return len(self._convs)

    # ------------------------------------------------------------------ conversations
    def create(self, c: Conversation) -> Conversation:
        c = replace(
            c,
            incognito=True,
            title=redact(c.title),
            system_prompt=redact(c.system_prompt) if c.system_prompt else None,
        )
        with self._lock:
            self._convs[c.id] = c
            self._msgs[c.id] = []
        return c

    def get(self, conversation_id: str, profile: str) -> Conversation:
        c = self._convs.get(conversation_id)
        if c is None or c.profile != profile:
            raise NotFound(f"no conversation {conversation_id!r} in profile {profile!r}")
        return c

    def update(self, conversation_id: str, profile: str, **changes: Any) -> Conversation:
        changes.pop("incognito", None)  # it stays incognito: it has no stored form
        for k in ("title", "system_prompt"):
            if changes.get(k):
                changes[k] = redact(changes[k])
        with self._lock:
            c = replace(self.get(conversation_id, profile), **changes, updated_at=now())
            self._convs[c.id] = c
        return c

    def drop(self, conversation_id: str) -> int:
        """Forget a conversation and its messages; returns how many messages it had."""
        with self._lock:
            self._convs.pop(conversation_id, None)
            msgs = self._msgs.pop(conversation_id, [])
            for m in msgs:
                self._owner.pop(m.id, None)
        return len(msgs)

    # ------------------------------------------------------------------ messages
    def add_message(self, m: Message) -> Message:
        m = replace(m, content=redact(m.content))
        with self._lock:
            c = self._convs.get(m.conversation_id)
            if c is None:
                raise NotFound(f"no conversation {m.conversation_id!r}")
            self._msgs[c.id].append(m)
            self._owner[m.id] = c.id
            self._convs[c.id] = replace(c, updated_at=m.created_at)
        return m

    def get_message(self, message_id: str, profile: str) -> Message:
        with self._lock:
            cid = self._owner.get(message_id)
            found = [m for m in self._msgs.get(cid or "", []) if m.id == message_id]
        if not found or found[0].profile != profile:
            raise NotFound(f"no message {message_id!r} in profile {profile!r}")
        return found[0]

    def update_message(self, message_id: str, profile: str, **changes: Any) -> Message:
        if "content" in changes:
            changes["content"] = redact(changes["content"])
        with self._lock:
            old = self.get_message(message_id, profile)
            new = replace(old, **changes)
            msgs = self._msgs[old.conversation_id]
            msgs[msgs.index(old)] = new
        return new

    def delete_message(self, message_id: str, profile: str) -> Message:
        with self._lock:
            m = self.get_message(message_id, profile)
            self._msgs[m.conversation_id].remove(m)
            self._owner.pop(m.id, None)
        return m

    def messages(self, conversation_id: str, *, limit: int | None = None) -> list[Message]:
        """Messages oldest first; with ``limit``, the last ``limit`` of them."""
        with self._lock:
            msgs = sorted(self._msgs.get(conversation_id, []), key=lambda m: m.created_at)
        return msgs if limit is None else msgs[-limit:] if limit > 0 else []


__all__ = ["Ephemeral"]
