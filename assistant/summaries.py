"""Summaries: a session summary when a conversation goes idle, rolling ones for long chats.

A summary is a memory in the ``summaries`` section whose provenance lists exactly the turns it
covers (raw turns -> summaries -> discrete facts, each linked). Which turns a conversation's
summaries already cover is a durable progress mark, so summarizing twice never duplicates.
This module only talks to the LLM and decides *what* to summarize; writes go through the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from assistant import prompts
from memory.models import Memory, Message

ROLLING_TURNS = 40  # summarize the oldest uncovered chunk once this many turns are uncovered
MIN_TURNS = 2  # an idle conversation needs at least this many new turns to get a summary

SYSTEM = """Summarize this part of a chat between a user and an assistant for the assistant's
long-term memory: 2-5 plain sentences, third person ("The user ..."), keeping names, decisions,
dates (absolute), preferences and open questions; no secrets. Answer with the summary only."""


@dataclass
class SummaryRun:
    memory: Memory | None
    covered: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


def _mark(conversation_id: str) -> str:
    return f"summarized:{conversation_id}"


def uncovered(store, conversation_id: str) -> list[Message]:
    """Turns of the conversation not yet covered by a summary, oldest first."""
    turns = [
        m
        for m in store.messages(conversation_id)
        if m.role in ("user", "assistant") and m.content.strip()
    ]
    last = store.get_mark(_mark(conversation_id))
    if last:
        ids = [m.id for m in turns]
        if last in ids:
            turns = turns[ids.index(last) + 1 :]
    return turns


def chunk_to_summarize(store, conversation_id: str, *, idle: bool) -> list[Message]:
    """The turns the next summary should cover: a rolling chunk, or everything when idle."""
    todo = uncovered(store, conversation_id)
    if len(todo) >= ROLLING_TURNS:
        return todo[:ROLLING_TURNS]
    if idle and len(todo) >= MIN_TURNS:
        return todo
    return []


def _text(turns: list[Message], boundary: str | None = None) -> str:
    """The turns to summarize in a fenced, escaped block (assistant.prompts): a turn cannot
    forge another turn, a role line or an instruction."""
    b = boundary or prompts.new_boundary()
    day = datetime.fromtimestamp(turns[0].created_at).strftime("%Y-%m-%d")
    body = "\n".join(prompts.entry("turn", m.content[:1500], role=m.role) for m in turns)
    return "\n".join(
        [
            f"Session of {day}:",
            prompts.data_note("turns", b, "the part of the chat to summarize, turn by turn"),
            prompts.fence("turns", b, body),
        ]
    )


def summarize(
    store, llm, conversation_id: str, *, idle: bool = True, actor: str = "worker:summarize"
) -> SummaryRun:
    """Summarize the next chunk of ``conversation_id`` (nothing when there is none)."""
    turns = chunk_to_summarize(store, conversation_id, idle=idle)
    if not turns:
        return SummaryRun(None, [])
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": _text(turns)}]
    text = (llm.complete(messages, max_tokens=400) or "").strip()
    p = llm.count_tokens(messages)
    c = llm.count_tokens([{"role": "assistant", "content": text}]) if text else 0
    covered = [m.id for m in turns]
    if not text:
        return SummaryRun(None, [], p, c, llm.cost(p, c))
    with store.atomic():
        mem = store.add_memory(
            text,
            section="summaries",
            actor=actor,
            reason=f"summary of {len(turns)} turns of {conversation_id}",
            tags=["session-summary"],
            importance=0.4,
            source_conversation_id=conversation_id,
            source_message_ids=covered,
            valid_from=turns[0].created_at,
        )
        store.set_mark(_mark(conversation_id), covered[-1])
    return SummaryRun(mem, covered, p, c, llm.cost(p, c))


__all__ = ["ROLLING_TURNS", "SummaryRun", "chunk_to_summarize", "summarize", "uncovered"]
