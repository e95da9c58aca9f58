"""The Short-term tab: active sessions with their state and recent turns, and temporary values
with a live TTL countdown (re-read from Redis every few seconds, counted down every second)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

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
        data = {
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
