"""The Stats tab: counts per tier, section and status, growth by day, extraction cost, how
many prompt tokens memory takes, and the always-on notes every prompt carries (preferences and
pinned memories) with their token cost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.widgets.delivery import while_shown
from tui.widgets.inspector.format import one_line
from tui.widgets.safe_text import plain

if TYPE_CHECKING:
    from textual import getters

    from tui.app import MemchatApp

BAR = 30


def format_stats(stats) -> str:
    """Tier counts as plain lines (kept for callers of the old placeholder)."""
    lines = []
    for tier in stats:
        lines.append(f"[b]{tier.name}[/b] ({'ok' if tier.ok else 'DEGRADED'})")
        for key, value in sorted(tier.counts.items()):
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


class StatsTab(VerticalScroll):
    if TYPE_CHECKING:
        app = getters.app(MemchatApp)

    def compose(self) -> ComposeResult:
        yield Static("counting…", id="inspector-stats")

    def reload(self) -> None:
        if self.app.store is not None:
            self._load()

    @work(thread=True, exclusive=True, group="sx-load")
    def _load(self) -> None:
        store = self.app.store
        data = {
            "tiers": store.stats(),
            "status": store.browse.status_counts(),
            "growth": store.browse.growth_by_day(),
            "tokens": store.browse.prompt_memory_tokens(),
            "pipeline": None,
            "always": store.always_on(token_budget=None),
            "always_in": {h.id for h in store.always_on()},
            "always_budget": store.settings.memory.always_token_budget,
        }
        try:
            from tasks.status import snapshot

            snap = snapshot(store)
            if snap.get("available"):
                data["pipeline"] = snap.get("stats", {})
        except Exception:  # noqa: BLE001 - no Redis: no pipeline totals
            pass
        self.app.call_from_thread(self._show, data)

    @while_shown
    def _show(self, d: dict) -> None:
        counts = Table(title="memories", title_justify="left")
        counts.add_column("tier / section")
        counts.add_column("count", justify="right")
        for tier in d["tiers"]:
            counts.add_row(
                Text(f"{tier.name} ({'ok' if tier.ok else 'DEGRADED'})", style="bold"), ""
            )
            for key, value in sorted(tier.counts.items()):
                counts.add_row(f"  {key}", f"{value:,}")
        status = Table(title="by status", title_justify="left")
        status.add_column("status")
        status.add_column("count", justify="right")
        for key, value in sorted(d["status"].items()):
            status.add_row(key, f"{value:,}")
        growth = Table(title="added per day (14 days)", title_justify="left")
        growth.add_column("day", no_wrap=True)
        growth.add_column("", no_wrap=True)
        growth.add_column("n", justify="right")
        top = max((n for _, n in d["growth"]), default=0) or 1
        days = len(d["growth"])
        for i, (_day, n) in enumerate(d["growth"]):
            back = days - 1 - i
            growth.add_row(
                "today" if back == 0 else f"{back}d ago", "█" * round(BAR * n / top), str(n)
            )
        cost = Table(title="pipeline and prompts", title_justify="left")
        cost.add_column("")
        cost.add_column("", justify="right")
        p = d["pipeline"]
        if p is None:
            cost.add_row("extraction cost", "n/a (no Redis: the pipeline is off)")
        else:
            cost.add_row("extraction cost", f"${p.get('extract_cost', 0):.4f}")
            cost.add_row(
                "extraction tokens",
                f"{int(p.get('extract_prompt_tokens', 0) + p.get('extract_completion_tokens', 0)):,}",
            )
            cost.add_row("summaries cost", f"${p.get('summary_cost', 0):.4f}")
        t = d["tokens"]
        if t.get("replies"):
            cost.add_row(
                "memory tokens / prompt", f"mean {t['mean']:.0f} · p95 {t['p95']} · max {t['max']}"
            )
            cost.add_row("share of prompt", f"{100 * t['share']:.0f}% over {t['replies']} replies")
        else:
            cost.add_row("memory tokens / prompt", "no replies yet")
        grid = Table.grid(padding=(0, 3))
        grid.add_row(counts, Group(status, Text(""), cost))
        self.query_one("#inspector-stats", Static).update(
            Group(grid, Text(""), always_table(d), Text(""), growth)
        )


def always_table(d: dict) -> Table:
    """The always-on notes (every prompt carries them, before recalled memories) and their
    estimated token cost against ``memory.always_token_budget``."""
    hits, kept, budget = d.get("always", []), d.get("always_in", set()), d.get("always_budget", 0)
    used = sum(h.tokens for h in hits if h.id in kept)
    t = Table(
        title=f"always in every prompt: {len(kept)} note{'' if len(kept) == 1 else 's'} · "
        f"≈{used} of {budget} tokens",
        title_justify="left",
        expand=True,
    )
    t.add_column("note")
    t.add_column("section", no_wrap=True)
    t.add_column("tokens", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True)
    for h in hits:
        pin = "📌 " if h.memory is not None and h.memory.pinned else ""
        t.add_row(
            plain(pin + one_line(h.text, 70)),
            h.section,
            f"≈{h.tokens}",
            "in" if h.id in kept else "over budget",
        )
    if not hits:
        t.add_row(Text("none: add preferences or pin a memory", style="dim"), "", "", "")
    return t
