"""`memchat chat list` and `memchat chat export` through the real CLI and a real SQLite store."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from memory.config import load_settings
from memory.store import MemoryStore
from tui.cli import cli

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def chats() -> dict[str, str]:
    with MemoryStore(load_settings(), start_redis=False) as s:
        a = s.new_conversation("Trip to Lisbon")
        s.add_message(a.id, "user", "plan a weekend in Lisbon")
        s.add_message(a.id, "assistant", "Day one: **Alfama**.")
        b = s.new_conversation(f"my key {SECRET}", system_prompt=f"use {SECRET}")
        s.add_message(b.id, "user", f"remember my key {SECRET}")
        s.update_conversation(b.id, title=f"key {SECRET}")
        s.new_conversation("throwaway", incognito=True)
        w = s.for_profile("work").new_conversation("Work only")
        return {"a": a.id, "b": b.id, "work": w.id}


def test_chat_list_shows_this_profiles_conversations(chats):
    r = run("chat", "list", "--json")
    assert r.exit_code == 0
    rows = json.loads(r.output)
    assert {row["id"] for row in rows} == {chats["a"], chats["b"]}  # no incognito, no other profile
    lisbon = next(row for row in rows if row["id"] == chats["a"])
    assert lisbon["title"] == "Trip to Lisbon" and lisbon["messages"] == 2
    assert SECRET not in r.output
    table = run("chat", "list")
    assert "Trip to Lisbon" in table.output and chats["a"][:8] in table.output
    assert SECRET not in table.output
    work = json.loads(run("--profile", "work", "chat", "list", "--json").output)
    assert [row["id"] for row in work] == [chats["work"]]


def test_chat_export_one_as_markdown_and_json(chats, tmp_path):
    r = run("chat", "export", chats["a"][:6])
    assert r.exit_code == 0
    assert r.output.startswith("# Trip to Lisbon")
    assert "plan a weekend in Lisbon" in r.output and "Day one: **Alfama**." in r.output

    out = tmp_path / "b.json"
    r = run("chat", "export", chats["b"], "--format", "json", "-o", str(out))
    assert r.exit_code == 0
    text = out.read_text()
    assert SECRET not in text and "REDACTED" in text
    doc = json.loads(text)
    assert doc["conversation"]["id"] == chats["b"]
    assert [m["role"] for m in doc["messages"]] == ["user"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_chat_export_all_to_a_folder_and_to_stdout(chats, tmp_path):
    folder = tmp_path / "chats"
    r = run("chat", "export", "--all", "-o", str(folder))
    assert r.exit_code == 0
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 2 and all(f.endswith(".md") for f in files)
    assert any("trip-to-lisbon" in f and chats["a"][:8] in f for f in files)
    assert all(SECRET not in (folder / f).read_text() for f in files)

    r = run("chat", "export", "--all", "--format", "json")
    doc = json.loads(r.output)
    assert doc["profile"] == "default"
    assert {c["conversation"]["id"] for c in doc["conversations"]} == {chats["a"], chats["b"]}
    assert SECRET not in r.output


def test_chat_export_usage_errors(chats):
    assert run("chat", "export").exit_code == 2
    assert run("chat", "export", chats["a"], "--all").exit_code == 2
    missing = run("chat", "export", "ffffffff")
    assert missing.exit_code == 1 and "no conversation" in missing.output


def test_chat_help_has_examples():
    r = run("chat", "--help")
    assert r.exit_code == 0
    assert "memchat chat export --all -o chats/" in r.output
    assert "list" in r.output and "export" in r.output
