"""memory.recall.timeexpr: explicit dates in a recall query become time spans; nothing else does."""

from __future__ import annotations

from datetime import datetime

import pytest

from memory.recall.timeexpr import spans, within

NOW = datetime(2026, 11, 24, 10, 30).timestamp()  # a Tuesday


def days(text: str) -> list[tuple[str, str]]:
    return [
        (
            datetime.fromtimestamp(a).strftime("%Y-%m-%d"),
            datetime.fromtimestamp(b).strftime("%Y-%m-%d"),
        )
        for a, b in spans(text, NOW)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "What did Nate do on 25 May, 2022?",
        "what happened on May 25 2022",
        "the 25th of May 2022",
        "on 2022-05-25",
        "on May 25th, 2022?",
        "shared on May 25,2022",
    ],
)
def test_a_day_with_its_month_and_year_is_that_day_and_a_few_after(text):
    assert days(text) == [("2022-05-25", "2022-05-29")]


def test_a_month_with_its_year_and_a_year_after_in():
    assert days("What did John share in January 2024?") == [("2024-01-01", "2024-02-08")]
    assert days("Dec. 2023") == [("2023-12-01", "2024-01-08")]
    assert days("What did he organise in 2024?") == [("2024-01-01", "2025-01-15")]


@pytest.mark.parametrize(
    "text",
    [
        "What may I cook tonight?",
        "How was your day today?",  # the present, not a question about the past
        "this week has been long",
        "what did I leave in Jan's car?",  # a name, not January: no year, so full names only
        "my PIN is 2023",
        "",
    ],
)
def test_no_explicit_date_no_span(text):
    assert spans(text) == []


def test_an_impossible_day_falls_back_to_its_month_and_spans_are_capped():
    assert days("on 31 February 2023") == [("2023-02-01", "2023-03-08")]
    many = "on 1 May 2023, 2 May 2023, 3 May 2023 and 4 May 2023"
    assert len(spans(many)) == 3


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("What did we say yesterday?", ("2026-11-23", "2026-11-24")),
        ("the plan from last week", ("2026-11-16", "2026-11-23")),
        ("what did I read last month", ("2026-10-01", "2026-11-01")),
        ("trips last year", ("2025-01-01", "2026-01-01")),
        ("When did we go camping in June?", ("2026-06-01", "2026-07-01")),  # the latest June
        ("the deal in December", ("2025-12-01", "2026-01-01")),  # December 2026 has not begun
        ("what did we do in early March", ("2026-03-01", "2026-04-01")),
        ("what changed since 2024", ("2024-01-01", "2026-11-25")),
    ],
)
def test_relative_dates_count_back_from_now(text, span):
    assert days(text) == [span]


def test_within():
    found = spans("on 3 June 2023")
    assert within(datetime(2023, 6, 3, 18).timestamp(), found)
    assert within(datetime(2023, 6, 5).timestamp(), found)
    assert not within(datetime(2023, 6, 2, 23).timestamp(), found)
    assert not within(datetime(2023, 6, 7).timestamp(), found)
