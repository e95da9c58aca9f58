"""Stored text made safe to draw: the terminal never receives its control characters, and
nothing parses it as markup.

Messages and memories hold whatever a person pasted or a model produced: ANSI colour codes,
OSC 52 clipboard writes, cursor moves, NULs. Rich and Textual drop only BEL, BS, VT, FF and
CR and pass ESC straight through to the terminal, and a ``str`` handed to a Label, Static or
Rich table cell is parsed as markup (``[/x]`` raises MarkupError). So every widget that draws
stored text runs it through :func:`visible` (or :func:`plain`, which also makes it a ``Text``
that is never parsed as markup).
"""

from __future__ import annotations

import re

from rich.text import Text

ESC_PICTURE = "\u241b"  # ␛


def _table() -> dict[int, str]:
    table = {c: chr(0x2400 + c) for c in range(0x20)}  # NUL → ␀ … ESC → ␛ … US → ␟
    table[0x7F] = "\u2421"  # DEL → ␡
    # C1 controls are the one-byte forms of ESC + a character: U+009B (CSI) reads "␛["
    table.update({c: ESC_PICTURE + chr(c - 0x40) for c in range(0x80, 0xA0)})
    return table


_PICTURES = _table()
_TABLES: dict[str, dict[int, str]] = {}


def visible(text: str, keep: str = "\n\t") -> str:
    """``text`` with each C0/C1 control character and DEL shown as a visible stand-in (ESC as
    ␛, so ``\\x1b[31m`` reads ``␛[31m``), except the characters in ``keep``. When newlines are
    kept, a CR LF pair is a newline."""
    table = _TABLES.get(keep)
    if table is None:
        table = _TABLES[keep] = {c: p for c, p in _PICTURES.items() if chr(c) not in keep}
    if "\n" in keep and "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return text.translate(table)


# CSI (ESC [ or the one-byte C1 form) ... final byte; OSC (ESC ]) ... BEL or ST; other
# two-character escapes (ESC followed by one byte in @-_).
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-Z\\-_]"
)


def pasted(text: str) -> str:
    """Text pasted into an input: terminal escape sequences (colours copied from a terminal,
    OSC clipboard writes) dropped, other control characters shown as symbols. Terminals send a
    pasted line break as CR, so CR LF and a lone CR are line breaks here."""
    return visible(_ESCAPES.sub("", text).replace("\r\n", "\n").replace("\r", "\n"))


def for_markdown(text: str) -> str:
    """Like :func:`visible`, keeping CR too: the Markdown parser reads CR and CR LF as line
    endings (CommonMark), and a CR LF split across two streamed chunks must stay one."""
    return visible(text, keep="\n\t\r")


def plain(text: str, style: str = "", **kw) -> Text:
    """A Rich ``Text`` of ``visible(text)``: safe in a Label, Static or table cell."""
    return Text(visible(text), style=style, **kw)
