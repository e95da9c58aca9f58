"""Helpers for the pipeline tests: a scripted extraction model and small waiting utilities."""

from __future__ import annotations

import json
import re
import time

EXTRACTION_MARK = "long-term memory of a personal assistant"
SUMMARY_MARK = "Summarize this part of a chat"


NEW_TURNS = re.compile(r"<new-turns-([0-9a-f]+)>\n(.*)\n</new-turns-\1>", re.S)
TURN = re.compile(r'<turn id="([0-9a-f]+)" date="[^"]*" role="(\w+)">(.*?)</turn>', re.S)


def new_turns(body: dict) -> list[tuple[str, str, str]]:
    """(id, role, text) of the NEW TURNS in an extraction request (their fenced block)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    block = NEW_TURNS.search(user)
    assert block, user
    return TURN.findall(block.group(2))


def extraction_reply(body: dict) -> str:
    """What a good extraction model would say about the residence examples."""
    system = body["messages"][0]["content"]
    if SUMMARY_MARK in system:
        return "The user talked about where they live."
    assert EXTRACTION_MARK in system
    mems = []
    for mid, role, text in new_turns(body):
        if role != "user":
            continue
        for city in ("Lisbon", "Porto"):
            if city in text:
                mems.append(
                    {
                        "content": f"The user lives in {city}.",
                        "section": "facts",
                        "key": "home_city",
                        "entity": "user",
                        "tags": ["location"],
                        "importance": 0.8,
                        "confidence": 0.9,
                        "source_message_ids": [mid],
                        "action": "add",
                        "reason": "stated by the user",
                    }
                )
        if "coffee" in text:
            mems.append(
                {
                    "content": "The user prefers black coffee.",
                    "section": "preferences",
                    "importance": 0.6,
                    "source_message_ids": [mid],
                }
            )
    return "```json\n" + json.dumps({"memories": mems}) + "\n```"


def wait_for(pred, timeout: float = 15.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def exchange(store, conv_id: str, user: str, reply: str = "Noted."):
    u = store.add_message(conv_id, "user", user)
    a = store.add_message(conv_id, "assistant", reply)
    return u, a
