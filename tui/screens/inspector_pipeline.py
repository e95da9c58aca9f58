"""The Pipeline tab: queue depth, running and failed tasks (``r`` retries the highlighted
failed task, ``R`` all of them), the last run of every periodic job, live consumers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Label, Static

from tui.output import describe_outcome
from tui.widgets.delivery import while_shown
from tui.widgets.inspector.format import ago, one_line
from tui.widgets.safe_text import plain

if TYPE_CHECKING:
    from textual import getters

    from tui.app import MemchatApp


class PipelineTab(Vertical):
    if TYPE_CHECKING:
        app = getters.app(MemchatApp)
    BINDINGS = [
        Binding("r", "retry", "Retry task", id="pipeline_retry"),
        Binding("R", "retry_all", "Retry all", id="pipeline_retry_all"),
    ]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.snap: dict = {}
        self.failed: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Static("reading the queue…", id="pl-head")
        yield Label("failed tasks (r retries the highlighted one, R all)", classes="dim")
        yield DataTable(id="pl-failed", cursor_type="row")
        with VerticalScroll(id="pl-jobs-box"):
            yield Static("", id="pl-jobs")

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        for col, w in (("task", 12), ("args", 30), ("error", 50), ("when", 8)):
            t.add_column(col, key=col, width=w)

    def reload(self) -> None:
        if self.app.store is not None:
            self._load()

    @work(thread=True, exclusive=True, group="pl-load")
    def _load(self) -> None:
        from tasks.status import snapshot

        try:
            snap = snapshot(self.app.store)
        except Exception as e:  # noqa: BLE001
            snap = {"available": False, "reason": str(e)}
        self.app.call_from_thread(self._show, snap)

    @while_shown
    def _show(self, snap: dict) -> None:
        self.snap = snap
        head = self.query_one("#pl-head", Static)
        if not snap.get("available"):
            head.update(Text(f"pipeline unavailable: {snap.get('reason')}", style="yellow"))
            return
        consumers = snap.get("consumers") or []
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold")
        t.add_column()
        t.add_row("queued", f"{snap['queued']} now, {snap['scheduled']} scheduled")
        t.add_row("running", ", ".join(r.get("name", "?") for r in snap["running"]) or "nothing")
        t.add_row(
            "workers",
            f"{len(consumers)} live consumer(s)" if consumers else "[yellow]no worker running[/]",
        )
        head.update(t)
        table = self.query_one(DataTable)
        ids = [f.get("id") for f in snap["failed"]]
        if ids != [f.get("id") for f in self.failed]:
            table.clear()
            for f in snap["failed"]:
                table.add_row(
                    f.get("name", "?"),
                    plain(one_line(_args(f.get("args")), 30)),  # never markup
                    plain(one_line(f.get("error", ""), 50)),
                    ago(f.get("at")),
                    key=f.get("id"),
                )
        self.failed = snap["failed"]
        jobs = Table(title="periodic jobs: last run", title_justify="left", expand=True)
        for col in ("job", "when", "ok", "result"):
            jobs.add_column(col, no_wrap=col != "result")
        for name, j in sorted(snap["jobs"].items()):
            ok = j.get("ok", True)
            result = describe_outcome(name, j.get("result")) if ok else str(j.get("error") or "")
            jobs.add_row(
                name,
                ago(j.get("at")),
                "✓" if j.get("ok", True) else "✗",
                plain(one_line(result, 70)),
            )
        if not snap["jobs"]:
            jobs.add_row("—", "", "", "no periodic job has run yet")
        notes = [
            Text(f"{k}: {v}", style="dim") for k, v in sorted(snap.get("notes", {}).items()) if v
        ]
        self.query_one("#pl-jobs", Static).update(Group(jobs, *notes))

    def action_retry(self) -> None:
        t = self.query_one(DataTable)
        if not self.failed or t.cursor_row < 0 or t.cursor_row >= len(self.failed):
            self.app.notify("No failed task here.", timeout=2)
            return
        self._retry(self.failed[t.cursor_row].get("id"))

    def action_retry_all(self) -> None:
        if self.failed:
            self._retry(None)

    @work(thread=True, group="pl-retry")
    def _retry(self, task_id: str | None) -> None:
        from tasks.api import retry_failed

        n = retry_failed(self.app.store, task_id)
        self.app.call_from_thread(self.app.notify, f"Queued {n} task(s) again.", timeout=3)
        time.sleep(0.1)
        self.app.call_from_thread(self.reload)


def _args(args) -> str:
    """A task's arguments as words ("3f2a…, 12"), not a Python list."""
    if isinstance(args, (list, tuple)):
        return ", ".join(str(a) for a in args)
    return "" if args is None else str(args)
