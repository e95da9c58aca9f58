"""Extraction: the LLM reads new chat turns and proposes structured memory candidates.

The model gets the new turns (with their ids and dates), a little earlier context and the
nearest existing memories, and answers with JSON: facts, preferences and events (with absolute
dates), each with section, tags, entity, key, importance, confidence, source message ids and an
optional consolidation proposal (add / update / supersede / noop + the target memory id).

Output is never trusted: code fences are stripped, the first JSON object is cut out, pydantic
validates it; an unreadable answer raises :class:`MalformedOutput` (the task retries it), and
invalid items, trivia and anything containing a secret are dropped. Nothing here writes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from assistant import prompts
from memory.models import Memory, Message, Proposal
from memory.secrets import find_secrets

log = logging.getLogger("memchat.extraction")

MIN_IMPORTANCE = 0.2  # below this a candidate is trivia
MIN_CONFIDENCE = 0.4
MAX_CANDIDATES = 20

SYSTEM = """You maintain the long-term memory of a personal assistant.
Read the NEW TURNS of a chat and extract only durable, useful information about the user:
- preferences: what should shape EVERY answer -- likes, dislikes, how they want answers,
  and durable facts about the user: health and allergies, diet, family (partner, children,
  pets), the tools, languages and systems they use, their language and writing style
  (these go into every prompt, so keep each one short),
- facts (who they are, where they live, work, possessions, plans),
- events (things that happened or will happen, with an ABSOLUTE date).
Rules:
- Resolve relative dates ("last month", "yesterday", "next Friday") against the date of the
  turn and write absolute dates (e.g. "in May 2025", "on 2025-06-03"); put the date in "date".
- Skip small talk, questions, jokes, the assistant's own suggestions and anything temporary.
- Never record secrets: passwords, API keys, tokens, card or account numbers.
- Write each memory as one short standalone sentence in the third person ("The user ...").
- "key" is a stable snake_case name for the attribute (e.g. "home_city", "employer",
  "diet") so a later value can replace an earlier one; omit it for one-off events.
- Compare with EXISTING MEMORIES: use action "noop" when already known, "update" to add
  detail to one, "supersede" when the new turn contradicts or replaces one (target = its id),
  otherwise "add".
Answer with JSON only, exactly this shape:
{"memories": [{"content": "...", "section": "facts|preferences|events", "tags": ["..."],
  "entity": "user", "key": "home_city", "importance": 0.0-1.0, "confidence": 0.0-1.0,
  "date": "YYYY-MM-DD or null", "source_message_ids": ["<id>"], "action": "add|update|supersede|noop",
  "target": "<existing memory id or null>", "reason": "..."}]}
Answer {"memories": []} when there is nothing worth remembering."""


class MalformedOutput(Exception):
    """The model's answer could not be read as the extraction JSON (retryable)."""


class CandidateModel(BaseModel):
    content: str = Field(min_length=3, max_length=600)
    section: Literal["facts", "preferences", "events"] = "facts"
    tags: list[str] = Field(default_factory=list)
    entity: str | None = None
    key: str | None = None
    importance: float = Field(0.5, ge=0, le=1)
    confidence: float = Field(0.8, ge=0, le=1)
    date: str | None = None
    source_message_ids: list[str] = Field(default_factory=list)
    action: Literal["add", "update", "supersede", "noop"] | None = None
    target: str | None = None
    reason: str = ""

    @field_validator("tags", "source_message_ids", mode="before")
    @classmethod
    def _listify(cls, v):
        if v is None:
            return []
        return [v] if isinstance(v, str) else v

    @field_validator("section", "action", mode="before")
    @classmethod
    def _lower(cls, v):
        return v.strip().lower() if isinstance(v, str) else v


class ExtractionOutput(BaseModel):
    memories: list[dict] = Field(default_factory=list)


RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "memories",
        "schema": {
            "type": "object",
            "properties": {
                "memories": {"type": "array", "items": CandidateModel.model_json_schema()}
            },
            "required": ["memories"],
        },
    },
}


@dataclass
class ExtractionRun:
    proposals: list[Proposal]
    dropped: list[str] = field(default_factory=list)  # why items were rejected
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    raw: str = ""


# ------------------------------------------------------------------------------ parsing
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def parse(text: str) -> ExtractionOutput:
    """Read the model's answer; raises MalformedOutput when no valid JSON object is in it."""
    text = (text or "").strip()
    if not text:
        raise MalformedOutput("the model returned an empty answer")
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    decoder = json.JSONDecoder()
    obj = None
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                obj, _ = decoder.raw_decode(text, i)
                break
            except ValueError:
                continue
    if obj is None:
        # the answer's text stays out of the message: it is parked with the failed task in
        # Redis, a place forget does not reach; the (redacted, forgettable) log keeps a glimpse
        log.debug("no JSON object in the model's answer: %r", text[:120])
        raise MalformedOutput(f"no JSON object in the model's answer ({len(text)} characters)")
    if isinstance(obj, list):
        obj = {"memories": obj}
    try:
        return ExtractionOutput.model_validate(obj)
    except ValidationError as e:
        raise MalformedOutput(
            f"the model's JSON has the wrong shape: {e.errors()[0]['msg']}"
        ) from None


def _date_ts(value: str | None) -> float | None:
    if not value or str(value).lower() in ("null", "none", ""):
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return (
                datetime.strptime(str(value)[: len(fmt) + 2], fmt).replace(tzinfo=UTC).timestamp()
            )
        except ValueError:
            continue
    return None


def _resolve_sources(ids: list[str], turns: list[Message]) -> list[str]:
    out = []
    for raw in ids:
        r = str(raw).strip().lower()
        hits = [m.id for m in turns if m.id == r or (len(r) >= 4 and m.id.startswith(r))]
        if len(hits) == 1:
            out.append(hits[0])
    return (
        list(dict.fromkeys(out))
        or [m.id for m in turns if m.role == "user"]
        or [m.id for m in turns]
    )


def to_proposals(
    out: ExtractionOutput, turns: list[Message], *, profile: str, conversation_id: str
) -> tuple[list[Proposal], list[str]]:
    """Validated, secret-free, non-trivial proposals (and reasons for what was dropped)."""
    proposals: list[Proposal] = []
    dropped: list[str] = []
    for item in out.memories[:MAX_CANDIDATES]:
        try:
            c = CandidateModel.model_validate(item)
        except ValidationError as e:
            dropped.append(f"invalid item: {e.errors()[0]['msg']}")
            continue
        content = " ".join(c.content.split())
        if find_secrets(content) or any(find_secrets(t) for t in c.tags):
            dropped.append("contains a secret")
            continue
        if c.importance < MIN_IMPORTANCE or c.confidence < MIN_CONFIDENCE:
            dropped.append(f"trivia: {content[:40]}")
            continue
        key = re.sub(r"[^a-z0-9_]+", "_", c.key.lower()).strip("_") if c.key else None
        entity = (c.entity or "").strip().lower() or None
        mem = Memory(
            content=content,
            section=c.section,
            profile=profile,
            tags=[t.strip().lower() for t in c.tags if t and t.strip()][:8],
            key=key or None,
            entity_type="person" if entity else None,
            entity_id=entity,
            importance=c.importance,
            confidence=c.confidence,
            valid_from=_date_ts(c.date),
            source_conversation_id=conversation_id,
            source_message_ids=_resolve_sources(c.source_message_ids, turns),
        )
        proposals.append(Proposal(mem, c.action, c.target, c.reason.strip()[:200]))
    return proposals, dropped


# ------------------------------------------------------------------------------ prompting
def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def build_messages(
    turns: list[Message],
    context: list[Message],
    existing: list[Memory],
    *,
    boundary: str | None = None,
) -> list[dict]:
    """The extraction prompt. Every stored text (memories, their keys, turns) goes into a
    fenced, escaped block (assistant.prompts), so a turn cannot forge an id line, an
    ``EXISTING MEMORIES`` block or a tag, nor a key break out of its attribute."""
    b = boundary or prompts.new_boundary()
    memories = [
        prompts.entry("memory", m.content, id=m.id, section=m.section, key=m.key) for m in existing
    ]
    earlier = [prompts.entry("turn", m.content[:500], role=m.role) for m in context]
    new = [
        prompts.entry("turn", m.content, id=m.id, date=_stamp(m.created_at), role=m.role)
        for m in turns
    ]
    parts = [
        "EXISTING MEMORIES",
        prompts.data_note("existing-memories", b, "what is already remembered, with ids"),
        prompts.fence("existing-memories", b, "\n".join(memories) or "(none)"),
    ]
    if context:
        parts += [
            "\nEARLIER CONTEXT (already processed)",
            prompts.data_note("earlier-context", b, "earlier turns, for context only"),
            prompts.fence("earlier-context", b, "\n".join(earlier)),
        ]
    parts += [
        "\nNEW TURNS",
        prompts.data_note("new-turns", b, "the new turns to read, each with its id and date"),
        prompts.fence("new-turns", b, "\n".join(new)),
    ]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def extract(
    llm,
    turns: list[Message],
    *,
    context: Sequence[Message] = (),
    existing: Sequence[Memory] = (),
    profile: str = "default",
    conversation_id: str = "",
) -> ExtractionRun:
    """Ask ``llm`` (an assistant.llm.LLM) for candidates. Raises MalformedOutput or the LLM's
    AssistantError; returns proposals that are safe to consolidate."""
    messages = build_messages(list(turns), list(context), list(existing))
    text = llm.complete(messages, response_format=RESPONSE_FORMAT, max_tokens=1500)
    p = llm.count_tokens(messages)
    c = llm.count_tokens([{"role": "assistant", "content": text}]) if text else 0
    out = parse(text)
    proposals, dropped = to_proposals(
        out, list(turns), profile=profile, conversation_id=conversation_id
    )
    if dropped:
        log.info("extraction dropped %d item(s): %s", len(dropped), "; ".join(dropped))
    return ExtractionRun(proposals, dropped, p, c, llm.cost(p, c), text)


__all__ = ["ExtractionRun", "MalformedOutput", "build_messages", "extract", "parse", "to_proposals"]
