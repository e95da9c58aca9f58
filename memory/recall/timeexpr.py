"""Dates in a recall query, as time spans: "on 3 June, 2023", "in March 2024", "last week".

"What did I say about the lease on 3 June 2023?" should look at that day's turns first: the
words alone rarely reach them (a date is one weak token among many for BM25 and nearly noise
in an embedding). Recall turns each date it finds here into a span and searches inside it as
well as everywhere (memory.recall.hybrid).

Read: a day with its month and year; a month with its year; a year after "in"/"during"/"of";
"since" a year (up to now); and, counted back from when the question is asked, "yesterday",
"last week", "last month", "last year" and a month without a year after "in" ("in June": the
latest June). Not read: "may" and other words that only look like dates, or "today" and "this
week", which in chat mostly describe the present rather than ask about it. Dates are local
time, like the timestamps memchat stores. A span runs on a little past its date: a thing done
on a day is often told about in the days after ("what did she get on 25 May?").
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

_NAMES = (
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
)
MONTHS = {name: i for i, names in enumerate(_NAMES, start=1) for name in names}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
# Without a year only full names count: "in Jan's car" or "in mar" are not months.
_FULL_MONTH = r"(?P<month>" + "|".join(names[0] for names in _NAMES) + r")"
# Most specific first: a day, then a month, then a year alone.
_PATTERNS = (
    ("day", re.compile(rf"\b{_DAY}(?:\s+of)?\s+{_MONTH},?\s+{_YEAR}\b", re.I)),
    ("day", re.compile(rf"\b{_MONTH}\s+{_DAY}(?:\s*,\s*|\s+){_YEAR}\b", re.I)),
    ("day", re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b")),
    ("month", re.compile(rf"\b{_MONTH},?\s+(?:of\s+)?{_YEAR}\b", re.I)),
    ("since", re.compile(rf"\bsince\s+{_YEAR}\b", re.I)),
    ("year", re.compile(rf"\b(?:in|during|of)\s+{_YEAR}\b", re.I)),
    (
        "named month",
        re.compile(rf"\b(?:in|during)\s+(?:early\s+|late\s+|mid-?)?{_FULL_MONTH}\b", re.I),
    ),
    ("yesterday", re.compile(r"\byesterday\b", re.I)),
    ("last week", re.compile(r"\blast\s+week\b", re.I)),
    ("last month", re.compile(r"\blast\s+month\b", re.I)),
    ("last year", re.compile(r"\blast\s+year\b", re.I)),
)
AFTER = {"day": timedelta(days=3), "month": timedelta(days=7), "year": timedelta(days=14)}
MAX_SPANS = 3


def _start(kind: str, m: re.Match, today: datetime) -> datetime | None:
    g = m.groupdict()
    month = g.get("month")
    number = int(month) if month and month.isdigit() else MONTHS.get((month or "").lower(), 1)
    if kind == "yesterday":
        return today - timedelta(days=1)
    if kind == "last week":
        return today - timedelta(days=today.weekday() + 7)
    if kind == "named month":  # "in June": the latest June that has begun
        return datetime(today.year - (number > today.month), number, 1)
    if kind == "last month":
        return datetime(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    if kind == "last year":
        return datetime(today.year - 1, 1, 1)
    try:
        return datetime(
            int(g["year"]), number if kind != "year" else 1, int(g["day"]) if kind == "day" else 1
        )
    except ValueError:  # "31 February 2023"
        return None


def _end(kind: str, start: datetime, today: datetime) -> datetime:
    if kind == "since":
        return max(start, today) + timedelta(days=1)
    if kind in ("day", "yesterday"):
        return start + timedelta(days=1)
    if kind == "last week":
        return start + timedelta(days=7)
    if kind in ("month", "named month", "last month"):
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start.replace(year=start.year + 1)


def spans(text: str, now: float | None = None) -> list[tuple[float, float]]:
    """Time spans (start, end) as Unix timestamps for the dates in ``text``; relative ones count
    back from ``now`` (default: the current time)."""
    clock = datetime.fromtimestamp(time.time() if now is None else now)
    today = clock.replace(hour=0, minute=0, second=0, microsecond=0)
    taken: list[tuple[int, int]] = []
    found: list[tuple[float, float]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue  # part of a more specific date already read
            start = _start(kind, m, today)
            if start is None:
                continue
            taken.append(m.span())
            end = _end(kind, start, today) + AFTER.get(kind, timedelta(0))
            span = (start.timestamp(), end.timestamp())
            if span not in found:
                found.append(span)
    return found[:MAX_SPANS]


def within(ts: float, found: list[tuple[float, float]]) -> bool:
    return any(a <= ts < b for a, b in found)
