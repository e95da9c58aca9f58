"""Bad input and broken storage: a clear message, and nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from memory.config import load_settings
from memory.errors import StorageError
from memory.store import MemoryStore


def memchat(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_corrupted_database_names_the_file_and_the_newest_backup(home):
    from memory.transfer.backup import backup

    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("keep me")
        dest = backup(s.settings, home / "backups" / "memchat-20260101-000000")
    db = home / "memchat.db"
    for side in ("memchat.db-wal", "memchat.db-shm"):
        (home / side).unlink(missing_ok=True)
    db.write_bytes(b"this is not sqlite at all" * 100)
    r = memchat("memory", "list")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"the database {db} is damaged" in r.stderr
    assert f"memchat restore --force {dest}" in r.stderr
    r = memchat("restore", "--force", str(dest))
    assert r.returncode == 0, r.stderr
    assert "keep me" in memchat("memory", "list").stdout


def test_full_disk_is_a_clear_error_and_corrupts_nothing():
    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("written before the disk filled up")
        pages = s.db.scalar("PRAGMA page_count")
        s.db.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the file cannot grow any more
        with pytest.raises(StorageError, match="full"):
            for i in range(200):
                s.add_memory(f"filler {i} " + "x" * 4000)
        assert s.db.integrity() == "ok"
        assert "written before the disk filled up" in [
            m.content for m in s.list_memories(limit=500)
        ]


def test_control_characters_are_stored_as_is_and_printed_safely(redis_url):
    hostile = "evil \x1b]0;pwned\x07 \x1b[2J title \x00 nul \u202e rtl"
    with MemoryStore(load_settings()) as s:
        m = s.add_memory(hostile)
        assert s.get_memory(m.id).content == hostile.strip()  # nothing lost in storage
    out = memchat("memory", "list").stdout + memchat("memory", "show", m.id).stdout
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out
    assert "evil" in out and "title" in out


def test_a_one_megabyte_paste_is_stored_whole_and_searchable(redis_url):
    paste = ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000] + " UNIQUETOKEN42"
    with MemoryStore(load_settings()) as s:
        c = s.new_conversation()
        msg = s.add_message(c.id, "user", paste)
        assert len(s.get_message(msg.id).content) == len(paste)
        assert [m.id for m, _ in s.search_messages("UNIQUETOKEN42")] == [msg.id]


def test_logs_go_to_a_private_file_with_secrets_redacted(home):
    import logging

    from memory.logs import setup_logging

    path = setup_logging(home / "logs")
    key = "sk-proj-" + "Zq9" * 10
    logging.getLogger("assistant.llm").warning("provider said: bad key %s", key)
    try:
        raise RuntimeError(f"failed with Authorization: Bearer {key}")
    except RuntimeError:
        logging.getLogger("tasks.extract").exception("extraction failed")
    for h in logging.getLogger().handlers:
        h.flush()
    text = path.read_text()
    assert "provider said: bad key [REDACTED:openai-key]" in text
    assert "extraction failed" in text and "RuntimeError" in text
    assert key not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_backup_killed_halfway_is_never_offered(home):
    """A real `memchat backup` SIGKILLed while it copies: no folder that looks like a backup is
    left, the damaged-database message names the last whole backup, and doctor --fix removes
    what the killed one left."""
    import signal
    import sqlite3
    import time

    from memory.transfer.backup import backup, complete_backups

    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("keep me")
        whole = backup(s.settings, home / "backups" / "memchat-20260101-000000")
    db = home / "memchat.db"
    con = sqlite3.connect(db)  # ballast, so the copy takes long enough to be cut
    con.execute("CREATE TABLE ballast (b BLOB)")
    con.executemany("INSERT INTO ballast VALUES (randomblob(?))", [(1 << 20,)] * 120)
    con.commit()
    con.close()

    p = subprocess.Popen(
        [sys.executable, "-m", "tui", "backup"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            copying = [
                d
                for d in (home / "backups").iterdir()
                if d != whole and (d / "memchat.db").exists()
            ]
            if copying or p.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.002)
        assert copying, "the backup finished before it could be killed"
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()

    assert complete_backups(home / "backups") == [whole]
    assert [d for d in (home / "backups").iterdir() if not d.name.startswith(".")] == [whole]
    with MemoryStore(load_settings(), start_redis=False) as s:
        check = s.health.backups()
        assert check is not None and check.status == "WARN" and "unfinished" in check.detail
        fixed = s.health.fix_backups()
        assert fixed is not None and fixed.status == "FIXED"
        assert list((home / "backups").iterdir()) == [whole]

    for side in ("memchat.db-wal", "memchat.db-shm"):
        (home / side).unlink(missing_ok=True)
    db.write_bytes(b"this is not sqlite at all" * 100)
    r = memchat("memory", "list")
    assert f"memchat restore --force {whole}` (your newest backup)" in r.stderr, r.stderr
