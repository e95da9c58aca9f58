"""The status bar: profile (and incognito), model, memory tokens in the last prompt,
memory/worker health, loading."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


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
    worker: reactive[str] = reactive("")
    loading_text: reactive[str] = reactive("")  # e.g. "loading model library…" (not Widget.loading)
    activity: reactive[str] = reactive("")  # e.g. "streaming…", "waiting for the model library…"

    def render(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        if self.incognito:
            t.append(" incognito ", style="bold reverse magenta")
        if self.memory_off:
            t.append(" memory off ", style="bold reverse yellow")
        if self.profile:
            t.append(f" profile {self.profile} │", style="bold")
        t.append(" ⬤ ", style="green" if self.model not in ("no model", "…") else "red")
        t.append(self.model)
        counts = self.memory_counts
        if self.memory_tokens is not None and counts and counts[0]:
            t.append(
                f" │ memory {counts[0]} always + {counts[1]} recalled · {self.memory_tokens} tok"
            )
        elif self.memory_tokens is not None:
            t.append(f" │ memory {self.memory_tokens} tok")
        t.append(" │ ")
        t.append(f"memory: {self.memory}", style="" if self.memory_ok else "bold red")
        if self.worker:
            t.append(f" │ {self.worker}")
        for extra in (self.activity, self.loading_text):
            if extra:
                t.append(f" │ {extra}", style="italic")
        return t
