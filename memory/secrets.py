"""Find and redact secrets so they never reach the database, logs or exports."""

from __future__ import annotations

import re

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
    found = [name for name, rx in _PATTERNS if rx.search(text)]
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            found.append("card-number")
            break
    return found


def redact(text: str) -> str:
    """Replace every secret in ``text`` with ``[REDACTED:<kind>]``."""
    if not text:
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
