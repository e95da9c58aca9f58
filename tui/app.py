"""The memchat Textual app.

Startup is ordered so the first screen appears before anything slow loads: this module
imports only Textual and our widgets; after the first paint a thread worker opens the
MemoryStore (SQLite + Redis, ~0.7 s of imports) and the Assistant, then two more warm
litellm (~4 s) and the vector tier (chromadb, ~1 s) in the background. A message sent
before then waits visibly.

Env for benchmarks: ``MEMCHAT_FIRST_SCREEN_MARK=PATH`` writes "epoch_seconds max_rss_kb
cpu_seconds" when the first screen is shown; ``MEMCHAT_EXIT_ON_FIRST_SCREEN=1`` then exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui.screens.chat import ChatScreen

log = logging.getLogger("memchat.tui")


def _inspector() -> type[Screen]:
    """The inspector screen class, imported on first use (it is not part of the first paint)."""
    from tui.screens.inspector import InspectorScreen

    return InspectorScreen


HEALTH_SECONDS = 10.0
# A closed terminal (SIGHUP) or a kill (SIGTERM) ends the app within about this long: the reply
# streaming is cut (and kept), the worker stops at once (its task is re-run later), memory is
# closed. Past EXIT_DEADLINE a watchdog ends the process whatever is still running.
EXIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
SIGNAL_WORKER_STOP = 0.5
TURN_STOP_WAIT = 1.0
EXIT_DEADLINE = 2.5


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's executor for thread workers: one daemon thread per call, never joined.

    asyncio.run joins the default executor's threads when the app ends, so a thread still
    importing litellm (seconds) or blocked for good (a ``call_from_thread`` into an app that is
    gone) kept the process alive with no terminal. Whatever a worker thread has left to do
    when the app has closed memory is not worth waiting for: SQLite keeps every write atomic,
    and the worker's tasks are idempotent and re-run.
    """

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to whoever awaits it
                future.set_exception(e)

        threading.Thread(target=run, name="memchat-work", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # nothing to join: the threads are daemons


def _exit_now(code: int, cleanup_timeout: float | None = None) -> None:
    """Exit without the interpreter's teardown (seconds of freeing litellm, chromadb and
    onnxruntime, and Textual's output thread can hang on a terminal that is gone). The atexit
    handlers run first, at most ``cleanup_timeout`` s: they release an embedded Redis this
    process still holds (the last user shuts it down)."""
    import atexit

    cleanup = threading.Thread(target=atexit._run_exitfuncs, name="memchat-atexit", daemon=True)
    cleanup.start()
    cleanup.join(cleanup_timeout)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # the terminal is gone
    os._exit(code)


def _watchdog(sig: int, deadline: float) -> None:
    """End the process if a clean exit after ``sig`` takes longer than ``deadline`` seconds."""

    def run() -> None:
        time.sleep(deadline)
        log.warning("still running %.1fs after signal %d: exiting now", deadline, sig)
        _exit_now(128 + sig, cleanup_timeout=1.0)

    threading.Thread(target=run, name="memchat-exit-watchdog", daemon=True).start()


LATER_CSS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "styles_later.tcss")


class MemchatApp(App):
    CSS_PATH = "styles.tcss"  # the first screen's rules; the rest: LATER_CSS (load_later_css)
    TITLE = "memchat"
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "toggle_inspector", "Memory", id="inspector"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(self, *, start: str = "chat", warm: bool = True, worker: bool = True) -> None:
        super().__init__()
        self.start = start
        self.warm = warm
        self.run_worker_inside = worker  # the embedded huey consumer (settings.worker.embedded)
        self._consumer: Any = None
        self._consumer_lock = threading.Lock()
        self.settings: Any = None
        self.store: Any = None  # the current profile's store (see open_profile)
        self.root_store: Any = None  # the store opened at start; owns the connections
        self.assistant: Any = None
        self.backend_error: str | None = None
        self.model_problem: str | None = None
        self.library_ready = False
        self.vectors_ready = False
        self._first_screen_seen = False
        self.gc_paused = False  # run_app paused the garbage collector until the first screen
        self.exit_signal: int | None = None  # SIGHUP/SIGTERM that is ending the app
        self._draft_at_exit: str | None = None  # the unsent prompt, read as the app closes
        self.backend_settled = threading.Event()  # the store is open (or failed to open)

    def get_default_screen(self) -> Screen:
        self._chat_screen = ChatScreen()  # kept: at unmount the screen stack is already empty
        return self._chat_screen

    @property
    def chat(self) -> ChatScreen:
        """The chat screen (the bottom of the screen stack)."""
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        raise LookupError("no chat screen")

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(_DaemonExecutor())
        if not self.is_headless:
            # A closed terminal (SIGHUP) or a kill (SIGTERM) exits like ctrl+q, only faster:
            # the partial reply and the draft are kept, the embedded worker stops, memory is
            # synced and the private Redis shuts down if unused.
            for sig in EXIT_SIGNALS:
                try:
                    loop.add_signal_handler(sig, self._exit_on_signal, sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        if self.start == "inspector":
            self.push_screen(_inspector()())
        self.call_after_refresh(self._first_screen_shown)

    def load_later_css(self) -> None:
        """Read the rules for everything the first screen does not show (styles_later.tcss:
        messages, the conversation list, dialogs, the inspector). Called after the first paint
        and before any screen is pushed; only the new file is parsed, then the widgets already
        mounted are restyled. Leaving these 48 rules out of the first paint saves their parse
        (~4 ms)."""
        if self.stylesheet.has_source(LATER_CSS):
            return
        self.stylesheet.read(LATER_CSS)
        self.stylesheet.parse()
        self.stylesheet.update(self)

    def push_screen(self, *args: Any, **kwargs: Any) -> Any:
        self.load_later_css()  # a screen pushed before the first paint (F2 typed ahead, inspect)
        return super().push_screen(*args, **kwargs)

    def _exit_on_signal(self, sig: int) -> None:
        if self.exit_signal is None:
            self.exit_signal = sig
            log.info("signal %d: closing", sig)
            # Closing now: a second hangup or kill (a closed terminal sends more than one) is
            # ignored instead of killing the process halfway. The handlers are taken from the
            # loop, whose close would otherwise restore the default (die) action.
            loop = asyncio.get_running_loop()
            for other in EXIT_SIGNALS:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(other)
                    signal.signal(other, signal.SIG_IGN)
            _watchdog(sig, EXIT_DEADLINE)
            self._capture_draft()
        self.exit(return_code=128 + sig)

    async def action_quit(self) -> None:
        self._capture_draft()
        await super().action_quit()

    def _capture_draft(self) -> None:
        """Read the prompt while it is still mounted; on_unmount keeps it (_keep_draft)."""
        chat = getattr(self, "_chat_screen", None)
        if chat is None or self._draft_at_exit is not None:
            return
        try:
            if not chat.incognito:  # nothing of an incognito chat is kept
                self._draft_at_exit = chat.prompt.expanded(chat.prompt.text)
        except Exception as e:  # noqa: BLE001 - e.g. the screen is not composed yet
            log.debug("no draft to keep: %s", e)

    def _first_screen_shown(self) -> None:
        if self._first_screen_seen:
            return
        self._first_screen_seen = True
        mark = os.environ.get("MEMCHAT_FIRST_SCREEN_MARK")
        if mark:
            ru = resource.getrusage(resource.RUSAGE_SELF)
            with open(mark, "w") as f:
                f.write(f"{time.time()} {ru.ru_maxrss} {ru.ru_utime + ru.ru_stime}\n")
        if self.gc_paused:
            self.gc_paused = False
            resume_gc()
        self.load_later_css()
        if os.environ.get("MEMCHAT_EXIT_ON_FIRST_SCREEN") == "1":
            self.exit()
            return
        self._open_backend()

    # ------------------------------------------------------------------ backend, in threads
    @work(thread=True, exclusive=True, group="backend")
    def _open_backend(self) -> None:
        try:
            from assistant.assistant import Assistant
            from memory.logs import setup_logging
            from memory.store import MemoryStore
            from tui.settings import load_settings

            settings = load_settings()
            setup_logging(settings.log_dir)  # before anything can log (never onto the screen)
            store = MemoryStore(settings)
        except Exception as e:  # noqa: BLE001 - show it; the app stays open
            self.backend_settled.set()
            log.exception("could not open memory")
            self.call_from_thread(self._backend_failed, str(e))
            return
        self.backend_settled.set()
        if self._exit:  # closed while memory was opening: a store nobody will close
            store.close()
            return
        try:
            assistant = Assistant(store, llm_titles=settings.ui.llm_titles)
            problem = assistant.configuration_problem()
        except Exception as e:  # noqa: BLE001 - show it; the app stays open
            log.exception("could not open memory")
            self.call_from_thread(self._backend_failed, str(e))
            return
        # (mypy cannot infer call_from_thread's result type from a coroutine function)
        self.call_from_thread(self._backend_ready, settings, store, assistant, problem)  # type: ignore[arg-type]

    def _backend_failed(self, error: str) -> None:
        self.backend_error = error
        self.chat.status.memory = f"unavailable: {error}"
        self.chat.status.memory_ok = False
        self.chat.transcript.show_empty(f"[b red]memchat could not open its memory[/]\n\n{error}")

    async def _backend_ready(
        self, settings: Any, store: Any, assistant: Any, problem: str | None
    ) -> None:
        if self._exit or self.exit_signal is not None:  # the app is closing: nothing to show
            store.close()
            return
        self.settings, self.store, self.assistant, self.model_problem = (
            settings,
            store,
            assistant,
            problem,
        )
        self.root_store = store
        self._apply_ui_settings()
        for w in store.warnings:
            self.notify(w, severity="warning", timeout=8)
        self._show_short_term()
        await self.chat.backend_ready()
        inspector = sys.modules.get("tui.screens.inspector")  # not loaded: none is open
        if inspector is not None:
            for screen in self.screen_stack:
                if isinstance(screen, inspector.InspectorScreen):
                    screen.refresh_stats()
        if problem:
            self._show_first_run(problem)
        if self.warm:
            self._warm_library()
            self._warm_vectors()
        if self.run_worker_inside:
            self._start_consumer()
        self.set_interval(HEALTH_SECONDS, self._check_health)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Paste) and not event.is_forwarded:
            # Every input (prompt, search, dialogs) gets a paste without terminal escapes.
            from tui.widgets.safe_text import pasted

            event.text = pasted(event.text)
        await super().on_event(event)

    def _apply_ui_settings(self) -> None:
        ui = self.settings.ui
        if ui.theme and ui.theme != self.theme:
            if ui.theme in self.available_themes:
                self.theme = ui.theme
            else:
                self.notify(
                    f"Unknown theme {ui.theme!r} in the config; using {self.theme}.",
                    severity="warning",
                )
        if ui.keymap:
            self.set_keymap(dict(ui.keymap))

    def _show_first_run(self, problem: str) -> None:
        from memory.config import config_path
        from tui.screens.first_run import FirstRunScreen

        def chosen(what: str | None) -> None:
            if what == "pick":
                self.chat.action_pick_model()

        self.push_screen(FirstRunScreen(problem, str(config_path())), chosen)

    @work(thread=True, group="warm")
    def _warm_library(self) -> None:
        if self.assistant.ready:
            self.call_from_thread(self._library_warmed)
            return
        self.call_from_thread(self._set_loading)
        try:
            self.assistant.warm_up()
        except Exception as e:  # noqa: BLE001 - a turn reports it properly later
            log.warning("warming the model library failed: %s", e)
        self.call_from_thread(self._library_warmed)

    def _library_warmed(self) -> None:
        self.library_ready = True
        self._set_loading()

    @work(thread=True, group="warm")
    def _warm_vectors(self) -> None:
        try:
            _ = self.store.vectors
            self.store.index_pending()
        except Exception as e:  # noqa: BLE001 - recall falls back to lexical
            log.warning("vector index unavailable: %s", e)
        self.call_from_thread(self._vectors_warmed)

    def _vectors_warmed(self) -> None:
        self.vectors_ready = True
        self._set_loading()

    def _set_loading(self) -> None:
        parts = []
        if not self.library_ready:
            parts.append("loading model library…")
        if not self.vectors_ready:
            parts.append("loading memory index…")
        self.chat.status.loading_text = " ".join(parts)

    @work(thread=True, group="consumer")
    def _start_consumer(self) -> None:
        self._ensure_consumer()
        self._check_health()

    def _ensure_consumer(self) -> None:
        """Run the pipeline here unless another live consumer does (a `memchat worker`, or
        another window). Called at start and by every health check, so when that worker dies
        this app takes over. Worker thread only."""
        if not self.run_worker_inside or self.store is None:
            return
        with self._consumer_lock:
            if self._consumer is not None or self._exit:  # none is started as the app closes
                return
            try:
                from tasks.consumer import start_embedded
            except ImportError:
                return
            self._consumer = start_embedded(self.store)

    @work(thread=True, exclusive=True, group="health")
    def _check_health(self) -> None:
        store = self.store
        if store is None:
            return
        try:
            store.health.ping()
        except Exception as e:  # noqa: BLE001
            log.debug("health ping failed: %s", e)
        worker, tasks, to_review = "", None, 0
        try:
            from tasks import api as tasks_api

            other = self._consumer is None and tasks_api.worker_alive(store)
            st = store.short_term_status()
            redis_up = st.url is not None and not st.degraded
            if redis_up and self._consumer is None and not other:
                self._ensure_consumer()  # the worker that ran the pipeline is gone: take over
            worker = "worker ok" if self._consumer is not None or other else "no worker"
            tasks = tasks_api.pending_count(store)
        except Exception:  # noqa: BLE001 - the pipeline is optional here
            pass
        try:
            to_review = store.count_memories(status="pending")  # the Review tab's first queue
        except Exception as e:  # noqa: BLE001
            log.debug("review count failed: %s", e)
        self.call_from_thread(self._show_memory_health, worker, tasks, to_review)

    def _show_memory_health(
        self, worker: str | None = None, tasks: int | None = None, to_review: int = 0
    ) -> None:
        from textual.css.query import NoMatches

        try:
            self._show_short_term(worker)
        except NoMatches:  # a check that finished while the app was closing: no status bar
            return
        self.chat.status.tasks = tasks
        self.chat.status.to_review = to_review
        self.chat.refresh_sidebar()  # titles made by the background pipeline

    def _show_short_term(self, worker: str | None = None) -> None:
        short = self.store.short_term_status()
        status = self.chat.status
        status.memory_ok = not short.degraded
        status.memory = (
            short.mode if not short.degraded else f"degraded ({short.reason or 'SQLite only'})"
        )
        if worker is not None:
            status.worker = worker

    # ------------------------------------------------------------------ profiles
    @work(thread=True, exclusive=True, group="backend")
    def open_profile(self, name: str) -> None:
        """Scope memory and the assistant to profile ``name`` (same connections), then tell
        the chat screen. Nothing of another profile stays reachable through ``self.store``."""
        try:
            from assistant.assistant import Assistant

            root = self.root_store
            store = root if name == root.profile else root.for_profile(name)
            assistant = Assistant(store, llm_titles=store.settings.ui.llm_titles)
            problem = assistant.configuration_problem()
        except Exception as e:  # noqa: BLE001 - stay on the current profile
            log.exception("could not open profile %s", name)
            self.call_from_thread(
                self.notify, f"Could not open profile {name}: {e}", severity="error"
            )
            return
        self.call_from_thread(self._profile_ready, store, assistant, problem)  # type: ignore[arg-type]

    async def _profile_ready(self, store: Any, assistant: Any, problem: str | None) -> None:
        self.store, self.assistant, self.model_problem = store, assistant, problem
        self.settings = store.settings
        await self.chat.profile_changed()
        self._check_health()

    def tier_stats(self):
        return self.store.stats() if self.store is not None else None

    # ------------------------------------------------------------------ actions
    def action_toggle_inspector(self) -> None:
        inspector = _inspector()
        if isinstance(self.screen, inspector):
            self.pop_screen()
        elif isinstance(self.screen, ChatScreen):
            self.push_screen(inspector())

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(
            HelpScreen(help_sections(), dict(self.settings.ui.keymap) if self.settings else {})
        )

    def copy_text(self, text: str, what: str = "text") -> None:
        """System clipboard when a helper exists, OSC 52 always; never raises. The toast says
        which: OSC 52 alone cannot be confirmed (the terminal may ignore it)."""
        system = osc = False
        try:
            system = _system_copy(text)
        except Exception as e:  # noqa: BLE001
            log.debug("system clipboard failed: %s", e)
        try:
            self.copy_to_clipboard(text)
            osc = True
        except Exception as e:  # noqa: BLE001
            log.debug("OSC 52 copy failed: %s", e)
        if system:
            self.notify(f"Copied the {what}.")
        elif osc:
            self.notify(
                f"Sent the {what} to the terminal's clipboard (OSC 52); no clipboard tool "
                "(wl-copy, xclip, xsel, pbcopy) was found, so it works only if your terminal "
                "allows OSC 52.",
                severity="warning",
                timeout=6,
            )
        else:
            self.notify(f"Could not copy the {what}.", severity="error")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not isinstance(screen, ChatScreen):
            yield SystemCommand("Back to chat", "Close this screen", self.action_toggle_inspector)
            return
        chat = screen
        yield SystemCommand(
            "New conversation", "Start a fresh chat (ctrl+n)", chat.action_new_conversation
        )
        yield SystemCommand(
            "Rename conversation", "Rename the open conversation", chat.action_rename
        )
        yield SystemCommand(
            "Delete conversation", "Delete the open conversation (asks first)", chat.action_delete
        )
        yield SystemCommand(
            "Archive conversation", "Hide it from the list (or unarchive)", chat.action_archive
        )
        yield SystemCommand(
            "Show archived conversations",
            "Toggle archived chats in the list",
            chat.action_toggle_archived,
        )
        yield SystemCommand(
            "Search conversations", "Full-text and semantic (ctrl+f)", chat.action_search
        )
        yield SystemCommand(
            "Regenerate reply", "Answer the last prompt again (ctrl+r)", chat.action_regenerate
        )
        yield SystemCommand(
            "Edit last prompt", "Edit and resend the last prompt (ctrl+g)", chat.action_edit_last
        )
        yield SystemCommand("Stop reply", "Stop a streaming reply (Esc)", chat.action_stop)
        yield SystemCommand(
            "Pick model", "Model for this conversation (ctrl+o)", chat.action_pick_model
        )
        yield SystemCommand(
            "System prompt / persona", "For this conversation (ctrl+s)", chat.action_edit_persona
        )
        yield SystemCommand(
            "Toggle sidebar",
            "Show or hide the conversation list (ctrl+b)",
            chat.action_toggle_sidebar,
        )
        yield SystemCommand(
            "Focus messages",
            "Move to the last message to copy or inspect (ctrl+t)",
            chat.action_focus_transcript,
        )
        yield SystemCommand(
            "Switch profile",
            "Another profile's memories and chats (F3)",
            chat.action_switch_profile,
        )
        yield SystemCommand(
            "Toggle incognito",
            "A chat that reads memory and keeps nothing (F4)",
            chat.action_toggle_incognito,
        )
        yield SystemCommand(
            "Export conversation as Markdown",
            "To the export folder, as `memchat chat export` (F5)",
            lambda: chat.action_export("markdown"),
        )
        yield SystemCommand(
            "Export conversation as JSON",
            "To the export folder, as `memchat chat export --format json` (F5)",
            lambda: chat.action_export("json"),
        )
        yield SystemCommand(
            "Toggle memory for this conversation",
            "Memory off: nothing recalled into it, nothing learned from it (F8)",
            chat.action_toggle_memory,
        )
        yield SystemCommand(
            "Earlier answer",
            "Show the previous answer to the same prompt (← on a reply)",
            lambda: chat.action_flip_version(-1),
        )
        yield SystemCommand(
            "Later answer",
            "Show the next answer to the same prompt (→ on a reply)",
            lambda: chat.action_flip_version(1),
        )
        yield SystemCommand(
            "Remember this message",
            "Keep the focused (else the last) message as a memory (r on a message)",
            chat.action_remember,
        )
        yield SystemCommand(
            "Memory inspector", "Open the memory inspector (F2)", self.action_toggle_inspector
        )
        yield SystemCommand("Help: keys", "Every key (F1)", self.action_help)

    async def on_unmount(self) -> None:
        chat = getattr(self, "_chat_screen", None)
        if chat is not None and chat._cancel is not None:
            chat._cancel.set()  # the reply streaming stops; what came so far is kept
        # Under the lock: a consumer being started right now is stopped too (none starts later).
        with self._consumer_lock:
            consumer = self._consumer
        if consumer is not None:
            try:
                consumer.stop(timeout=SIGNAL_WORKER_STOP if self.exit_signal else 2)
            except Exception as e:  # noqa: BLE001
                log.warning("stopping the embedded worker: %s", e)
        if self.store is not None:
            if chat is not None:
                # the turn's thread stores the reply as cut off; an incognito one is waited for
                # longer, as it is deleted next
                await asyncio.to_thread(
                    chat.turn_idle.wait, 5 if chat._incognito_ids else TURN_STOP_WAIT
                )
                if chat._incognito_ids:  # an incognito chat is not kept
                    chat.discard_incognito()
                self._keep_draft()
            try:
                (self.root_store or self.store).close()
            except Exception as e:  # noqa: BLE001
                log.warning("closing memory: %s", e)

    def _keep_draft(self) -> None:
        """What was typed and not sent comes back in the prompt at the next start: the chat
        screen keeps the draft in the session state once typing pauses; this writes the last
        keystrokes too (an empty prompt clears it)."""
        if self._draft_at_exit is None:
            return
        from tui.screens.chat_extras import session_name

        try:
            self.store.set_session_state(session_name(), draft=self._draft_at_exit)
        except Exception as e:  # noqa: BLE001
            log.warning("could not keep the draft: %s", e)


def run_app(start: str = "chat") -> None:
    """Run the app. Ended by a signal, the process exits with 128 + the signal as soon as
    memory is closed (see _exit_now).

    The cyclic garbage collector is off until the first screen is painted (plain `memchat`
    turns it off before importing this module): the ~80k objects made until then are modules,
    classes and the widget tree, nearly all alive for the whole session, so the collections
    that ran meanwhile -- among them one full collection, which the bare Textual app stays just
    under -- found almost nothing and cost ~40 ms of the first screen. See resume_gc."""
    gc.disable()
    app = MemchatApp(start=start)
    app.gc_paused = True
    try:
        app.run()
    finally:
        resume_gc()
    if app.exit_signal is not None:
        app.backend_settled.wait(TURN_STOP_WAIT)  # a store still opening gets attached first
        _exit_now(128 + app.exit_signal)


def resume_gc() -> None:
    """Turn the collector back on, with what exists now moved out of its reach (gc.freeze):
    the startup objects stay alive anyway, so later collections (while a reply streams) need not
    walk them again. The few thousand cyclic leftovers of the start (well under 1 MB) are
    kept."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def help_sections() -> list[tuple[str, list[Binding]]]:
    from tui.screens.chat_extras import ExtrasMixin
    from tui.widgets.memories import MemoryRow
    from tui.widgets.message import MessageView
    from tui.widgets.prompt import PromptInput
    from tui.widgets.sidebar import ConversationList

    def keep(bindings: list) -> list[Binding]:
        return [b for b in bindings if isinstance(b, Binding) and b.id]

    palette = Binding(
        "ctrl+p", "command_palette", "Command palette: every action", id="command_palette"
    )
    return [
        ("Anywhere", [*keep(MemchatApp.BINDINGS), palette]),
        ("Chat", keep(ChatScreen.BINDINGS) + keep(ExtrasMixin.BINDINGS)),
        ("Prompt", keep(PromptInput.BINDINGS)),
        ("Conversation list", keep(ConversationList.BINDINGS)),
        ("A focused message (ctrl+t, then ↑/↓)", keep(MessageView.BINDINGS)),
        ("A memory under a reply (m expands, ↑/↓ moves)", keep(MemoryRow.BINDINGS)),
    ]


def _system_copy(text: str) -> bool:
    """Copy with the platform's clipboard tool, when there is one."""
    candidates: list[list[str]] = []
    if sys.platform == "darwin":
        candidates.append(["pbcopy"])
    if os.environ.get("WAYLAND_DISPLAY"):
        candidates.append(["wl-copy"])
    if os.environ.get("DISPLAY"):
        candidates += [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    for cmd in candidates:
        if shutil.which(cmd[0]):
            subprocess.run(
                cmd,
                input=text.encode(),
                timeout=2,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            return True
    return False
