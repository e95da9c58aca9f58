"""Turn free text into a safe FTS5 query: quoted terms joined by OR, stop words dropped."""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell know remember anything
    something thing things did does doing said say like really also get got""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def terms(text: str) -> list[str]:
    """Content words of ``text`` in order, lower-cased, without duplicates."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        if w not in STOP_WORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)


def match_expression(text: str, max_terms: int = 32) -> str | None:
    """An FTS5 MATCH string for ``text`` or None when it has no searchable words."""
    words = terms(text)[:max_terms]
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
