"""Explicit dates in a recall query, as time spans: "on 3 June, 2023", "in March 2024", "in 2023".

"What did I say about the lease on 3 June 2023?" should look at that day's turns first: the
words alone rarely reach them (a date is one weak token among many for BM25 and nearly noise
in an embedding). Recall turns each date it finds here into a span and searches inside it as
well as everywhere (memory.recall).

Only unambiguous calendar dates count: a day with its month and year, a month with its year, a
year after "in"/"during"/"of". A month alone ("in May") or words like "may" are not dates.
Relative phrases ("yesterday", "last week") are left alone too: what they mean depends on when
the question is asked, which a stored memory cannot tell. Dates are local time, like the
timestamps memchat stores. A span starts at the date and runs on a little past it: a thing
said on a day is often told about in the days after ("what did she get on 25 May?").
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for m in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
# Most specific first: a day, then a month, then a year alone.
_PATTERNS = (
    ("day", re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MONTH},?\s+{_YEAR}\b", re.I)),
    ("day", re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.I)),
    ("day", re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b")),
    ("month", re.compile(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", re.I)),
    ("year", re.compile(rf"\b(?:in|during|of|since)\s+{_YEAR}\b", re.I)),
)
AFTER = {"day": timedelta(days=3), "month": timedelta(days=7), "year": timedelta(days=14)}
MAX_SPANS = 3


def _start(kind: str, m: re.Match) -> datetime | None:
    g = m.groupdict()
    month = g.get("month")
    number = int(month) if month and month.isdigit() else MONTHS.get((month or "").lower(), 1)
    try:
        return datetime(
            int(g["year"]), number if kind != "year" else 1, int(g["day"]) if kind == "day" else 1
        )
    except ValueError:  # "31 February 2023"
        return None


def _end(kind: str, start: datetime) -> datetime:
    if kind == "day":
        return start + timedelta(days=1)
    if kind == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def spans(text: str) -> list[tuple[float, float]]:
    """Time spans (start, end) as Unix timestamps for the explicit dates in ``text``."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[float, float]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue  # part of a more specific date already read
            start = _start(kind, m)
            if start is None:
                continue
            taken.append(m.span())
            span = (start.timestamp(), (_end(kind, start) + AFTER[kind]).timestamp())
            if span not in found:
                found.append(span)
    return found[:MAX_SPANS]


def within(ts: float, found: list[tuple[float, float]]) -> bool:
    return any(a <= ts < b for a, b in found)
