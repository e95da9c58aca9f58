"""The detail pane: one memory in full -- text, scores, provenance and its change history."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from memory.models import HistoryEntry, Memory, Message
from tui.widgets.inspector.format import ago, one_line
from tui.widgets.safe_text import plain, visible


@dataclass
class Detail:
    """Everything the pane shows about one memory, read by the tab in a worker."""

    memory: Memory
    history: list[HistoryEntry] = field(default_factory=list)
    sources: list[Message] = field(default_factory=list)  # the messages it was learned from
    source_title: str = ""
    score: float | None = None
    superseded_by: Memory | None = None


def _change(h: HistoryEntry) -> str:
    keys = sorted(
        set((h.before or {}) | (h.after or {})) - {"updated_at", "created_at", "id", "profile"}
    )
    if h.action == "added" or not keys:
        return ""
    if keys == ["content"]:
        return f"“{one_line(str((h.before or {}).get('content', '')), 50)}” → “{one_line(str((h.after or {}).get('content', '')), 50)}”"
    return ", ".join(keys)


def render_detail(d: Detail | None, show_ids: bool = True) -> Group | Text:
    if d is None:
        return Text("No memory selected.", style="dim")
    m = d.memory
    head = Text()
    head.append(visible(m.section), style="bold")
    if m.pinned:
        head.append("  📌 pinned")
    state = "superseded" if m.superseded_by else m.status
    if state != "active":
        head.append(f"  [{state}]", style="bold yellow")
    if show_ids:
        head.append(f"  {m.id[:8]}", style="dim")
    body = plain(m.content)
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    if d.score is not None:
        facts.add_row("search score", f"{d.score:.3f}")
    facts.add_row("importance", f"{m.importance:.2f}   confidence {m.confidence:.2f}")
    facts.add_row(
        "used",
        f"{m.access_count}×" + (f", last {ago(m.last_accessed_at)}" if m.last_accessed_at else ""),
    )
    # stored strings go in as Text: a str cell is parsed as markup ("[/x]" raises)
    facts.add_row("tags", plain(", ".join(m.tags) or "—"))
    if m.key:
        facts.add_row("key", plain(f"{m.key} = {m.value or ''}"))
    if m.entity_id or m.entity_type:
        facts.add_row("entity", plain(f"{m.entity_type or ''} {m.entity_id or ''}".strip()))
    facts.add_row("kept", plain(f"{m.persistence}, scope {m.scope}"))
    facts.add_row("expires", ago(m.expires_at) if m.expires_at else "never")
    facts.add_row("created", ago(m.created_at))
    if d.superseded_by is not None:
        facts.add_row("replaced by", plain(one_line(d.superseded_by.content, 60)))
    parts: list = [head, body, Text(""), facts, Text("")]
    prov = Text("provenance", style="bold underline")
    parts.append(prov)
    if d.sources:
        title = d.source_title or "a conversation"
        parts.append(
            plain(f"from “{one_line(title, 60)}” — o opens it at the first message", style="dim")
        )
        for msg in d.sources[:6]:
            line = Text(f"  {msg.role:<9}", style="bold")
            line.append(one_line(msg.content, 70))
            parts.append(line)
    elif m.source_message_ids:
        parts.append(Text("its source messages were deleted", style="dim"))
    else:
        parts.append(Text("added by hand or imported (no source messages)", style="dim"))
    parts += [Text(""), Text("history", style="bold underline")]
    hist = Table.grid(padding=(0, 1))
    for col in ("when", "action", "by", "why"):
        hist.add_column(style="dim" if col == "when" else None, no_wrap=col != "why")
    for h in d.history:
        why = " · ".join(x for x in (h.reason, _change(h)) if x)
        hist.add_row(
            ago(h.at), plain(h.action, style="bold"), plain(h.actor), plain(one_line(why, 90))
        )
    parts.append(hist)
    return Group(*parts)


class DetailPane(VerticalScroll):
    """Scrollable; shows :func:`render_detail` of the highlighted memory."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.detail: Detail | None = None
        self.show_ids = True

    def compose(self):
        yield Static(render_detail(None), id="detail-body")

    def show(self, detail: Detail | None) -> None:
        self.detail = detail
        self.query_one("#detail-body", Static).update(render_detail(detail, self.show_ids))
