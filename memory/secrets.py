"""Find and redact secrets so they never reach the database, Redis, Chroma, logs or exports.

Where redaction happens -- once per storage engine, at the point every write passes, so a
new field or a new write path cannot forget it:

- SQLite: every ``INSERT``/``UPDATE``/``REPLACE`` runs on a ``memory.db`` connection whose
  ``execute``/``executemany`` pass each text parameter through :func:`redact_stored` (JSON
  columns -- tags, history before/after, ``kv`` values, job args -- are redacted value by
  value, so they stay valid JSON). Memories, history rows, conversations, messages, the
  short-term fallback (``kv``: session state, temporaries, prompt history, the preference
  cache), progress marks, deferred jobs and import/forget/review history rows all go there.
- Redis: every call into the short-term tier goes through ``ResilientShortTerm._call``
  (``memory.short_term``), which redacts all its arguments with :func:`redact_value` --
  keys as well as values, so a lookup finds what a write stored.
- Chroma: only vectors and metadata are stored (never documents); the metadata passes
  ``memory.vectors.clean_metadata``, which redacts it. The text embedded is read back from
  SQLite rows, so it is already redacted.

The repositories (``LongTermMemories``, ``Chats``) also redact the record they were given
(:func:`redact_value` on the dataclass or the changes) so the object they return is exactly
what was stored. Exports read from storage and redact their output again with the same
helper (belt and braces: a file that leaves the machine must never carry a secret). Callers
outside ``memory/`` never redact: they hand text to ``MemoryStore`` as typed.
"""

from __future__ import annotations

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
_DIGIT = re.compile(r"\d")
_KEY_WORDS = (("api", "key"), ("secret", "key"), ("access", "token"), ("auth", "token"))
# Literal text every pattern above needs (lower-cased): a string holding none of these and
# fewer than 13 digits cannot match, and checking that is ~10x cheaper than the regexes --
# which matters because every stored string passes here.
_HINTS = (
    "-----begin",
    "sk-",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "akia",
    "asia",
    "aiza",
    "xox",
    "eyj",
    "bearer",
    "passw",
    "pwd",
    "passphrase",
    *(f"{a}{sep}{b}" for a, b in _KEY_WORDS for sep in ("", "_", "-")),
)


def _may_hold_secret(text: str) -> bool:
    low = text.casefold()  # as the (?i) patterns see it: "ſ" is an "s", the Kelvin sign a "k"
    if any(h in low for h in _HINTS):
        return True
    if text.isascii():
        return sum(map(text.count, "0123456789")) >= 13
    return len(_DIGIT.findall(text)) >= 13  # \d is any Unicode digit, as in _CARD


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
    if not text or not _may_hold_secret(text):
        return []
    found = [name for name, rx in _PATTERNS if rx.search(text)]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            found.append("card-number")
            break
    return found


def redact(text: str) -> str:
    """Replace every secret in ``text`` with ``[REDACTED:<kind>]``."""
    if not text or not _may_hold_secret(text):
        return text
    for name, rx in _PATTERNS:
        if name == "password":
            text = rx.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED:password]", text)
        else:
            text = rx.sub(f"[REDACTED:{name}]", text)

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


def redact_stored(text: str) -> str:
    """One text about to be stored: redacted; a JSON document (list, object or string) is
    redacted value by value and dumped again, so the column still parses."""
    if not text or not _may_hold_secret(text):
        return text
    if text[:1] in '[{"':
        try:
            doc = json.loads(text)
        except ValueError:
            pass
        else:
            cleaned = redact_value(doc)
            return text if cleaned == doc else json.dumps(cleaned, ensure_ascii=False)
    return redact(text)


def redact_params(params: Any) -> Any:
    """SQL parameters (a sequence or a mapping) with every text one passed through
    :func:`redact_stored`."""
    if isinstance(params, dict):
        return {k: redact_stored(v) if isinstance(v, str) else v for k, v in params.items()}
    return tuple(redact_stored(v) if isinstance(v, str) else v for v in params)
