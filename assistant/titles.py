"""Conversation titles: a short LLM title after the first exchange, else the first words."""

from __future__ import annotations

import re

TITLE_WORDS = 6
TITLE_CHARS = 60

TITLE_PROMPT = (
    "Write a title of at most six words for the conversation below. Reply with the title "
    'only: no quotes, no trailing punctuation, no prefix such as "Title:".'
)


def first_words(text: str, n: int = TITLE_WORDS, max_chars: int = TITLE_CHARS) -> str:
    """The fallback title: the first ``n`` words of ``text`` on one line."""
    words = clean_line(text).split()
    title = " ".join(words[:n])
    if len(title) > max_chars:
        title = title[: max_chars - 1].rstrip() + "…"
    elif len(words) > n:
        title += "…"
    return title or "New chat"


def clean_line(text: str) -> str:
    """One printable line: control characters and newlines become spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def clean_title(raw: str, max_chars: int = TITLE_CHARS) -> str:
    """Tidy what a model returned: first non-empty line, no "Title:", quotes or markdown."""
    line = next((ln for ln in raw.splitlines() if ln.strip()), "")
    line = re.sub(r"^\s*(#+\s*)?(\*\*)?\s*title\s*:\s*", "", line, flags=re.I)
    line = clean_line(line).strip(" \"'`*_#").rstrip(".!:;,")
    if len(line) > max_chars:
        line = line[: max_chars - 1].rstrip() + "…"
    return line


def title_messages(
    user_text: str, reply_text: str, boundary: str | None = None
) -> list[dict[str, str]]:
    """The exchange goes into a fenced, escaped block (assistant.prompts), like every prompt."""
    from assistant import prompts

    b = boundary or prompts.new_boundary()
    body = "\n".join(
        [
            prompts.entry("turn", user_text[:1500], role="user"),
            prompts.entry("turn", reply_text[:1500], role="assistant"),
        ]
    )
    note = prompts.data_note("conversation", b, "the conversation to title")
    return [
        {"role": "system", "content": TITLE_PROMPT},
        {"role": "user", "content": f"{note}\n{prompts.fence('conversation', b, body)}"},
    ]


__all__ = ["clean_title", "first_words", "title_messages"]
