"""Small, deterministic text helpers shared by the inspector's widgets."""

from __future__ import annotations

import time

from tui.widgets.safe_text import visible


def ago(ts: float | None, now: float | None = None) -> str:
    """A coarse relative time ("just now", "5m ago", "3h ago", "2d ago"); "" for None."""
    if not ts:
        return ""
    s = (now or time.time()) - ts
    future = s < 0
    s = abs(s)
    if s < 60:
        out = "just now" if not future else "in <1m"
        return out
    for size, unit in ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "m")):
        if s >= size:
            n = f"{int(s // size)}{unit}"
            return f"in {n}" if future else f"{n} ago"
    return ""


def countdown(seconds: float | None) -> str:
    """A TTL as ``1h 02m 05s`` (live countdowns); "no expiry" for None."""
    if seconds is None:
        return "no expiry"
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m {sec:02d}s" if h else f"{m}m {sec:02d}s"


def one_line(text: str, width: int) -> str:
    """Control characters shown (ESC as ␛), newlines folded, ellipsis past ``width``."""
    folded = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    cleaned = "".join(ch if ch.isprintable() else " " for ch in visible(folded, keep=""))
    return cleaned if len(cleaned) <= width else cleaned[: max(1, width - 1)].rstrip() + "…"
