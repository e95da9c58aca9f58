"""The Short-term tab: temporary memories (recalled until they expire; ``a`` adds one), active
sessions with their state and recent turns, and temporary values, each with a live countdown
(re-read every few seconds, counted down every second)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.screens.dialogs import TextDialog
from tui.widgets.delivery import while_shown
from tui.widgets.inspector.format import ago, countdown, one_line
from tui.widgets.safe_text import plain

if TYPE_CHECKING:
    from textual import getters

    from tui.app import MemchatApp

REREAD_SECONDS = 5.0


class ShortTermTab(VerticalScroll):
    if TYPE_CHECKING:
        app = getters.app(MemchatApp)
    BINDINGS = [Binding("a", "add_temporary", "Remember for…", id="shortterm_add")]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.data: dict | None = None
        self.read_at = 0.0
        self.frozen_now: float | None = None  # snapshot tests stop the clock

    def compose(self) -> ComposeResult:
        yield Static("reading Redis…", id="st-body")

    def reload(self) -> None:
        if self.app.store is not None:
            self._load()

    def tick(self) -> None:
        """Every second: count TTLs down; re-read Redis every few seconds."""
        if time.monotonic() - self.read_at > REREAD_SECONDS:
            self.reload()
        elif self.data is not None:
            self._draw()

    @work(thread=True, exclusive=True, group="st-load")
    def _load(self) -> None:
        store = self.app.store
        short = store.short_term_status()
        sessions = []
        for sid, last in store.active_sessions()[:20]:
            try:
                title = store.get_conversation(sid).title or "untitled chat"
            except Exception:  # noqa: BLE001 - a session without a stored conversation
                title = sid[:8]
            sessions.append(
                {
                    "id": sid,
                    "title": title,
                    "last": last,
                    **store.session_view(sid, 4),
                }
            )
        at = time.time()
        temps = [(k, v, at + ttl if ttl is not None else None) for k, v, ttl in store.temporaries()]
        memories = [(m.id, m.content, m.expires_at) for m in store.expiring_memories()]
        data = {
            "memories": memories,
            "mode": short.mode,
            "degraded": short.reason if short.degraded else None,
            "sessions": sessions,
            "temps": temps,
        }
        self.app.call_from_thread(self._loaded, data)

    @while_shown
    def _loaded(self, data: dict) -> None:
        self.data = data
        self.read_at = time.monotonic()
        self._draw()

    def _draw(self) -> None:
        d = self.data or {}
        t_now = self.frozen_now or time.time()
        parts: list = []
        head = Text(f"backend: {d.get('mode', '?')}", style="bold")
        if d.get("degraded"):
            head.append(f"  degraded: {d['degraded']} (kept in SQLite meanwhile)", style="bold red")
        parts.append(head)
        mems = Table(
            title="temporary memories (recalled until they expire · a adds one)",
            title_justify="left",
            expand=True,
        )
        mems.add_column("id", no_wrap=True)
        mems.add_column("memory")
        mems.add_column("expires in", no_wrap=True, justify="right")
        for mid, content, exp in d.get("memories", []):
            mems.add_row(mid[:8], plain(one_line(content, 70)), countdown(exp - t_now))
        if not d.get("memories"):
            mems.add_row("—", "no temporary memories", "")
        parts.append(mems)
        temps = Table(title="temporary values", title_justify="left", expand=True)
        temps.add_column("key", no_wrap=True)
        temps.add_column("value")
        temps.add_column("expires in", no_wrap=True, justify="right")
        for key, value, exp in d.get("temps", []):
            temps.add_row(  # stored strings as Text: a str cell would be parsed as markup
                plain(one_line(key, 30)),
                plain(one_line(str(value), 60)),
                countdown(exp - t_now if exp else None),
            )
        if not d.get("temps"):
            temps.add_row("—", "no temporary values", "")
        parts.append(temps)
        sess = Table(title="active sessions", title_justify="left", expand=True)
        sess.add_column("conversation", no_wrap=True)
        sess.add_column("active", no_wrap=True)
        sess.add_column("state")
        sess.add_column("recent turns")
        sess.add_column("state TTL", no_wrap=True, justify="right")
        for s in d.get("sessions", []):
            state = (
                ", ".join(f"{k}={one_line(str(v), 20)}" for k, v in sorted(s["state"].items()))
                or "—"
            )
            turns = "\n".join(
                f"{t.get('role', '?')}: {one_line(str(t.get('content', '')), 40)}"
                for t in s["turns"]
            )
            ttl = countdown(s["ttl"] - (time.monotonic() - self.read_at)) if s["ttl"] else "—"
            sess.add_row(
                plain(one_line(s["title"], 24)),
                ago(s["last"], t_now),
                plain(state),
                plain(turns or "—"),
                ttl,
            )
        if not d.get("sessions"):
            sess.add_row("—", "", "no active sessions", "", "")
        parts.append(sess)
        self.query_one("#st-body", Static).update(Group(*parts))

    # ------------------------------------------------------------------ a temporary memory
    def action_add_temporary(self) -> None:
        """Ask what to remember, then for how long (30m, 2h, 3d)."""

        def got_text(text: str | None) -> None:
            if not text or not text.strip():
                return

            def got_lifetime(lifetime: str | None) -> None:
                if lifetime:
                    self._add(text, lifetime)

            self.app.push_screen(
                TextDialog("For how long? (30m, 2h, 3d)", "2h", hint="Enter saves · Esc cancels"),
                got_lifetime,
            )

        self.app.push_screen(TextDialog("Remember for a while", ""), got_text)

    @work(thread=True, group="st-write")
    def _add(self, text: str, lifetime: str) -> None:
        store = self.app.store
        try:
            seconds = store.curation.parse_duration(lifetime)
            m = store.add_temporary(text, seconds)
        except ValueError as e:
            self.app.call_from_thread(self.app.notify, str(e), severity="error")
            return
        from tui.screens.inspector_cleanup import sync_vectors

        sync_vectors(store)
        self.app.call_from_thread(
            self.app.notify, f"remembered {m.id[:8]} for {lifetime.strip()}", timeout=3
        )
        self.app.call_from_thread(self.reload)
