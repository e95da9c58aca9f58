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
regenerations, edits and titles. :meth:`Assistant.finish_turn` is the one end of a turn for
every caller: it titles the conversation and says whether extraction is due (the caller, the
top layer, enqueues it).

Incognito conversations read memory like any other; the store keeps them in this process's
memory only (memory.ephemeral), so nothing of them is written anywhere.
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
from assistant.llm import LLM, ModelChoice, choice_for, resolve_model
from assistant.settings import settings_for
from assistant.turns import Answer, Outcome, TokenCounter
from assistant.turns import ms_since as _ms
from memory.models import Conversation, Message, TurnEnd, TurnEvent

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
        llm_titles: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings_for(store)
        self.llm_titles = llm_titles  # ask the model for a title after the first exchange
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
                s = self.settings
                try:
                    self._default = resolve_model(
                        self._model or s.model, self._api_base or s.api_base
                    )
                except NoModelConfigured as e:
                    self._default, self._problem = None, str(e)
                self._resolved = True
            return self._default

    def model_choice(
        self, conversation_id: str | None = None, *, model: str | None = None
    ) -> ModelChoice | None:
        """The model (and API base) for a turn in this conversation -- ``model`` when the turn
        names one, else the conversation's, else the configured default; None when nothing is
        configured. Chat, ``memchat ask`` and the worker's extraction, summaries and titles all
        choose through here (see assistant.model_choice.choice_for)."""
        if not model and conversation_id:
            model = self.store.get_conversation(conversation_id).model
        return choice_for(model, self._default_choice())

    def llm_for(self, conversation_id: str | None = None) -> LLM:
        """A client for background work on this conversation; raises NoModelConfigured."""
        choice = self.model_choice(conversation_id)
        if choice is None:
            raise NoModelConfigured(self._problem or "")
        return LLM(choice, timeout=self.timeout, reply_timeout=self.settings.reply_timeout_seconds)

    def configuration_problem(self) -> str | None:
        """Why no model is configured (one actionable line), or None when one is."""
        return None if self._default_choice() is not None else self._problem

    def available_models(self) -> list[str]:
        s = self.settings
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
        memory_off: bool = False,
    ) -> Conversation:
        return self.store.new_conversation(
            title,
            model=model,
            system_prompt=system_prompt,
            incognito=incognito,
            project=project,
            memory_off=memory_off,
        )

    def set_memory_off(self, conversation_id: str, off: bool) -> Conversation:
        """Memory off (or on again) for a conversation: while off, nothing is recalled into
        its prompts and nothing is learned from its turns (the worker skips it)."""
        return self.store.update_conversation(conversation_id, memory_off=off)

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
                llm = LLM(
                    choice,
                    timeout=min(self.timeout, 30),
                    reply_timeout=min(self.settings.reply_timeout_seconds, 30),
                )
                raw = llm.complete(
                    titles.title_messages(first_user.content, reply.content), max_tokens=24
                )
                title = titles.clean_title(raw) or title
            except AssistantError as e:
                log.info("title from the first words (%s)", e)
        self.store.update_conversation(conv.id, title=title)
        return title

    # ------------------------------------------------------------------ the end of a turn
    def finish_turn(self, conversation_id: str, reply: Message | None) -> TurnEnd:
        """The end of every turn (the chat app's and ``memchat ask``'s), after its events ran.

        ``reply`` is the stored reply the turn ended with (its "done"/"error" event's message;
        None when none was stored). Then:

        - a conversation without a title gets the first words of its first prompt; when that
          happens with a reply to show and ``ui.llm_titles`` on, ``llm_title`` asks the caller
          to run :meth:`make_title` (at once, or in the background in a UI);
        - extraction is due only after a complete reply -- never after a cancelled or failed
          one, never in an incognito chat or one with memory off: ``extract_upto`` is then the
          reply's id, which the
          caller hands to ``tasks.api.enqueue_after_turn`` (the assistant never imports tasks).
        """
        conv = self.store.get_conversation(conversation_id)
        end = TurnEnd(conv.id)
        if not conv.title:
            first = next((m for m in self.store.messages(conv.id) if m.role == "user"), None)
            if first is not None:
                self.store.update_conversation(conv.id, title=titles.first_words(first.content))
                end.titled = True
                end.llm_title = (
                    not conv.incognito
                    and reply is not None
                    and bool(reply.content.strip())
                    and self.llm_titles
                )
        if (
            reply is not None
            and reply.status == "complete"
            and not conv.incognito
            and not conv.memory_off
        ):
            end.extract_upto = reply.id
        return end

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
        """Answer the last user message again; the replies after it are kept as earlier
        versions (``MemoryStore.reply_versions``) and leave the conversation."""
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
        if edit:  # the earlier answers answer another text
            self.store.drop_reply_versions(user.id)
        else:  # regenerate keeps the answers it replaces: flip between them as in ChatGPT
            for m in later:
                if m.role == "assistant" and m.content.strip():
                    self.store.keep_reply_version(user.id, m)
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
        problem: AssistantError | None
        try:
            choice = self.model_choice(conv.id, model=model)
        except AssistantError as e:
            choice, problem = None, e
        else:
            problem = None if choice is not None else NoModelConfigured(self._problem or "")
        if problem is not None or choice is None:
            problem = problem or NoModelConfigured(self._problem or "")
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
            use_memory=use_memory and not conv.memory_off,
            cancel=cancel,
            out=out,
            t0=t0,
            counter=self._counter,
            timeout=self.timeout,
            system_prompt=self.settings.system_prompt,
            reply_timeout=self.settings.reply_timeout_seconds,
        )


__all__ = ["Assistant"]
