"""The status bar: profile (and incognito), model, memory tokens in the last prompt,
memory/worker health, background tasks, memories waiting for review, loading.

Words are distinct on purpose: "tasks" are background pipeline jobs, "to review" are
memories waiting in the inspector's Review tab (F2). When the bar is narrower than the full
text, labels are dropped before values, so the counts stay visible at 80 columns."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.output import plural


class StatusBar(Widget):
    """Attributes are set by the app and the chat screen; the bar only draws them."""

    model: reactive[str] = reactive("…")
    profile: reactive[str] = reactive("")  # shown once memory is open
    incognito: reactive[bool] = reactive(False)  # this chat reads memory, keeps nothing
    memory_off: reactive[bool] = reactive(False)  # this chat neither recalls nor learns
    memory_tokens: reactive[int | None] = reactive(None)
    # (always-on, recalled) memories in the last prompt; shown when any always-on note went in
    memory_counts: reactive[tuple[int, int] | None] = reactive(None)
    memory: reactive[str] = reactive("opening memory…")  # "redis", "embedded", or a problem
    memory_ok: reactive[bool] = reactive(True)
    worker: reactive[str] = reactive("")  # "worker ok" / "no worker"
    tasks: reactive[int | None] = reactive(None)  # background tasks queued
    to_review: reactive[int] = reactive(0)  # memories waiting in the Review tab
    loading_text: reactive[str] = reactive("")  # e.g. "loading model library…" (not Widget.loading)
    activity: reactive[str] = reactive("")  # e.g. "streaming…", "waiting for the model library…"

    def render(self) -> Text:
        full = self._text(short=False)
        width = self.size.width
        return full if not width or full.cell_len <= width else self._text(short=True)

    def _text(self, *, short: bool) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        sep = " │ "
        if self.incognito:
            t.append(" incognito ", style="bold reverse magenta")
        if self.memory_off:
            t.append(" memory off ", style="bold reverse yellow")
        if self.profile:
            t.append(f" {self.profile}" if short else f" profile {self.profile}", style="bold")
            t.append(sep)
        elif not self.incognito:
            t.append(" ")
        t.append(
            "⬤ ",
            style="green" if self.model not in ("no model", "…") else "red",
        )
        t.append(self.model.split("/", 1)[-1] if short else self.model)
        counts = self.memory_counts
        if self.memory_tokens is not None and counts and counts[0]:
            t.append(
                f"{sep}mem {counts[0]}+{counts[1]} {self.memory_tokens}t"
                if short
                else f"{sep}memory {counts[0]} always + {counts[1]} recalled · {self.memory_tokens} tok"
            )
        elif self.memory_tokens is not None:
            t.append(
                f"{sep}mem {self.memory_tokens}t"
                if short
                else f"{sep}memory {self.memory_tokens} tok"
            )
        t.append(sep)
        if short and self.memory_ok:
            t.append(self.memory)
        else:
            t.append(f"memory: {self.memory}", style="" if self.memory_ok else "bold red")
        if self.worker:
            t.append(f"{sep}{self.worker}")
        if self.tasks is not None and (self.tasks or not short):
            t.append(f"{sep}{plural(self.tasks, 'task')}")
        if self.to_review:
            t.append(sep)
            t.append(f"{self.to_review} to review (F2)", style="bold yellow")
        for extra in (self.activity, self.loading_text):
            if extra:
                t.append(f"{sep}{extra}", style="italic")
        return t
