"""Reading the model's answer: repair what can be repaired, reject garbage, drop secrets and trivia."""

from __future__ import annotations

import json

import pytest

from assistant.extraction import MalformedOutput, build_messages, parse, to_proposals
from memory.models import Memory, Message


def _turns():
    return [
        Message("c1", "user", "I moved to Lisbon last month", id="a" * 32),
        Message("c1", "assistant", "Nice!", id="b" * 32),
    ]


@pytest.mark.parametrize(
    "text",
    [
        '{"memories": [{"content": "The user lives in Lisbon."}]}',
        '```json\n{"memories": [{"content": "The user lives in Lisbon."}]}\n```',
        'Here you go:\n{"memories": [{"content": "The user lives in Lisbon."}]} hope that helps {',
        '[{"content": "The user lives in Lisbon."}]',
    ],
)
def test_parse_repairs_fences_prose_and_bare_lists(text):
    out = parse(text)
    assert out.memories == [{"content": "The user lives in Lisbon."}]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no json here",
        '{"memories": [oops',
        '{"memories": "nope"}',
        '{"memories": ["a string"]}',
    ],
)
def test_parse_rejects_garbage(text):
    with pytest.raises(MalformedOutput):
        parse(text)


def test_proposals_drop_secrets_trivia_and_invalid_items():
    items = [
        {
            "content": "The user lives in Lisbon.",
            "section": "Facts",
            "key": "Home City",
            "entity": "User",
            "date": "2025-05-01",
            "source_message_ids": ["aaaaaaaa"],
            "tags": "location",
        },
        {"content": "The user's password is hunter2hunter2", "section": "facts"},
        {
            "content": "The user's API key is sk-abcdefghijklmnopqrstuvwxyz123456",
            "section": "facts",
        },
        {"content": "The user said hi.", "importance": 0.05},
        {"content": "x", "section": "facts"},
        {"content": "The user is vegan.", "section": "recipes"},
    ]
    props, dropped = to_proposals(
        parse(json.dumps({"memories": items})), _turns(), profile="default", conversation_id="c1"
    )
    assert [p.candidate.content for p in props] == ["The user lives in Lisbon."]
    c = props[0].candidate
    assert (c.section, c.key, c.entity_id, c.tags) == ("facts", "home_city", "user", ["location"])
    assert c.source_message_ids == ["a" * 32] and c.source_conversation_id == "c1"
    assert c.valid_from is not None
    assert len(dropped) == 5
    assert dropped.count("contains a secret") == 2


def test_unknown_source_ids_fall_back_to_the_user_turns():
    out = parse(
        '{"memories": [{"content": "The user lives in Lisbon.", "source_message_ids": ["zzz"]}]}'
    )
    props, _ = to_proposals(out, _turns(), profile="default", conversation_id="c1")
    assert props[0].candidate.source_message_ids == ["a" * 32]


def test_prompt_shows_ids_dates_and_existing_memories():
    existing = [Memory("The user lives in Lisbon.", key="home_city", id="c" * 32)]
    msgs = build_messages(_turns(), [], existing)
    user = msgs[1]["content"]
    assert f'<memory id="{"c" * 32}" section="facts" key="home_city">' in user
    assert f'<turn id="{"a" * 32}" date=' in user and "NEW TURNS" in user
    assert "ABSOLUTE" in msgs[0]["content"]
