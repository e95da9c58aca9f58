"""Helpers for the pipeline tests: a scripted extraction model and small waiting utilities."""

from __future__ import annotations

import json
import re
import time

EXTRACTION_MARK = "long-term memory of a personal assistant"
SUMMARY_MARK = "Summarize this part of a chat"


def new_turns(body: dict) -> list[tuple[str, str, str]]:
    """(id, role, text) of the NEW TURNS in an extraction request."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    part = user.split("NEW TURNS:", 1)[1]
    return re.findall(r"\[id=([0-9a-f]+) date=[^\]]*\] (\w+): (.*)", part)


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
