"""Chat turns for the chat screen: send, stream, stop, regenerate, edit-and-resend.

A turn runs in a thread worker that iterates the Assistant's TurnEvents and posts them to
the screen (deltas coalesced every ~30 ms, so a fast stream never floods the event loop),
then ends it with ``Assistant.finish_turn`` -- the same end as ``memchat ask`` -- and
enqueues the extraction that asks for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message as TMessage
from textual.screen import Screen
from textual.worker import get_current_worker

from tui.widgets.prompt import PromptInput

if TYPE_CHECKING:  # loaded after the first screen
    from memory.models import Conversation, TurnEnd, TurnEvent
    from tui.widgets.message import MessageView

log = logging.getLogger("memchat.tui")
FLUSH_SECONDS = 0.03


class TurnUpdate(TMessage):
    """One TurnEvent (deltas may be merged) for the turn in ``conversation_id``."""

    def __init__(self, event: TurnEvent, conversation_id: str | None, turn: int) -> None:
        self.event = event
        self.conversation_id = conversation_id
        self.turn = turn
        super().__init__()


class ConversationStarted(TMessage):
    def __init__(self, conversation: Conversation, turn: int) -> None:
        self.conversation = conversation
        self.turn = turn
        super().__init__()


class TurnFinished(TMessage):
    def __init__(self, turn: int, conversation_id: str | None, end: TurnEnd | None) -> None:
        self.turn = turn
        self.conversation_id = conversation_id
        self.end = end  # None when the turn broke before its end
        super().__init__()


def coalesce(events: Iterator[TurnEvent], interval: float | None = None) -> Iterator[TurnEvent]:
    """Merge consecutive deltas arriving within ``interval`` (default FLUSH_SECONDS) into one."""
    from memory.models import TurnEvent

    if interval is None:
        interval = FLUSH_SECONDS

    buf: list[str] = []
    last = time.monotonic()
    for ev in events:
        if ev.kind == "delta":
            buf.append(ev.text)
            now = time.monotonic()
            if now - last >= interval:
                yield TurnEvent("delta", text="".join(buf))
                buf.clear()
                last = now
            continue
        if buf:
            yield TurnEvent("delta", text="".join(buf))
            buf.clear()
        last = time.monotonic()
        yield ev
    if buf:
        yield TurnEvent("delta", text="".join(buf))


class TurnsMixin(Screen):
    """A base of ChatScreen (a Screen, so @on handlers register); uses its transcript,
    prompt, status and conversation_id."""

    _turn_no = 0
    _cancel: threading.Event | None = None
    _reply_view: MessageView | None = None
    _user_view: MessageView | None = None
    _queued: tuple[str, str] | None = None  # (mode, text) waiting for the store to open
    _incognito_ids: set[str]
    incognito = False
    memory_off = False  # for the open conversation (or the next new one): see chat_extras
    editing = False
    turn_idle: threading.Event  # clear while a turn's thread runs (the app waits on it at exit)

    @property
    def streaming(self) -> bool:
        return self._cancel is not None

    # ------------------------------------------------------------------ entry points
    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        if self.streaming:
            self.app.notify("A reply is still streaming — Esc stops it.", severity="warning")
            return
        mode = "edit" if self.editing else "send"
        self.set_editing(False)
        event.prompt.remember(event.text)
        event.prompt.clear()
        await self.start_turn(mode, event.text)

    async def start_turn(self, mode: str, text: str = "") -> None:
        """mode: "send", "edit" (replace the last prompt) or "regenerate"."""
        from tui.widgets.message import MessageView

        views = self.transcript.views()
        if mode in ("edit", "regenerate"):
            last_user = max((i for i, v in enumerate(views) if v.role == "user"), default=None)
            if last_user is None or self.conversation_id is None:
                self.app.notify("Nothing to answer again yet.", severity="warning")
                return
            cut = last_user if mode == "edit" else last_user + 1
            for v in views[cut:]:
                await v.remove()
            self._user_view = views[last_user] if mode == "regenerate" else None
        if mode != "regenerate":
            self._user_view = await self.transcript.add(MessageView("user", text))
        self._reply_view = await self.transcript.add(
            MessageView("assistant", "", status="streaming")
        )
        self._turn_no += 1
        self._cancel = threading.Event()
        self.status.activity = "streaming… (Esc stops)"
        store = self.app.store
        if store is None:
            self._reply_view.note("waiting for memory to open…")
            self._queued = (mode, text)
            return
        self._run_turn(
            mode, self.conversation_id, text, self._cancel, self._turn_no, self.incognito
        )

    def run_queued(self) -> None:
        """Called once the store is open: start a turn sent before that."""
        if self._queued is None or self._cancel is None:
            return
        mode, text = self._queued
        self._queued = None
        if self._reply_view is not None:
            self._reply_view.note("")
        self._run_turn(
            mode, self.conversation_id, text, self._cancel, self._turn_no, self.incognito
        )

    def action_stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.status.activity = "stopping…"
        elif self.editing:
            self.set_editing(False)
            self.prompt.clear()
        else:
            self.prompt.focus()

    async def action_regenerate(self) -> None:
        if self.streaming:
            return
        await self.start_turn("regenerate")

    def action_edit_last(self) -> None:
        if self.streaming:
            return
        users = [v for v in self.transcript.views() if v.role == "user"]
        if not users:
            self.app.notify("No prompt to edit yet.", severity="warning")
            return
        self.prompt.set_prompt(users[-1].text)
        self.set_editing(True)
        self.prompt.focus()

    def set_editing(self, on_: bool) -> None:
        self.editing = on_
        self.prompt.border_title = (
            "editing the last prompt — Enter resends, Esc cancels" if on_ else None
        )
        self.prompt.set_class(on_, "editing")

    # ------------------------------------------------------------------ the worker
    @work(thread=True, exclusive=True, group="turn")
    def _run_turn(
        self,
        mode: str,
        conversation_id: str | None,
        text: str,
        cancel: threading.Event,
        turn: int,
        incognito: bool = False,
    ) -> None:
        worker = get_current_worker()
        assistant = self.app.assistant
        end = None
        self.turn_idle.clear()
        try:
            if conversation_id is None:
                conv = assistant.start_conversation(
                    model=self.pending_model,
                    system_prompt=self.pending_persona,
                    incognito=incognito,
                    memory_off=self.memory_off,
                )
                if incognito:
                    self._incognito_ids.add(conv.id)
                conversation_id = conv.id
                self.post_message(ConversationStarted(conv, turn))
            if mode == "send":
                self._push_command(text, conversation_id)
                events = assistant.turn(conversation_id, text, cancel=cancel)
            elif mode == "edit":
                events = assistant.edit_last(conversation_id, text, cancel=cancel)
            else:
                events = assistant.regenerate(conversation_id, cancel=cancel)
            reply = None
            for ev in coalesce(events):
                if worker.is_cancelled:
                    cancel.set()
                self.post_message(TurnUpdate(ev, conversation_id, turn))
                if ev.kind in ("done", "error"):
                    reply = ev.message
            end = assistant.finish_turn(conversation_id, reply)
            if end.extract_upto is not None:
                self._enqueue_extraction(end)
        except Exception as e:  # noqa: BLE001 - a turn must never take the app down
            from memory.models import TurnEvent

            log.exception("chat turn failed")
            self.post_message(
                TurnUpdate(
                    TurnEvent(
                        "error", error=f"{type(e).__name__}: {e}", error_type=type(e).__name__
                    ),
                    conversation_id,
                    turn,
                )
            )
        finally:
            self.turn_idle.set()
            self.post_message(TurnFinished(turn, conversation_id, end))

    def _push_command(self, text: str, conversation_id: str) -> None:
        """Keep the prompt for up-arrow recall (the store keeps none from an incognito chat)."""
        try:
            self.app.store.push_command(text, conversation_id)
        except Exception as e:  # noqa: BLE001 - history is a nicety
            log.warning("could not save prompt history: %s", e)

    def _enqueue_extraction(self, end: TurnEnd) -> None:
        try:
            from tasks import api as tasks_api
        except ImportError:
            return
        try:
            tasks_api.enqueue_after_turn(self.app.store, end.conversation_id, end.extract_upto)
        except Exception as e:  # noqa: BLE001 - background work is optional for the chat
            log.warning("could not queue background memory work: %s", e)

    # ------------------------------------------------------------------ events on the UI thread
    @on(ConversationStarted)
    def _started(self, event: ConversationStarted) -> None:
        if event.turn == self._turn_no and self.conversation_id is None:
            self.conversation_id = event.conversation.id
            self.pending_model = self.pending_persona = None
            self.refresh_sidebar()
            self.save_session()  # chat_extras: a restart reopens it

    @on(TurnUpdate)
    async def _update(self, event: TurnUpdate) -> None:
        if event.turn != self._turn_no or event.conversation_id != self.conversation_id:
            return  # the user moved to another conversation; the store has it all
        ev, view = event.event, self._reply_view
        if view is None:
            return
        if ev.kind == "user_stored" and ev.message is not None and self._user_view is not None:
            self._user_view.message_id = ev.message.id
        elif ev.kind == "waiting":
            view.note(f"⏳ {ev.text or 'waiting for the model library…'}")
            self.status.activity = "waiting for the model library…"
        elif ev.kind == "recalled":
            view.note("")
            self.status.activity = "streaming… (Esc stops)"
            self.status.memory_tokens = ev.memory_tokens
            self.status.memory_counts = (len(ev.always), len(ev.hits))
            from tui.widgets.memories import MemoryItem

            items = [MemoryItem.from_hit(h) for h in (*ev.always, *ev.hits)]
            self.resolve_items(items)
            if view.memories is not None:
                view.memories.set_items(items, ev.memory_tokens)
        elif ev.kind == "delta":
            await view.append(ev.text)
        elif ev.kind in ("done", "error"):
            msg = ev.message
            await view.finish(msg.content if msg is not None else None)
            if msg is not None:
                view.message_id = msg.id
                view.set_status(msg.status, msg.model)
                self.refresh_versions(view)  # chat_extras: "‹ 2/2 ›" after a regenerate
                if view.memories is not None and view.memories.display:
                    view.memories.set_items(
                        view.memories.items, msg.memory_tokens, msg.prompt_tokens
                    )
            else:
                view.set_status("failed")
            if ev.kind == "error":
                view.note(f"⚠ {ev.error}", error=True)
            elif msg is not None and msg.status == "cancelled":
                view.note("stopped — the partial reply is kept")

    @on(TurnFinished)
    def _finished(self, event: TurnFinished) -> None:
        if event.turn != self._turn_no:
            return
        view = self._reply_view
        if view is not None and view.status == "streaming":  # ended without a stored reply
            stopped = self._cancel is not None and self._cancel.is_set()
            view.set_status("cancelled" if stopped else "failed")
        self._cancel = None
        self._reply_view = self._user_view = None
        self.status.activity = ""
        end = event.end
        if (end is not None and end.titled) or event.conversation_id == self.conversation_id:
            self.refresh_sidebar()
        if end is not None and end.llm_title:
            self._llm_title(end.conversation_id)

    @work(thread=True, group="titles")
    def _llm_title(self, conversation_id: str) -> None:
        """Replace the first-words title with a short one from the LLM (kept if that fails)."""
        try:
            self.app.assistant.make_title(conversation_id)
        except Exception as e:  # noqa: BLE001 - the first-words title stays
            log.info("no LLM title: %s", e)
            return
        self.app.call_from_thread(self.refresh_sidebar)
