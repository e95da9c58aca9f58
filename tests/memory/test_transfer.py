"""Export/import round trips, malformed imports, backup and restore of a live store."""

from __future__ import annotations

import json
import threading

import pytest

from memory.config import load_settings
from memory.store import MemoryStore
from memory.transfer.backup import BackupError, backup, restore
from memory.transfer.files import read_import


@pytest.fixture
def store():
    s = MemoryStore(load_settings(), start_redis=False)
    yield s
    s.close()


def _fill(store, n: int) -> None:
    c = store.new_conversation("source")
    msg = store.add_message(c.id, "user", "facts follow")
    with store.db.tx():
        for i in range(n):
            m = store.add_memory(
                f"fact number {i} about topic {i % 17}",
                tags=[f"t{i % 5}"],
                pinned=i % 10 == 0,
                source_conversation_id=c.id,
                source_message_ids=[msg.id],
                importance=(i % 10) / 10,
            )
            if i % 3 == 0:
                store.update_memory(
                    m.id, content=f"fact number {i} about topic {i % 17} (revised)", reason="r"
                )


def _essence(store):
    return sorted(
        (
            m.content,
            m.section,
            tuple(m.tags),
            m.pinned,
            m.importance,
            m.source_conversation_id,
            tuple(m.source_message_ids),
            tuple((h.action, h.actor, h.reason) for h in store.memory_history(m.id)),
        )
        for m in store.list_memories(limit=100_000)
    )


def test_round_trip_into_a_new_profile_is_identical_and_idempotent(store, tmp_path):
    _fill(store, 1000)
    path = tmp_path / "export.jsonl"
    path.write_text("".join(store.transfer.export_memories("jsonl")))
    assert len(path.read_text().splitlines()) == 1000

    other = store.for_profile("restored")
    report = other.transfer.apply_import(read_import(path))
    assert (report.added, report.skipped_existing, report.errors) == (1000, 0, [])
    original = _essence(store)
    copied = _essence(other)
    # the import adds one history row of its own ("added" by import) after the originals
    strip = [(*row[:7], tuple(h for h in row[7] if h[1] != "import")) for row in copied]
    assert strip == original
    again = other.transfer.apply_import(read_import(path))
    assert (again.added, again.skipped_existing) == (0, 1000)
    assert other.count_memories() == 1000
    assert store.count_memories() == 1000  # the source profile is untouched


def test_same_profile_reimport_keeps_ids(store, tmp_path):
    m = store.add_memory("ids survive", tags=["x"])
    path = tmp_path / "e.json"
    path.write_text("".join(store.transfer.export_memories("json")))
    fresh_home = MemoryStore(load_settings(home=tmp_path / "home2"), start_redis=False)
    try:
        fresh_home.transfer.apply_import(read_import(path))
        assert fresh_home.get_memory(m.id).content == "ids survive"
    finally:
        fresh_home.close()


def test_malformed_file_is_rejected_line_by_line_and_nothing_written(store, tmp_path):
    path = tmp_path / "bad.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"content": "a good one"}\n')
        f.write(b'{"content": "broken json"\n')
        f.write(b'{"section": "facts"}\n')  # missing content
        f.write(b'{"content": 12, "pinned": "maybe"}\n')  # wrong types
        f.write(b'{"content": "' + b"x" * 50_000_000 + b'"}\n')  # a 50 MB line
        f.write(b'{"content": "bad utf8 \xff\xfe"}\n')
        f.write(b'{"content": "fine", "section": "nonsense"}\n')
    report = read_import(path)
    lines = dict(report.errors)
    assert sorted(lines) == [2, 3, 4, 5, 6, 7]
    assert "bad JSON" in lines[2]
    assert lines[3].startswith("content: Field required")
    assert lines[4].startswith("content: Input should be a valid string")
    assert "longer than 1 MB" in lines[5]
    assert "not UTF-8" in lines[6]
    assert "unknown section 'nonsense'" in lines[7]
    assert [r.content for r in report.records] == ["a good one"]
    assert store.count_memories() == 0  # validation wrote nothing


def test_cli_import_refuses_bad_files_unless_skip_invalid(tmp_path):
    from click.testing import CliRunner

    from tui.cli import cli

    path = tmp_path / "mixed.jsonl"
    path.write_text('{"content": "tea is nice"}\n[1, 2]\n')
    r = CliRunner().invoke(cli, ["memory", "import", str(path)])
    assert (
        r.exit_code == 1
        and ":2: expected a JSON object" in r.output
        and "nothing imported" in r.output
    )
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.count_memories() == 0
    r = CliRunner().invoke(cli, ["memory", "import", str(path), "--skip-invalid", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output[r.output.index("{") :]) == {
        "added": 1,
        "already_present": 0,
        "invalid": 1,
    }


def test_seed_key_value_format(store, tmp_path):
    path = tmp_path / "seeds.json"
    path.write_text(
        json.dumps(
            [
                {
                    "category": "preferences",
                    "key": "theme",
                    "value": "dark",
                    "tags": ["ui"],
                    "entity_type": "user",
                    "entity_id": "u1",
                    "timestamp": "2025-03-01T10:00:00Z",
                    "provenance": {"source": "onboarding"},
                },
                {"category": "facts", "key": "pet", "value": {"kind": "cat", "name": "Ziggy"}},
            ]
        )
    )
    report = store.transfer.apply_import(read_import(path))
    assert report.added == 2
    assert store.get_preference("theme") == "dark"
    pet = store.list_memories(section="facts")[0]
    assert pet.key == "pet" and "Ziggy" in pet.content
    assert store.transfer.apply_import(read_import(path)).added == 0  # idempotent


def test_exports_never_contain_secrets(store):
    store.add_memory("deploy token ghp_" + "a" * 36)
    text = "".join(store.transfer.export_memories("jsonl")) + "".join(
        store.transfer.export_memories("markdown")
    )
    assert "ghp_aaaa" not in text and "[REDACTED:github-token]" in text


def test_backup_of_a_live_store_restores_with_the_same_recall(store, tmp_path):
    for i in range(200):
        store.add_memory(f"note {i}: the blue notebook is on shelf {i}")
    store.add_memory("the spare key is under the flowerpot")
    store.index_pending()  # the vector tier is part of the backup too
    stop = threading.Event()

    def worker_writes():
        w = MemoryStore(load_settings(), start_redis=False)
        i = 0
        while not stop.is_set():
            w.add_memory(f"background chatter {i}")
            i += 1
        w.close()

    t = threading.Thread(target=worker_writes)
    t.start()
    try:
        dest = backup(store.settings, tmp_path / "bk")
    finally:
        stop.set()
        t.join()
    query = "where did I leave the house key?"  # a paraphrase: the vector tier must answer

    def ranked(s: MemoryStore) -> list[str]:  # chatter written after the copy is not in it
        hits = s.recall(query, limit=20, token_budget=None)
        return [h.text for h in hits if not h.text.startswith("background chatter")][:5]

    before = ranked(store)
    assert before[0] == "the spare key is under the flowerpot"
    home2 = tmp_path / "home2"
    manifest = restore(dest, home2)
    assert manifest["profiles"]["default"]["memories"] >= 201
    with MemoryStore(load_settings(home=home2), start_redis=False) as restored:
        assert restored.db.integrity() == "ok"
        assert restored.vectors.count("default") >= 201
        # the answer is the same; the near-identical "note N" rows below it may swap places,
        # as the live store has more chatter (written after the copy) among its candidates
        again = ranked(restored)
        assert again[0] == before[0]
        assert len(again) == len(before) and all(t.startswith("note ") for t in again[1:])
        assert restored.count_memories() >= 201


def test_restore_refuses_damaged_backups_and_keeps_existing_db(store, tmp_path):
    store.add_memory("precious")
    dest = backup(store.settings, tmp_path / "bk")
    with pytest.raises(BackupError, match="already exists; pass --force"):
        restore(dest, store.settings.home)
    (dest / "memchat.db").write_bytes(b"garbage")
    with pytest.raises(BackupError, match="does not match the manifest"):
        restore(dest, tmp_path / "elsewhere")
    with pytest.raises(BackupError, match="not a memchat backup"):
        restore(tmp_path, tmp_path / "elsewhere")


def test_conversation_export_redacts_titles_and_system_prompts(store):

    key = "ghp_" + "k" * 36
    c = store.new_conversation(f"deploy with {key}", system_prompt=f"token {key}")
    store.add_message(c.id, "user", "hello")
    for fmt in ("markdown", "json"):
        text = store.transfer.export_conversation(c.id, fmt)
        assert key not in text and "[REDACTED:github-token]" in text
