"""`memchat doctor --fix`: real drift, bad permissions and a crashed server's leftovers, repaired."""

from __future__ import annotations

import json
import os
import shutil
import stat

from click.testing import CliRunner

from memory.config import load_settings
from memory.store import MemoryStore
from tui.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def lines(output: str, status: str, component: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.split()[:2] == [status, component]]


def test_fix_replays_the_outbox_and_rebuilds_a_drifted_index(redis_url):
    settings = load_settings()
    with MemoryStore(settings) as s:
        for text in ("I like green tea", "My sister lives in Porto", "I run on Sundays"):
            s.add_memory(text)
        c = s.new_conversation("chat")
        s.add_message(c.id, "user", "hello there")
        s.for_profile("work").add_memory("The standup is at 9:30")
        s.index_pending()
        assert s.vectors.count("default") == 4
    shutil.rmtree(settings.chroma_path)  # the whole vector tier is gone
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # what a new process would see
    with MemoryStore(settings) as s:
        s.add_memory("Added while the index was away")  # an outbox row waiting
        assert s.db.scalar("SELECT COUNT(*) FROM index_outbox") == 1

    r = run("doctor", "--fix", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    fixed = [f["detail"] for f in report["fixes"] if f["status"] == "FIXED"]
    assert any("replayed 1 index outbox" in d for d in fixed)
    assert any("profile default" in d and "rebuilt (5 indexed)" in d for d in fixed)
    assert any("profile work" in d for d in fixed)
    assert all(f["status"] != "FAIL" for f in report["fixes"] + report["checks"])

    with MemoryStore(settings) as s:
        assert s.db.scalar("SELECT COUNT(*) FROM index_outbox") == 0
        assert s.vectors.count("default") == 5
        assert s.vectors.count("work") == 1
        hits = s.recall("what tea do I like?", token_budget=None)
        assert hits and "green tea" in hits[0].text

    again = run("doctor", "--fix")  # nothing left to repair
    assert again.exit_code == 0
    assert lines(again.output, "OK", "vectors")[0].endswith("vector counts match SQLite")
    assert not lines(again.output, "FIXED", "vectors")


def test_fix_makes_the_data_dir_private(redis_url):
    settings = load_settings()
    with MemoryStore(settings) as s:
        s.add_memory("something")
        s.index_pending()
    home = settings.home
    os.chmod(home, 0o755)
    os.chmod(settings.db_path, 0o644)
    os.chmod(settings.chroma_path, 0o775)
    r = run("doctor", "--fix")
    assert r.exit_code == 0, r.output
    assert lines(r.output, "FIXED", "data")
    assert (mode(home), mode(settings.db_path), mode(settings.chroma_path)) == (0o700, 0o600, 0o700)
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                assert mode(path) & 0o077 == 0, path
    assert "every file and folder is private" in run("doctor", "--fix").output


def test_fix_recovers_a_crashed_embedded_server(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    settings = load_settings()
    redis_dir = settings.home / "redis"
    redis_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    (redis_dir / "server.pid").write_text("999999\n")  # no such process
    r = run("doctor", "--fix")
    assert r.exit_code == 0, r.output
    fixed = lines(r.output, "FIXED", "redis")
    assert fixed and "dead process 999999" in fixed[0]
    assert lines(r.output, "OK", "redis")  # the check after the repair: the server answers
    assert not (redis_dir / "server.pid").exists()  # the last user shut it down cleanly
