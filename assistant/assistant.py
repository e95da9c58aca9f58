"""The Assistant facade: one chat turn = store, recall, prompt, stream, store.

The TUI, the CLI and the worker all call this; it streams :class:`memory.models.TurnEvent`s
and never imports Textual or the tasks layer (callers enqueue background work after "done").

One turn (see :meth:`Assistant.turn`):

1. the user message goes to SQLite (and the session's recent turns) before any LLM work,
   so it is never lost;
2. memories are recalled for it, leaving out this conversation's own turns (they are in
   the prompt already);
3. :mod:`assistant.prompts` builds the prompt within the model's context window;
4. the reply streams through litellm; ``cancel`` stops it;
5. the reply is stored with the memories it used, token counts, cost and latency. A
   cancelled or failed stream is stored too, with its partial text and status
   "cancelled"/"failed" (and the error on failure).

Steps 2-5 live in :mod:`assistant.turns`; this module resolves models and runs turns,
regenerations, edits and titles.

Incognito conversations still read memory; writing nothing from them is the caller's job
(the CLI deletes its incognito conversation; the worker should skip them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from assistant import llm as llm_mod
from assistant import titles
from assistant.errors import AssistantError, NoModelConfigured
from assistant.llm import LLM, ModelChoice, provider_of, resolve_model
from assistant.turns import Answer, Outcome, TokenCounter
from assistant.turns import ms_since as _ms
from memory.models import Conversation, Message, TurnEvent

log = logging.getLogger("memchat.assistant")


class Assistant:
    """Chat turns over a :class:`memory.store.MemoryStore`; see the module docstring."""

    def __init__(
        self,
        store: Any,
        *,
        model: str | None = None,
        api_base: str | None = None,
        timeout: float = 60,
    ) -> None:
        self.store = store
        self._model = model
        self._api_base = api_base
        self.timeout = timeout
        self._default: ModelChoice | None = None
        self._problem: str | None = None
        self._resolved = False
        self._lock = threading.Lock()
        self._counter = TokenCounter()
        # ms per step of the last turn (store_user, recall, prompt, before_request, ...)
        self.last_timings: dict[str, float] = {}

    # ------------------------------------------------------------------ models
    def _default_choice(self) -> ModelChoice | None:
        with self._lock:
            if not self._resolved:
                s = self.store.settings
                try:
                    self._default = resolve_model(
                        self._model or s.model, self._api_base or s.api_base
                    )
                except NoModelConfigured as e:
                    self._default, self._problem = None, str(e)
                self._resolved = True
            return self._default

    def _choice_for(self, model: str) -> ModelChoice:
        """A model named by a conversation or a turn. The configured API base applies only to
        models of the same provider (or with no provider prefix)."""
        default = self._default_choice()
        if default is not None and model in (default.model, default.model.removeprefix("openai/")):
            return default
        prov = provider_of(model)
        if prov is not None and (default is None or prov != default.provider):
            base = llm_mod.ollama_base() if prov.startswith("ollama") else None
            return ModelChoice(model, base, "conversation")
        return resolve_model(
            model, default.api_base if default else None, probe_ollama=False, source="conversation"
        )

    def model_choice(self, conversation_id: str | None = None) -> ModelChoice | None:
        """The model a turn in this conversation would use; None when nothing is configured."""
        if conversation_id:
            conv = self.store.get_conversation(conversation_id)
            if conv.model:
                return self._choice_for(conv.model)
        return self._default_choice()

    def configuration_problem(self) -> str | None:
        """Why no model is configured (one actionable line), or None when one is."""
        return None if self._default_choice() is not None else self._problem

    def available_models(self) -> list[str]:
        s = self.store.settings
        return llm_mod.detect_models(self._model or s.model, self._api_base or s.api_base)

    def set_model(self, conversation_id: str, model: str | None) -> None:
        """Use ``model`` for this conversation from now on (None: back to the default)."""
        self.store.update_conversation(conversation_id, model=(model or "").strip() or None)

    @property
    def ready(self) -> bool:
        return llm_mod.is_loaded()

    def warm_up(self) -> None:
        """Import litellm and load the tokenizer (blocking: run it in a thread)."""
        llm_mod.warm_up()
        choice = self._default_choice()
        if choice is not None:
            LLM(choice).count_tokens([{"role": "user", "content": "hello"}])

    # ------------------------------------------------------------------ conversations
    def start_conversation(
        self,
        title: str = "",
        *,
        model: str | None = None,
        system_prompt: str | None = None,
        incognito: bool = False,
        project: str | None = None,
    ) -> Conversation:
        return self.store.new_conversation(
            title, model=model, system_prompt=system_prompt, incognito=incognito, project=project
        )

    def make_title(self, conversation_id: str) -> str:
        """A short title from the first exchange (LLM, else its first words), stored."""
        conv = self.store.get_conversation(conversation_id)
        msgs = self.store.messages(conv.id, limit=None)
        first_user = next((m for m in msgs if m.role == "user" and m.content.strip()), None)
        if first_user is None:
            return conv.title
        reply = next(
            (
                m
                for m in msgs
                if m.role == "assistant"
                and m.created_at >= first_user.created_at
                and m.content.strip()
            ),
            None,
        )
        title = titles.first_words(first_user.content)
        choice = self.model_choice(conv.id)
        if choice is not None and reply is not None:
            try:
                raw = LLM(choice, timeout=min(self.timeout, 30)).complete(
                    titles.title_messages(first_user.content, reply.content), max_tokens=24
                )
                title = titles.clean_title(raw) or title
            except AssistantError as e:
                log.info("title from the first words (%s)", e)
        self.store.update_conversation(conv.id, title=title)
        return title

    # ------------------------------------------------------------------ turns
    def turn(
        self,
        conversation_id: str,
        text: str,
        *,
        model: str | None = None,
        use_memory: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[TurnEvent]:
        """Answer ``text``; see :class:`memory.models.TurnEvent` for the events, in order."""
        return self._turn(conversation_id, text, model, use_memory, cancel, Outcome())

    def _turn(
        self,
        conversation_id: str,
        text: str,
        model: str | None,
        use_memory: bool,
        cancel: threading.Event | None,
        out: Outcome,
    ) -> Iterator[TurnEvent]:
        t0 = time.perf_counter()
        conv = self.store.get_conversation(conversation_id)
        user = self.store.add_message(conv.id, "user", text)
        out.timings["store_user_ms"] = _ms(t0)
        yield TurnEvent("user_stored", message=user)
        yield from self._answer(conv, user, text, model, use_memory, cancel, out, t0)

    def reply(self, conversation_id: str, text: str, **kw: Any) -> Message:
        """Run a whole turn; returns the stored reply or raises the turn's AssistantError."""
        out = Outcome()
        for _ in self._turn(
            conversation_id,
            text,
            kw.get("model"),
            kw.get("use_memory", True),
            kw.get("cancel"),
            out,
        ):
            pass
        if out.error is not None:
            raise out.error
        assert out.message is not None
        return out.message

    def regenerate(
        self,
        conversation_id: str,
        *,
        cancel: threading.Event | None = None,
        model: str | None = None,
        use_memory: bool = True,
    ) -> Iterator[TurnEvent]:
        """Answer the last user message again; the replies after it are deleted."""
        conv = self.store.get_conversation(conversation_id)
        user = self._last_user(conv.id)
        return self._again(conv, user, user.content, model, use_memory, cancel)

    def edit_last(
        self,
        conversation_id: str,
        new_text: str,
        *,
        cancel: threading.Event | None = None,
        model: str | None = None,
        use_memory: bool = True,
    ) -> Iterator[TurnEvent]:
        """Replace the last user message with ``new_text`` and answer it afresh."""
        conv = self.store.get_conversation(conversation_id)
        user = self._last_user(conv.id)
        if not new_text.strip():
            raise ValueError("the edited message is empty")
        return self._again(conv, user, new_text, model, use_memory, cancel, edit=True)

    def _again(
        self,
        conv: Conversation,
        user: Message,
        text: str,
        model: str | None,
        use_memory: bool,
        cancel: threading.Event | None,
        *,
        edit: bool = False,
    ) -> Iterator[TurnEvent]:
        t0 = time.perf_counter()
        out = Outcome()
        later = [
            m
            for m in self.store.messages(conv.id)
            if m.created_at >= user.created_at and m.id != user.id
        ]
        self._delete_messages(conv.id, later)
        if edit:
            user = self.store.update_message(user.id, content=text)
        out.timings["store_user_ms"] = _ms(t0)
        yield TurnEvent("user_stored", message=user)
        yield from self._answer(conv, user, text, model, use_memory, cancel, out, t0)

    def _last_user(self, conversation_id: str) -> Message:
        msgs = self.store.messages(conversation_id)
        for m in reversed(msgs):
            if m.role == "user":
                return m
        raise ValueError("this conversation has no user message to answer again")

    def _delete_messages(self, conversation_id: str, msgs: list[Message]) -> None:
        if msgs:
            self.store.delete_messages([m.id for m in msgs])

    # ------------------------------------------------------------------ the answer
    def _answer(
        self,
        conv: Conversation,
        user: Message,
        text: str,
        model: str | None,
        use_memory: bool,
        cancel: threading.Event | None,
        out: Outcome,
        t0: float,
    ) -> Iterator[TurnEvent]:
        self.last_timings = out.timings
        try:
            choice = self._choice_for(model) if model else self.model_choice(conv.id)
        except AssistantError as e:
            choice, problem = None, e
        else:
            problem = None if choice is not None else NoModelConfigured(self._problem or "")
        if problem is not None:
            out.error = problem
            yield TurnEvent("error", error=str(problem), error_type=type(problem).__name__)
            return
        if not self.ready:
            yield TurnEvent("waiting", text="Loading the model library (first message only)…")
            self.warm_up()
        yield from Answer(
            self.store,
            conv,
            user,
            text,
            choice,
            use_memory=use_memory,
            cancel=cancel,
            out=out,
            t0=t0,
            counter=self._counter,
            timeout=self.timeout,
        )


__all__ = ["Assistant"]
