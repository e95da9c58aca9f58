"""Redaction is enforced at the storage boundary: a secret given through any write path, in
any field, is in no file under the data dir afterwards -- SQLite (and its FTS copies), the
embedded Valkey's AOF, Chroma, the exports and a backup.

Every path is one line in ``PATHS``: a function that hands ``SECRET`` to the store through
one field. ``_stored_nowhere`` then indexes, exports, backs up, closes the store and scans.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from memory.config import load_settings
from memory.models import Memory
from memory.secrets import find_secrets, redact_stored, redact_value
from memory.shortterm.embedded_server import wait_aof_rewrite
from memory.sqlite.long_term import _MUTABLE
from memory.store import MemoryStore
from memory.transfer.backup import backup
from memory.transfer.files import read_import
from tests.canary import files_containing

# The distinctive part is what the scan looks for: the full-text index keeps "sk-proj-..." as
# separate (lower-cased) tokens, and JSON or a history snapshot may quote it.
TAIL = "Zq7Xw3Vt9Rb2" * 3
SECRET = f"sk-proj-{TAIL}"
MARK = "[REDACTED:openai-key]"
# Fields a caller may not set to free text (validated, or identity).
_NOT_FREE_TEXT = {"id", "profile", "section", "status", "persistence", "scope"}


def _text_fields(names) -> list[str]:
    """Memory's text fields (str or list[str]) among ``names``: a new one is tested too."""
    return [
        f.name
        for f in fields(Memory)
        if f.name in names and f.name not in _NOT_FREE_TEXT and "str" in str(f.type)
    ]


def _secret_for(name: str):
    text = f"{name} {SECRET}"
    return [text] if name in ("tags", "source_message_ids") else text


@pytest.fixture
def store():
    s = MemoryStore(load_settings())  # embedded Redis with AOF in the test's home
    yield s
    s.close()


def _wait_aof_rewrite(store) -> None:
    wait_aof_rewrite(store.short.primary.r)


def _stored_nowhere(store, home: Path) -> None:
    """Index, export (memories and conversations) and back up; close; scan every file."""
    assert store.short.mode == "embedded"  # so the AOF is part of the scan
    store.index_pending()
    out = home / "exports"
    out.mkdir()
    for fmt in ("jsonl", "json", "markdown"):
        store.transfer.write_export(out / f"memories.{fmt}", fmt)
    for c in store.list_conversations(archived=None):
        for fmt in ("markdown", "json"):
            (out / f"{c.id}.{fmt}").write_text(store.transfer.export_conversation(c.id, fmt))
    backup(store.settings, home / "backups" / "b1")
    _wait_aof_rewrite(store)
    store.close()
    assert files_containing(home, TAIL) == []
    # and it was stored (redacted), not dropped: the test is not vacuous
    assert files_containing(home, MARK) != []


# ----------------------------------------------------------------------------- the paths
def _add_field(name):
    if name == "content":
        return lambda s: s.add_memory(f"my key is {SECRET}")
    return lambda s: s.add_memory(f"plain memory about {name}", **{name: _secret_for(name)})


def _update_field(name):
    def run(s):
        m = s.add_memory(f"plain memory before {name} changes")
        s.update_memory(m.id, **{name: _secret_for(name)})

    return run


def _import(record: dict, history: dict | None = None, *, seed: bool = False):
    def run(s):
        rec = record if seed else {"content": "imported plain memory", **record}
        if history is not None:
            rec["history"] = [{"action": "updated", "at": 1.0, **history}]
        path = s.settings.home / "in.jsonl"
        path.write_text(json.dumps(rec) + "\n")
        report = s.transfer.apply_import(read_import(path))
        assert report.errors == [] and report.added == 1
        path.unlink()

    return run


def _conversation(**kw):
    return lambda s: s.new_conversation(**{"title": "chat", **kw})


def _message(**kw):
    def run(s):
        c = s.new_conversation("chat")
        s.add_message(c.id, "user", kw.pop("content", "hello"), **kw)

    return run


def _update_message(**kw):
    def run(s):
        c = s.new_conversation("chat")
        m = s.add_message(c.id, "assistant", "", status="partial")
        s.update_message(m.id, **kw)

    return run


def _checkpoint(s):
    c = s.new_conversation("chat")
    m = s.add_message(c.id, "assistant", "", status="partial")
    s.checkpoint_message(m.id, f"streaming reply {SECRET}")


def _session_state(s):
    c = s.new_conversation("chat")
    s.set_session_state(c.id, draft=f"draft {SECRET}", **{f"field {SECRET}": 1})
    s.sync_session_state(c.id)


def _prompt_history(s):
    s.push_command(f"export OPENAI_API_KEY={SECRET}")
    s.push_command(f"my key is {SECRET}")
    assert s.sync_commands() == 2


def _preference(s):
    s.set_preference(f"key {SECRET}", f"value {SECRET}")
    s.set_preference(f"key {SECRET}", f"changed {SECRET}")  # found again by its (redacted) key
    assert s.preferences() == {f"key {MARK}": f"changed {MARK}"}  # and cached in Redis


def _summary(s):
    from assistant.summaries import summarize

    class ScriptedLLM:  # the LLM's answer is the only input here
        def complete(self, messages, max_tokens=None):
            return f"The user shared the key {SECRET}."

        def count_tokens(self, messages):
            return 10

        def cost(self, p, c):
            return 0.0

    c = s.new_conversation("chat")
    s.add_message(c.id, "user", "hello")
    s.add_message(c.id, "assistant", "hi")
    assert summarize(s, ScriptedLLM(), c.id).memory is not None


def _raw_sql(s):
    """A write path nobody wrote redaction for (as a future one would be): the connection
    redacts it anyway, whichever way the statement is run."""
    m = s.add_memory("plain memory")
    with s.db.tx() as conn:
        conn.execute(
            "INSERT INTO kv (profile, key, value, updated_at) VALUES (?, ?, ?, 0)",
            (s.profile, f"k {SECRET}", json.dumps({"v": [f"my password is {SECRET}"]})),
        )
        conn.executemany("UPDATE memories SET entity_type = ? WHERE id = ?", [(SECRET, m.id)])
        conn.cursor().execute(
            "WITH x AS (SELECT ? AS v) UPDATE memories SET value = (SELECT v FROM x) WHERE id = ?",
            (SECRET, m.id),
        )
    assert s.db.one("SELECT value FROM kv WHERE key LIKE 'k %'")["value"] == json.dumps(
        {"v": ["my password is [REDACTED:password]"]}, ensure_ascii=False
    )


def _reply_version(s):
    """An answer replaced by regenerate, kept as an earlier version (reply_versions)."""
    c = s.new_conversation("chat")
    u = s.add_message(c.id, "user", "hello")
    r = s.add_message(c.id, "assistant", f"your key is {SECRET}", model=SECRET)
    s.keep_reply_version(u.id, r)
    s.delete_messages([r.id])
    assert s.reply_versions(u.id).versions[0].content == f"your key is {MARK}"


PATHS = {
    **{f"add_memory {n}": _add_field(n) for n in _text_fields({f.name for f in fields(Memory)})},
    **{f"update_memory {n}": _update_field(n) for n in _text_fields(_MUTABLE)},
    "import content": _import({"content": f"imported {SECRET}"}),
    "import key": _import({"key": f"k {SECRET}"}),
    "import value": _import({"value": f"v {SECRET}"}),
    "import tags": _import({"tags": [f"t {SECRET}"]}),
    "import entity_type": _import({"entity_type": f"e {SECRET}"}),
    "import entity_id": _import({"entity_id": f"e {SECRET}"}),
    "import source_conversation_id": _import({"source_conversation_id": SECRET}),
    "import source_message_ids": _import({"source_message_ids": [SECRET]}),
    "import history reason": _import({}, {"reason": f"r {SECRET}", "actor": f"a {SECRET}"}),
    "import history before/after": _import(
        {}, {"before": {"content": SECRET, SECRET: [SECRET]}, "after": {"tags": [SECRET]}}
    ),
    "import seed record": _import(
        {"category": "facts", "key": f"k {SECRET}", "value": {"token": SECRET}}
        | {"tags": [SECRET], "entity_id": SECRET, "provenance": {"from": SECRET}},
        seed=True,
    ),
    "conversation title": _conversation(title=f"deploy with {SECRET}"),
    "conversation system prompt": _conversation(system_prompt=f"you hold {SECRET}"),
    "conversation model and project": _conversation(model=SECRET, project=f"p {SECRET}"),
    "update_conversation": lambda s: s.update_conversation(
        s.new_conversation("chat").id, title=SECRET, system_prompt=SECRET, model=SECRET
    ),
    "chat message": _message(content=f"my key is {SECRET}"),
    "chat message error and model": _message(error=f"failed: {SECRET}", model=SECRET),
    "update_message content and error": _update_message(content=SECRET, error=SECRET),
    "streaming checkpoint": _checkpoint,
    "session state": _session_state,
    "reply version": _reply_version,
    "temporary": lambda s: s.set_temporary(f"key {SECRET}", f"value {SECRET}"),
    "prompt history": _prompt_history,
    "preference and its cache": _preference,
    "deferred job": lambda s: s.defer_job("extract", [SECRET, {"k": SECRET}], key=SECRET),
    "summary (worker)": _summary,
    "raw SQL write": _raw_sql,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_secret_is_stored_nowhere(path, store, home):
    assert find_secrets(SECRET) == ["openai-key"]
    PATHS[path](store)
    _stored_nowhere(store, home)


def test_memory_add_cli_redacts_tag_and_key_in_a_fresh_process(home):
    """The real CLI, in its own process (embedded Valkey with AOF, exits when done)."""
    env = {**os.environ, "MEMCHAT_HOME": str(home)}
    run = [sys.executable, "-m", "tui", "memory", "add"]
    r = subprocess.run(
        [*run, f"text {SECRET}", "--tag", SECRET, "--key", f"k {SECRET}", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)  # what it reports is what it stored
    assert (shown["tags"], shown["key"], shown["content"]) == ([MARK], f"k {MARK}", f"text {MARK}")
    r = subprocess.run(
        [*run, "dark", "--section", "preferences", "--key", SECRET],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert TAIL not in r.stdout + r.stderr
    assert files_containing(home, TAIL) == []
    assert files_containing(home, MARK) != []


# ----------------------------------------------------------------------------- the helpers
def test_json_columns_stay_json_when_redacted():
    """A JSON column is redacted value by value: a plain redaction of the text would let the
    password pattern swallow the closing quote and bracket."""
    doc = json.dumps(["my password is hunter2", {"k": SECRET}])
    out = redact_stored(doc)
    assert json.loads(out) == ["my password is [REDACTED:password]", {"k": MARK}]
    assert redact_stored('"a ' + SECRET + '"') == f'"a {MARK}"'
    assert redact_stored("[not json " + SECRET) == f"[not json {MARK}"
    # escaped in the JSON text ("\\u0664", "\\u017f"), found in the values
    hidden = json.dumps(
        ["pa\u017f\u017fword: hunter2", "\u0664\u0661\u0661\u0661" + " \u0661" * 12]
    )
    assert "[REDACTED:" not in hidden and json.loads(redact_stored(hidden)) == [
        "pa\u017f\u017fword: [REDACTED:password]",
        "[REDACTED:card-number]",
    ]
    clean = json.dumps({"a": ["b"]})
    assert redact_stored(clean) is clean  # nothing to redact: the very same text


def test_redact_value_reaches_every_string_and_copies_only_what_changed():
    m = Memory(content="plain", tags=["a", SECRET], key=SECRET)
    r = redact_value(m)
    assert (r.content, r.tags, r.key) == ("plain", ["a", MARK], MARK)
    assert m.key == SECRET  # the caller's object is not changed
    clean = Memory(content="plain", tags=["a"])
    assert redact_value(clean) is clean
    assert redact_value((1, {SECRET: [SECRET]}, None)) == (1, {MARK: [MARK]}, None)


@pytest.mark.parametrize(
    "secret",
    [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "sk-ant-" + "a" * 30,
        "ghp_" + "b" * 36,
        "github_pat_" + "c" * 30,
        "AKIAABCDEFGHIJKLMNOP",
        "ASIAABCDEFGHIJKLMNOP",
        "AIza" + "d" * 35,
        "xoxb-1234567890-abc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "Bearer abcdefghijklmnopqrstuvwxyz",
        "BEARER abcdefghijklmnopqrstuvwxyz",
        "password: hunter2",
        "PASSWD=hunter2",
        "pwd is hunter2",
        "passphrase: correct horse",
        "api_key=abc",
        "API-KEY: abc",
        "secret_key=abc",
        "access-token: abc",
        "auth_token=abc",
        "pa\u017f\u017fword: hunter2",  # long s: the (?i) patterns match it, so must the filter
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "x1234 4111111111111111",  # a card right after a number glued to a word
        "\u0664\u0661\u0661\u0661" + " \u0661\u0661\u0661\u0661" * 3,  # Arabic-Indic digits
    ],
)
def test_the_fast_filter_never_hides_a_secret(secret):
    """find_secrets/redact skip the regexes for text without any hint of a secret; each kind
    must still be found and redacted."""
    text = f"note: {secret} end"
    assert find_secrets(text), secret
    assert "[REDACTED:" in redact_value(text)


def test_chroma_metadata_is_redacted_on_its_way_in():
    """Chroma gets metadata from redacted rows; its one entry redacts again (a belt)."""
    from memory.vectors.index import clean_metadata

    meta = clean_metadata({"tags": ["a", SECRET], "entity": SECRET, "pinned": True, "n": 2})
    assert meta == {"tags": f"a,{MARK}", "entity": MARK, "pinned": True, "n": 2}


def test_a_profile_name_that_looks_like_a_secret_is_refused():
    """Every stored text is redacted, profile names included: such a profile's rows would be
    stored under "[REDACTED:…]" and never found again, so the name is refused up front."""
    from memory.errors import ConfigError

    with pytest.raises(ConfigError, match="must not look like a secret"):
        load_settings(profile="sk-" + "a" * 24)
    assert load_settings(profile="work-2024").profile == "work-2024"
