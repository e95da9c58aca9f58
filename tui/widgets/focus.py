"""Arrow-key movement between the focusable parts of the transcript."""

from __future__ import annotations

from textual.widget import Widget

TRANSCRIPT_FOCUSABLE = "MessageView, MemoryRow, CollapsibleTitle"


def move_in_transcript(widget: Widget, step: int) -> None:
    """Focus the next (step > 0) or previous transcript item; past the last one, the prompt."""
    items = [w for w in widget.screen.query(TRANSCRIPT_FOCUSABLE) if w.focusable]
    try:
        i = items.index(widget)
    except ValueError:
        return
    j = i + step
    if j >= len(items):
        prompt = widget.screen.query("PromptInput")
        if prompt:
            prompt.first().focus()
        return
    if j >= 0:
        items[j].focus()
        items[j].scroll_visible()
