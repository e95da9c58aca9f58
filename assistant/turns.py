"""One reply, steps 2-5 of a turn: recall, prompt, stream, store (the Assistant runs it).

A cancelled or failed stream is stored too, with its partial text and status
"cancelled"/"failed" (and, on failure, the error, scrubbed of anything key-like). A context
window overflow before any text arrived is retried once with half the token budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant import prompts
from assistant.errors import AssistantError, ContextWindowExceeded, ProviderError, scrub
from assistant.llm import LLM, ModelChoice, StreamEvent
from memory.models import Conversation, Message, RecallFilters, RecallHit, TurnEvent, UsedMemory

log = logging.getLogger("memchat.assistant")

TOKEN_CACHE = 4096


@dataclass
class Outcome:
    """What a turn ended with, for :meth:`Assistant.reply` (events carry only strings)."""

    error: AssistantError | None = None
    message: Message | None = None
    timings: dict[str, float] = field(default_factory=dict)  # ms per step


def reply_reserve(window: int) -> int:
    """Tokens kept free for the reply: an eighth of the window, 512..4096."""
    return max(512, min(4096, window // 8))


def ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


class TokenCounter:
    """Per-message token counts, cached: history turns are counted once per model."""

    def __init__(self, size: int = TOKEN_CACHE) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, llm: LLM, msgs: list[dict[str, Any]]) -> int:
        if len(msgs) != 1:
            return llm.count_tokens(msgs)
        key = (llm.model, str(msgs[0]["role"]), str(msgs[0]["content"]))
        with self._lock:
            n = self._cache.get(key)
        if n is None:
            n = llm.count_tokens(msgs)
            with self._lock:
                self._cache[key] = n
                if len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return n


class Answer:
    """Answer ``user`` (already stored) in ``conv`` with ``choice``; iterate to run it."""

    def __init__(
        self,
        store: Any,
        conv: Conversation,
        user: Message,
        text: str,
        choice: ModelChoice,
        *,
        use_memory: bool,
        cancel: threading.Event | None,
        out: Outcome,
        t0: float,
        counter: TokenCounter,
        timeout: float,
        system_prompt: str,
        reply_timeout: float | None = None,
    ) -> None:
        self.store, self.conv, self.user, self.text, self.choice = store, conv, user, text, choice
        self.use_memory, self.cancel, self.out, self.t0 = use_memory, cancel, out, t0
        self._partial_id: str | None = None  # the reply row, once the first token arrived
        self._last_checkpoint = 0.0
        self.counter = counter
        self.system_prompt = system_prompt  # the configured default persona
        self.llm = LLM(choice, timeout=timeout, reply_timeout=reply_timeout)

    def _filters(self) -> RecallFilters:
        return RecallFilters(
            exclude_conversation_id=self.conv.id,
            context_conversation_id=self.conv.id,
            context_project=self.conv.project,
        )

    def _always(self) -> list[RecallHit]:
        """The preferences and pinned memories every prompt carries (memory.recall.always)."""
        if not self.use_memory or self.store.settings.memory.always_token_budget <= 0:
            return []
        try:
            return self.store.always_on(filters=self._filters())
        except Exception as e:  # noqa: BLE001 - a reply without them beats no reply
            log.warning("always-on memories unavailable: %s", e)
            return []

    def _recall(self, always: Sequence[RecallHit] = ()) -> list[RecallHit]:
        """Recalled memories, none of the always-on ones again (asked for that many more)."""
        if not self.use_memory:
            return []
        carried = {h.id for h in always}
        limit = self.store.settings.memory.recall_limit
        try:
            hits = self.store.recall(
                self.text,
                limit=limit + len(carried),
                filters=self._filters(),
                relevance_floor=-1,  # only what clears memory.relevance_floor enters the prompt
            )
        except Exception as e:  # noqa: BLE001 - a reply without memories beats no reply
            log.warning("recall failed, answering without memories: %s", e)
            return []
        return [h for h in hits if h.id not in carried][:limit]

    def _build(
        self,
        hits: list[RecallHit],
        history: list[dict[str, Any]],
        budget: int,
        always: Sequence[RecallHit] = (),
    ) -> prompts.Prompt:
        return prompts.build_prompt(
            system_prompt=self.conv.system_prompt or self.system_prompt,
            user_text=self.text,
            hits=hits,
            history=history,
            budget=budget,
            count=lambda msgs: self.counter(self.llm, msgs),
            always=always,
            always_budget=self.store.settings.memory.always_token_budget,
        )

    def __iter__(self) -> Iterator[TurnEvent]:
        out, timings = self.out, self.out.timings
        t = time.perf_counter()
        always = self._always()
        hits = self._recall(always)
        timings["recall_ms"] = ms_since(t)
        n = self.store.settings.memory.recent_turns
        history = [
            h for h in self.store.recent_turns(self.conv.id, n) if h.get("id") != self.user.id
        ]
        t = time.perf_counter()
        window = self.llm.context_window()
        budget = window - reply_reserve(window)
        prompt = self._build(hits, history, budget, always)
        timings["prompt_ms"] = ms_since(t)
        yield TurnEvent(
            "recalled", hits=prompt.used, memory_tokens=prompt.memory_tokens, always=prompt.always
        )

        parts: list[str] = []
        usage: StreamEvent | None = None
        error: AssistantError | None = None
        retried = False
        t_req = time.perf_counter()
        timings["before_request_ms"] = ms_since(self.t0)
        try:
            while True:
                try:
                    for ev in self.llm.stream(prompt.messages, cancel=self.cancel):
                        if ev.kind == "usage":
                            usage = ev
                            continue
                        if not parts:
                            timings["first_token_ms"] = ms_since(self.t0)
                        parts.append(ev.text)
                        self._checkpoint(parts)
                        yield TurnEvent("delta", text=ev.text)
                    break
                except ContextWindowExceeded as e:
                    if parts or retried:
                        error = e
                        break
                    retried = True  # trim harder (half the budget) and retry once
                    prompt = self._build(hits, history, max(256, budget // 2), always)
                except AssistantError as e:
                    error = e
                    break
                except Exception as e:  # a bug or an unmapped failure: keep the partial reply
                    log.exception("reply stream failed")
                    error = ProviderError(
                        f"{self.choice.model}: unexpected {type(e).__name__}: {e}"
                    )
                    break
        except GeneratorExit:  # the caller stopped listening: keep what arrived, as cancelled
            self._store(prompt, parts, None, None, "cancelled", t_req)
            raise
        cancelled = usage is None and self.cancel is not None and self.cancel.is_set()
        status = "failed" if error else ("cancelled" if cancelled else "complete")
        msg = self._store(prompt, parts, usage, error, status, t_req)
        timings["total_ms"] = ms_since(self.t0)
        if error is not None:
            out.error = error
            yield TurnEvent("error", message=msg, error=msg.error, error_type=type(error).__name__)
        else:
            yield TurnEvent("done", message=msg)

    CHECKPOINT_SECONDS = 0.5

    def _checkpoint(self, parts: list[str]) -> None:
        """Keep the reply so far in SQLite as 'partial', so a crash mid-stream loses nothing."""
        now = time.monotonic()
        if self._partial_id is None:
            msg = self.store.add_message(
                self.conv.id, "assistant", "".join(parts), status="partial", model=self.choice.model
            )
            self._partial_id, self._last_checkpoint = msg.id, now
        elif now - self._last_checkpoint >= self.CHECKPOINT_SECONDS:
            self.store.checkpoint_message(self._partial_id, "".join(parts))
            self._last_checkpoint = now

    def _store(
        self,
        prompt: prompts.Prompt,
        parts: list[str],
        usage: StreamEvent | None,
        error: AssistantError | None,
        status: str,
        t_req: float,
    ) -> Message:
        content = "".join(parts)
        if usage is not None:
            completion = usage.completion_tokens
        else:
            completion = (
                self.llm.count_tokens([{"role": "assistant", "content": content}]) if content else 0
            )
        fields = dict(
            status=status,
            model=self.choice.model,
            used_memories=[UsedMemory(h.id, h.score, h.kind, always=True) for h in prompt.always]
            + [UsedMemory(h.id, h.score, h.kind) for h in prompt.used],
            prompt_tokens=usage.prompt_tokens if usage else prompt.tokens,
            completion_tokens=completion,
            memory_tokens=prompt.memory_tokens,
            cost=usage.cost if usage else None,
            latency_ms=ms_since(t_req),
            error=scrub(str(error)) if error else None,
        )
        if self._partial_id is not None:
            msg = self.store.update_message(self._partial_id, content=content, **fields)
        else:
            msg = self.store.add_message(self.conv.id, "assistant", content, **fields)
        self.out.message = msg
        return msg


__all__ = ["Answer", "Outcome", "TokenCounter", "reply_reserve"]
