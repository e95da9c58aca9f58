"""Bad settings and hostile imports, as a new user or an attacker meets them: the real
`memchat` executable in a fresh process, one clear line, the right exit code, no traceback,
and nothing changed that memchat does not own."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from memory.config import load_settings
from memory.store import MemoryStore

MEMCHAT = [sys.executable, "-m", "tui"]
ROOT = Path(__file__).resolve().parents[2]
NO_VECTORS = {"MEMCHAT_EMBEDDING_MODEL": "/nonexistent-embedding-model"}


def memchat(*args: str, env: dict[str, str | None] | None = None, cwd: Path | None = None):
    # no embedding model: these commands then skip the vector tier (seconds of model loading
    # on a busy machine), which none of these tests is about
    full = {**os.environ, "PYTHONPATH": str(ROOT), **NO_VECTORS, **(env or {})}
    full = {k: v for k, v in full.items() if v is not None}  # None: unset it
    return subprocess.run(
        [*MEMCHAT, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=60
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


# ------------------------------------------------------------------------------ the data dir
def test_an_empty_memchat_home_is_refused_and_the_current_dir_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    r = memchat("memory", "list", env={"MEMCHAT_HOME": ""}, cwd=shared)
    assert r.returncode == 3
    line = one_line(r.stderr)
    assert "MEMCHAT_HOME" in line and "empty" in line
    assert mode(shared) == 0o1777 and list(shared.iterdir()) == []


def test_an_existing_data_dir_keeps_its_mode_and_memchat_says_what_is_wrong(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    r = memchat("memory", "list", env={"MEMCHAT_HOME": str(shared)})
    assert r.returncode == 0, r.stderr
    line = one_line(r.stderr)
    assert f"data dir {shared} is mode 1777" in line and f"chmod 700 {shared}" in line
    assert mode(shared) == 0o1777  # was chmodded to 0700
    assert mode(shared / "memchat.db") == 0o600  # what memchat creates in it is private
    from memory.health import check_data_dir

    os.environ["MEMCHAT_HOME"] = str(shared)  # (restored by the autouse home fixture)
    check = check_data_dir(load_settings())
    assert check.status == "WARN" and "chmod 700" in check.detail
    assert mode(shared) == 0o1777


def test_a_data_dir_memchat_creates_is_private(tmp_path):
    home = tmp_path / "new" / "home"
    r = memchat("memory", "list", env={"MEMCHAT_HOME": str(home)})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert mode(home) == 0o700 and mode(home.parent) == 0o700


def test_a_path_setting_of_the_wrong_type_is_refused_before_anything_is_created(tmp_path):
    cfg = Path(os.environ["MEMCHAT_CONFIG"])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for value, shown in (("123", "got 123"),):  # the other types: tests/memory/test_config_fuzz.py
        cfg.write_text(f"home = {value}\n")
        r = memchat("memory", "list", env={"MEMCHAT_HOME": None}, cwd=cwd)
        assert r.returncode == 3, r.stderr
        line = one_line(r.stderr)
        assert f"{cfg} line 1: home: expected a folder path (a string), {shown}" in line
    assert list(cwd.iterdir()) == []  # no ./123


def test_a_data_dir_with_a_newline_is_refused_and_starts_no_server(tmp_path):
    home = tmp_path / "bad\nhome"
    r = memchat("memory", "add", "hello", env={"MEMCHAT_HOME": str(home)})
    assert r.returncode == 3
    line = one_line(r.stderr)
    assert "MEMCHAT_HOME" in line and "control character" in line
    assert not home.exists()  # no data dir, so no valkey-server was started in it


# ------------------------------------------------------------------------------ flags
def test_a_bad_profile_flag_is_blamed_on_the_flag():
    r = memchat("--profile", "Not Valid!", "memory", "list")
    assert r.returncode == 2
    assert "Invalid value for '--profile' / '-p': 'Not Valid!'" in r.stderr
    assert "MEMCHAT_PROFILE" not in r.stderr and "Traceback" not in r.stderr


def test_adding_an_empty_memory_says_the_text_is_empty():
    r = memchat("memory", "add", "")
    assert r.returncode == 2
    assert "Invalid value for TEXT: the memory text is empty" in r.stderr
    assert "--scope" not in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ imports
def test_import_reports_hostile_lines_and_keeps_the_valid_ones(tmp_path, redis_url):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    r = memchat("memory", "import", str(deep))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{deep}:1: nested more than 64 levels deep" in r.stderr

    bad_first = tmp_path / "bad-first.jsonl"
    bad_first.write_bytes(
        b'{"content": "\xff oops"}\n{"content": "valid a"}\n{"content": "valid b"}\n'
    )
    r = memchat("memory", "import", "--skip-invalid", str(bad_first))
    assert r.returncode == 0, r.stderr
    assert f"{bad_first}:1: not UTF-8 text" in r.stderr and ":0:" not in r.stderr
    assert "imported 2, already present 0, skipped invalid 1" in r.stdout

    times = tmp_path / "times.jsonl"
    times.write_text(
        '{"content": "nan", "created_at": NaN}\n{"content": "inf", "updated_at": Infinity}\n'
        '{"content": "far", "created_at": 1e20}\n{"content": "now", "created_at": 1700000000}\n'
    )
    r = memchat("memory", "import", str(times))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "NOT NULL" not in r.stderr
    assert [ln.split(": ")[0] for ln in r.stderr.splitlines()[:3]] == [
        f"{times}:{n}" for n in (1, 2, 3)
    ]
    assert "nothing imported" in r.stderr
    listed = json.loads(memchat("memory", "list", "--json").stdout)
    assert sorted(m["content"] for m in listed) == ["valid a", "valid b"]


def test_list_and_export_survive_a_stored_date_out_of_range(tmp_path):
    """What an older memchat let in (created_at 1e20) no longer breaks `memory list` or the
    Markdown export (they crashed with OverflowError until the memory was forgotten)."""
    with MemoryStore(load_settings(), start_redis=False) as store:
        m = store.add_memory("from the far future")
        with store.db.tx() as conn:
            conn.execute(
                "UPDATE memories SET created_at = 1e20, updated_at = 1e20 WHERE id = ?", (m.id,)
            )
    r = memchat("memory", "list")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "from the far future" in r.stdout
    out = tmp_path / "m.md"
    r = memchat("memory", "export", "--format", "markdown", "-o", str(out))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "from the far future" in out.read_text() and "unknown date" in out.read_text()
