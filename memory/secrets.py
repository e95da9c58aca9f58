"""Find and redact secrets so they never reach the database, Redis, Chroma, logs or exports.

Where redaction happens -- once per storage engine, at the point every write passes, so a
new field or a new write path cannot forget it:

- SQLite: every ``INSERT``/``UPDATE``/``REPLACE`` runs on a ``memory.sqlite.db`` connection whose
  ``execute``/``executemany`` pass each text parameter through :func:`redact_stored` (JSON
  columns -- tags, history before/after, ``kv`` values, job args -- are redacted value by
  value, so they stay valid JSON). Memories, history rows, conversations, messages, the
  short-term fallback (``kv``: session state, temporaries, prompt history, the preference
  cache), progress marks, deferred jobs and import/forget/review history rows all go there.
- Redis: every call into the short-term tier goes through ``ResilientShortTerm._call``
  (``memory.shortterm.tiers``), which redacts all its arguments with :func:`redact_value` --
  keys as well as values, so a lookup finds what a write stored.
- Chroma: only vectors and metadata are stored (never documents); the metadata passes
  ``memory.vectors.index.clean_metadata``, which redacts it. The text embedded is read back from
  SQLite rows, so it is already redacted.

The repositories (``LongTermMemories``, ``Chats``) also redact the record they were given
(:func:`redact_value` on the dataclass or the changes) so the object they return is exactly
what was stored. Exports read from storage and redact their output again with the same
helper (belt and braces: a file that leaves the machine must never carry a secret). Callers
outside ``memory/`` never redact: they hand text to ``MemoryStore`` as typed.

Reads are not redacted, so a lookup by a text that may hold a secret redacts its key itself
(``LongTermMemories.find_by_key``; the short-term gate does it for every call), and a
profile name that looks like a secret is refused (``memory.config``): its rows could never
be found again.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

T = TypeVar("T")

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "private-key",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    ),
    ("openai-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}")),
    ("github-token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    ("bearer-token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._\-]{20,}")),
    (
        "password",
        re.compile(
            r"(?i)\b(password|passwd|pwd|passphrase|api[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token)\b(\s*(?:is|[:=])\s*)(\S+)"
        ),
    ),
]
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")

# Every stored string passes here, so the regexes run only where they could match. A
# pattern runs only when its text holds one of its hints (compared case-folded, as the (?i)
# patterns see it: "ſ" is an "s", the Kelvin sign a "k"); the card pattern only when there
# is a run of 13+ digits, spaces and dashes starting at a word boundary. Both checks are supersets of what the patterns
# match (tests/memory/test_redaction.py::test_the_fast_filter_never_hides_a_secret). They
# hold true on raw JSON text too: no character of a hint or of a card number is ever escaped
# in JSON, except non-ASCII ones ("\\uXXXX"), which send a document down the slow path.
_HINTS: dict[str, tuple[str, ...]] = {
    "private-key": ("-----begin",),
    "openai-key": ("sk-",),
    "github-token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "aws-access-key": ("akia", "asia"),
    "google-api-key": ("aiza",),
    "slack-token": ("xox",),
    "jwt": ("eyj",),
    "bearer-token": ("bearer",),
    "password": (
        *("passw", "pwd", "passphrase"),
        *("apikey", "api_key", "api-key", "secretkey", "secret_key", "secret-key"),
        *("accesstoken", "access_token", "access-token", "authtoken", "auth_token", "auth-token"),
    ),
}
# A card number starts at a word boundary: after a non-word character or the start.
_RUN_ASCII = re.compile(r"(?:^|[^0-9A-Za-z_])[0-9][0-9 -]{11,}[0-9]")
_RUN = re.compile(r"(?:^|\W)\d[\d -]{11,}\d")  # \d, \W: Unicode, as in _CARD


def _possible(text: str) -> tuple[list[tuple[str, re.Pattern[str]]], bool]:
    """The patterns that could match ``text``, and whether a card number could."""
    low = text.casefold()
    patterns = [(n, rx) for n, rx in _PATTERNS if any(h in low for h in _HINTS[n])]
    card = (_RUN_ASCII if text.isascii() else _RUN).search(text) is not None
    return patterns, card


def _luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def find_secrets(text: str) -> list[str]:
    """Names of the kinds of secret found in ``text`` (empty when clean)."""
    if not text:
        return []
    patterns, card = _possible(text)
    found = [name for name, rx in patterns if rx.search(text)]
    for m in _CARD.finditer(text) if card else ():
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            found.append("card-number")
            break
    return found


def redact(text: str) -> str:
    """Replace every secret in ``text`` with ``[REDACTED:<kind>]``."""
    if not text:
        return text
    if len(text) <= 200:  # ids, names, tags, keys: the same few recur in every write
        return _redact_short(text)
    return _redact(text)


@functools.lru_cache(maxsize=8192)
def _redact_short(text: str) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    patterns, card = _possible(text)
    for name, rx in patterns:
        if name == "password":
            text = rx.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED:password]", text)
        else:
            text = rx.sub(f"[REDACTED:{name}]", text)
    if not card:
        return text

    def _card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return (
            "[REDACTED:card-number]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group()
        )

    return _CARD.sub(_card, text)


def redact_value(obj: T) -> T:
    """``obj`` with every string in it redacted: a str, or lists, tuples, dicts (keys and
    values) and dataclasses (every field) holding strings, at any depth. Other values are
    returned as they are; an unchanged object is returned itself (no copy)."""
    if isinstance(obj, str):
        return redact(obj)  # type: ignore[return-value]
    if isinstance(obj, dict):
        out = {redact_value(k): redact_value(v) for k, v in obj.items()}
        return obj if out == obj else out  # type: ignore[return-value]
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        items = [redact_value(x) for x in obj]
        return obj if items == list(obj) else type(obj)(items)  # type: ignore[return-value]
    if is_dataclass(obj) and not isinstance(obj, type):
        changed = {}
        for f in fields(obj):
            if f.init:
                old = getattr(obj, f.name)
                new = redact_value(old)
                if new != old:
                    changed[f.name] = new
        return replace(obj, **changed) if changed else obj  # type: ignore[return-value]
    return obj


def _strings(doc: Any) -> list[str]:
    """Every string in a parsed JSON document (keys too), in no particular order."""
    out: list[str] = []
    stack = [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            stack.extend(x)
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return out


def redact_stored(text: str) -> str:
    """One text about to be stored: redacted; a JSON document (list, object or string) is
    redacted value by value and dumped again, so the column still parses."""
    if not text:
        return text
    if "\\u" not in text and _possible(text) == ([], False):
        return text  # nothing that could be a secret, even inside JSON (see _possible)
    if text[:1] in '[{"':
        try:
            doc = json.loads(text)
        except ValueError:
            pass
        else:
            # one scan over all its strings (a secret cannot hide in an escape sequence)
            if not find_secrets("\x00".join(_strings(doc))):
                return text
            return json.dumps(redact_value(doc), ensure_ascii=False)
    return redact(text)


def redact_params(params: Any) -> Any:
    """SQL parameters (a sequence or a mapping) with every text one passed through
    :func:`redact_stored`."""
    if isinstance(params, dict):
        return {k: redact_stored(v) if isinstance(v, str) else v for k, v in params.items()}
    return tuple(redact_stored(v) if isinstance(v, str) else v for v in params)
