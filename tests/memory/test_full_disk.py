"""A really full disk: ENOSPC from the kernel, not SQLite's ``max_page_count`` stand-in.

Each test runs one scenario (the ``scenario_*`` functions below) in a child Python process
inside a fresh user + mount namespace (``unshare -rm``): the child mounts a small tmpfs,
fills it with a ballast file or with memchat's own writes, drives memchat through its public
interfaces (``MemoryStore`` and the ``memchat`` CLI) and prints one JSON line of what it saw.
The test asserts on that. The mounts vanish with the namespace, so nothing leaks onto the host.

Where a namespace or a tmpfs mount cannot be had (no ``unshare``, EPERM in a container), the
tests skip with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
RESULT = "FULL-DISK-RESULT "
FULL = "is full; free some space"


# ============================================================================ parent side
@functools.cache
def _namespace() -> tuple[list[str] | None, str]:
    """The command prefix that gets a private mount namespace where tmpfs mounts work."""
    if not shutil.which("unshare") or not shutil.which("mount"):
        return None, "`unshare` or `mount` (util-linux) is not installed"
    probe = tempfile.mkdtemp(prefix="mcfull-")
    reasons = []
    try:
        candidates = [["unshare", "-rm"]] + ([["unshare", "-m"]] if os.geteuid() == 0 else [])
        for prefix in candidates:
            r = subprocess.run(
                [*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if r.returncode == 0:
                return prefix, ""
            reasons.append(f"`{' '.join(prefix)} mount -t tmpfs` failed: {r.stderr.strip()}")
    finally:
        os.rmdir(probe)
    return None, "; ".join(reasons)


def run_scenario(tmp_path: Path, name: str, size: str, timeout: float = 90) -> dict:
    prefix, reason = _namespace()
    if prefix is None:
        pytest.skip(f"needs a private mount namespace to mount a small tmpfs: {reason}")
    mnt = tmp_path / "disk"
    r = subprocess.run(
        [*prefix, sys.executable, str(HERE), name, str(mnt), size],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in r.stdout.splitlines() if line.startswith(RESULT)]
    assert r.returncode == 0 and lines, (
        f"scenario {name} failed (exit {r.returncode})\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    )
    return json.loads(lines[-1][len(RESULT) :])


def assert_one_clear_line(r: dict, *fragments: str) -> None:
    """A failed CLI run: exit 1, one ``memchat: ...`` line on stderr, no traceback."""
    assert r["rc"] == 1, r
    assert "Traceback" not in r["stderr"] and "Logging error" not in r["stderr"], r["stderr"]
    lines = r["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("memchat: "), r["stderr"]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# ============================================================================ the tests
def test_store_on_a_full_disk_raises_storage_error_and_loses_nothing(tmp_path):
    got = run_scenario(tmp_path, "store", "3m")
    # the kernel really said ENOSPC: the filesystem had (next to) nothing left
    assert got["free_when_failed"] < 64 * 1024
    assert got["error"] == "memory.errors.StorageError", got
    assert FULL in got["message"] and got["db_path"] in got["message"]
    assert got["second_error"] == "memory.errors.StorageError", got  # and again, not a traceback
    # what was committed before is all there, and nothing of the failed write
    assert got["written"] >= 3
    assert got["memories_while_full"] == got["written"] and got["messages_while_full"] == 3
    assert got["integrity_while_full"] == "ok"
    # freeing space (the ballast) is enough: the same store writes again
    assert got["after_free"] == ["memory", "message"]
    # a fresh process-level open sees every committed row, the failed one nowhere
    assert got["reopened_memories"] == got["written"] + 1 and got["reopened_messages"] == 4
    assert got["all_committed_kept"] and got["failed_content_found"] is False
    assert got["integrity_reopened"] == "ok"


def test_a_turn_that_fails_on_a_nearly_full_disk_was_not_stored(tmp_path):
    got = run_scenario(tmp_path, "turn", "8m")
    assert got["error"] is None or "StorageError" in got["error"], got
    assert (got["error"] is None) == got["stored"], got  # raised <=> not stored


def test_cli_on_a_full_disk_prints_one_clear_line_and_exits_1(tmp_path):
    got = run_scenario(tmp_path, "cli", "3m")
    assert got["free_when_full"] < 4096
    db = got["db_path"]
    # SQLite cannot even size its -shm file: it says "disk I/O error"; memchat says why
    assert_one_clear_line(got["add_full"], f"the disk holding {db} {FULL}")
    assert_one_clear_line(got["list_full"], f"the disk holding {db} {FULL}")
    assert got["add_freed"]["rc"] == 0, got["add_freed"]
    assert got["listed"] == ["written after space was freed", "written before the disk filled"]
    assert got["integrity"] == "ok"


def test_export_and_backup_onto_a_full_disk_fail_clearly_and_leave_nothing(
    tmp_path, home, model_dir
):
    from memory.config import load_settings
    from memory.store import MemoryStore

    with MemoryStore(load_settings(), start_redis=False) as s:
        for i in range(3):
            s.add_memory(f"indexed memory {i}")
        s.index_pending()  # a real Chroma folder for the backup to copy
        for i in range(150):
            s.add_memory(f"memory number {i} " + "w" * 300)
    chroma = sum(f.stat().st_size for f in (home / "chroma").rglob("*") if f.is_file())
    assert chroma > 256 * 1024, "the Chroma folder must not fit in the room left for it"

    got = run_scenario(tmp_path, "export_backup", "4m")
    # export -o: a clear line, and no cut-off file (nor a temp file) left behind
    assert_one_clear_line(got["export_full"], f"could not write {got['out']}: the disk is full")
    assert got["left_after_export"] == []
    # export to stdout (`> file` on the full disk): a clear line too; the shell's file stays
    assert_one_clear_line(got["stdout_full"], "could not write standard output: the disk is full")
    # backup: the database copy fails; the folder is removed again
    assert_one_clear_line(got["backup_db_full"], f"could not write the backup to {got['bk']}")
    assert "the disk is full" in got["backup_db_full"]["stderr"]
    assert got["left_after_backup_db"] == []
    # backup: the database fits, the Chroma copy does not; still nothing half-made left
    assert_one_clear_line(got["backup_chroma_full"], "the disk is full")
    assert got["left_after_backup_chroma"] == []
    # with room again both work, and a failed export keeps the earlier good file
    assert got["exported_lines"] == 153
    assert got["manifest_profiles"] == {"default": {"memories": 153}}
    assert "the disk is full" in got["export_over_full"]
    assert got["kept_lines"] == 153 and got["left_after_export_over"] == ["out.jsonl"]


def test_chroma_on_a_full_disk_keeps_the_outbox_and_catches_up(tmp_path, model_dir):
    got = run_scenario(tmp_path, "chroma", "32m")
    assert got["indexed_first"] == 3
    # Chroma's own SQLite says "database or disk is full": nothing raised, nothing lost
    assert got["applied_while_full"] == 0
    assert got["outbox_while_full"] == 20
    assert all("disk is full" in e for e in got["outbox_errors"]), got["outbox_errors"]
    assert got["vectors_while_full"] == 3
    assert got["query_while_full"]  # the vector tier still answers
    assert got["recall_while_full"] > 0  # and so does recall
    # with room again the outbox replays everything
    assert got["applied_after_free"] == 20
    assert got["vectors_after_free"] == 23 and got["outbox_after_free"] == 0
    assert got["all_indexed"]


def test_valkey_aof_on_a_full_disk_degrades_to_sqlite(tmp_path):
    got = run_scenario(tmp_path, "valkey", "16m")
    assert got["mode_before"] == "embedded"
    assert got["errors"] == [], got["errors"]  # every turn was kept
    assert got["degraded"] is True
    assert got["messages"] == 21 and got["recent_turns"] >= 2
    assert got["mode_after_free"] == "embedded"


# ============================================================================ child side
def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0700"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)


def free_bytes(where: Path) -> int:
    st = os.statvfs(where)
    return st.f_bavail * st.f_frsize


def fill(where: Path, leave: int = 0) -> Path:
    """A ballast file in ``where`` leaving about ``leave`` bytes free (0: until ENOSPC)."""
    ballast = where / ".ballast"
    ballast.unlink(missing_ok=True)
    want = free_bytes(where) - leave
    block = b"\xff" * 65536
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while leave == 0 or want > 0:
            try:
                want -= os.write(fd, block[: min(len(block), want)] if leave else block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return ballast


def memchat(*args: str, stdout=None) -> dict:
    import time

    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "tui", *args],
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - t0
    return {"rc": r.returncode, "stdout": r.stdout or "", "stderr": r.stderr, "took": took}


def listing(where: Path) -> list[str]:
    return sorted(str(p.relative_to(where)) for p in where.rglob("*") if p.name != ".ballast")


def qualname(e: BaseException | None) -> str | None:
    return None if e is None else f"{type(e).__module__}.{type(e).__name__}"


def scenario_store(mnt: Path) -> dict:
    from memory.config import load_settings
    from memory.store import MemoryStore

    os.environ["MEMCHAT_HOME"] = str(mnt / "home")
    ballast = fill(mnt, leave=free_bytes(mnt) - 512 * 1024)  # 512 KiB to free up later
    out: dict = {}
    s = MemoryStore(load_settings(), start_redis=False)
    out["db_path"] = str(s.settings.db_path)
    c = s.new_conversation("before the disk filled")
    msgs = [s.add_message(c.id, "user", f"message {i} before the disk filled").id for i in range(3)]
    mems, failure, failed = [], None, ""
    for i in range(2000):
        failed = f"memory {i} " + "y" * 2000
        try:
            mems.append(s.add_memory(failed).id)
        except Exception as e:  # noqa: BLE001 - the test reports what came out
            failure = e
            break
    out.update(
        written=len(mems),
        error=qualname(failure),
        message=str(failure),
        free_when_failed=free_bytes(mnt),
    )
    try:  # the same write again, still full: the same clear error
        s.add_memory(failed)
        out["second_error"] = None
    except Exception as e:  # noqa: BLE001
        out["second_error"] = qualname(e)
    out["memories_while_full"] = len(s.list_memories(limit=10_000))
    out["messages_while_full"] = len(s.messages(c.id))
    out["integrity_while_full"] = s.db.scalar("PRAGMA integrity_check")
    ballast.unlink()
    out["after_free"] = []
    s.add_memory("written after space was freed")
    out["after_free"].append("memory")
    s.add_message(c.id, "user", "written after space was freed")
    out["after_free"].append("message")
    s.close()
    with MemoryStore(load_settings(), start_redis=False) as s2:
        memories = s2.list_memories(limit=10_000)
        messages = s2.messages(c.id)
        out["reopened_memories"] = len(memories)
        out["reopened_messages"] = len(messages)
        out["all_committed_kept"] = set(mems) <= {m.id for m in memories} and set(msgs) <= {
            m.id for m in messages
        }
        out["failed_content_found"] = failed in {m.content for m in memories}
        out["integrity_reopened"] = s2.db.scalar("PRAGMA integrity_check")
    return out


def scenario_turn(mnt: Path) -> dict:
    from memory.config import load_settings
    from memory.store import MemoryStore

    os.environ["MEMCHAT_HOME"] = str(mnt / "home")
    out: dict = {}
    with MemoryStore(load_settings(), start_redis=False) as s:
        c = s.new_conversation("long turns")
        for i in range(8):  # the short-term copy of the recent turns grows to ~240 KB
            s.add_message(c.id, "user", f"long turn {i} " + "q" * 30_000)
        s.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no WAL space to reuse
        ballast = fill(mnt, leave=96 * 1024)  # room for a small row, not for that copy
        try:
            s.add_message(c.id, "user", "a short turn on a nearly full disk")
            out["error"] = None
        except Exception as e:  # noqa: BLE001 - the test reports what came out
            out["error"] = f"{qualname(e)}: {e}"
        out["stored"] = "a short turn on a nearly full disk" in {
            m.content for m in s.messages(c.id)
        }
        ballast.unlink()
    return out


def scenario_cli(mnt: Path) -> dict:
    import sqlite3

    from memory.config import load_settings
    from memory.shortterm.embedded_server import EmbeddedRedis
    from memory.store import MemoryStore

    home = mnt / "home"
    os.environ["MEMCHAT_HOME"] = str(home)
    os.environ["MEMCHAT_EMBEDDING_MODEL"] = str(mnt / "none")  # Chroma has its own test (slow)
    out: dict = {"db_path": str(home / "memchat.db")}
    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("written before the disk filled")
    try:
        ballast = fill(mnt)
        out["free_when_full"] = free_bytes(mnt)
        out["add_full"] = memchat("memory", "add", "written on a full disk")
        out["list_full"] = memchat("memory", "list")
        ballast.unlink()
        out["add_freed"] = memchat("memory", "add", "written after space was freed")
    finally:
        with contextlib.suppress(Exception):
            EmbeddedRedis(home).stop()  # never leave a server behind in the namespace
    conn = sqlite3.connect(home / "memchat.db")
    out["listed"] = sorted(r[0] for r in conn.execute("SELECT content FROM memories"))
    out["integrity"] = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return out


def scenario_export_backup(mnt: Path) -> dict:
    from memory.config import load_settings
    from memory.store import MemoryStore
    from memory.transfer.backup import backup, read_manifest
    from memory.transfer.files import ExportError

    home = Path(os.environ["MEMCHAT_HOME"])  # on the ordinary disk, filled by the test
    out_file, bk = mnt / "out.jsonl", mnt / "bk"
    got: dict = {"out": str(out_file), "bk": str(bk)}
    ballast = fill(mnt, leave=16 * 1024)
    got["export_full"] = memchat("memory", "export", "-o", str(out_file))
    got["left_after_export"] = listing(mnt)
    with open(mnt / "stdout.jsonl", "w") as f:
        got["stdout_full"] = memchat("memory", "export", stdout=f)
    (mnt / "stdout.jsonl").unlink()
    got["backup_db_full"] = memchat("backup", str(bk))
    got["left_after_backup_db"] = listing(mnt)
    ballast = fill(mnt, leave=(home / "memchat.db").stat().st_size + 64 * 1024)
    got["backup_chroma_full"] = memchat("backup", str(bk))
    got["left_after_backup_chroma"] = listing(mnt)
    ballast.unlink()
    with MemoryStore(load_settings(), start_redis=False) as s:  # with room both work
        s.transfer.write_export(out_file)
        got["exported_lines"] = len(out_file.read_text().splitlines())
        got["manifest_profiles"] = read_manifest(backup(s.settings, bk))["profiles"]
        shutil.rmtree(bk)
        fill(mnt, leave=16 * 1024)
        try:  # a failed export over an earlier one keeps the earlier one whole
            s.transfer.write_export(out_file)
            got["export_over_full"] = None
        except ExportError as e:
            got["export_over_full"] = str(e)
        got["kept_lines"] = len(out_file.read_text().splitlines())
        got["left_after_export_over"] = listing(mnt)
    return got


def scenario_chroma(mnt: Path) -> dict:
    from memory.config import load_settings
    from memory.store import MemoryStore

    home = mnt / "home"
    os.environ["MEMCHAT_HOME"] = str(home)
    mount_tmpfs(home / "chroma", "2m")  # SQLite keeps room; only the vector tier fills up
    out: dict = {}
    with MemoryStore(load_settings(), start_redis=False) as s:
        for i in range(3):
            s.add_memory(f"early memory {i} about gardening")
        out["indexed_first"] = s.index_pending()
        for i in range(20):
            s.add_memory(f"late memory {i}: the blue bicycle number {i}")
        ballast = fill(home / "chroma")
        out["applied_while_full"] = s.index_pending()
        rows = s.db.query("SELECT attempts, last_error FROM index_outbox")
        out["outbox_while_full"] = len(rows)
        out["outbox_errors"] = sorted({r["last_error"] or "" for r in rows})
        out["vectors_while_full"] = s.vectors.count(s.profile)
        out["query_while_full"] = s.vectors.query(s.profile, "gardening", 3)
        out["recall_while_full"] = len(s.recall("gardening"))
        ballast.unlink()
        out["applied_after_free"] = s.index_pending()
        out["vectors_after_free"] = s.vectors.count(s.profile)
        out["outbox_after_free"] = s.db.scalar("SELECT COUNT(*) FROM index_outbox")
        every = {f"mem:{m.id}" for m in s.list_memories(limit=100)}
        out["all_indexed"] = len(every) == 23 and s.vectors.ids(s.profile) == every
    return out


def scenario_valkey(mnt: Path) -> dict:
    import time

    from memory.config import load_settings
    from memory.shortterm.embedded_server import EmbeddedRedis
    from memory.store import MemoryStore

    home = mnt / "home"
    os.environ["MEMCHAT_HOME"] = str(home)
    mount_tmpfs(home / "redis", "1m")  # SQLite keeps room; only Valkey's AOF fills up
    out: dict = {"errors": []}
    s = MemoryStore(load_settings())
    try:
        out["mode_before"] = s.short.mode
        down: list[str] = []  # why the short-term tier switched to SQLite, each time it did
        mark_down = s.short._mark_down
        s.short._mark_down = lambda e: (down.append(str(e)[-160:]), mark_down(e))[1]
        c = s.new_conversation("valkey fills its disk")
        s.add_message(c.id, "user", "before the AOF disk filled")
        ballast = fill(home / "redis")
        for i in range(20):
            try:
                s.add_message(c.id, "user", f"turn {i} " + "z" * 3000)
            except Exception as e:  # noqa: BLE001 - the test reports what came out
                out["errors"].append(f"{qualname(e)}: {str(e)[-200:]}")
        # Valkey may take writes again between failures (it truncates a failed AOF write), so
        # the tier can come back before the loop ends: what matters is that it switched.
        out["degraded"] = any("MISCONF" in r for r in down)
        out["down"] = down
        out["messages"] = len(s.messages(c.id))
        out["recent_turns"] = len(s.recent_turns(c.id, 5))
        ballast.unlink()
        time.sleep(1.5)  # Valkey retries its AOF write once a second
        s.short.RETRY_SECONDS = 0
        s.add_message(c.id, "user", "after space was freed")
        out["mode_after_free"] = s.short.mode
    finally:
        s.close()
        with contextlib.suppress(Exception):
            EmbeddedRedis(home).stop()
    return out


if __name__ == "__main__":  # the child: `unshare -rm python test_full_disk.py SCENARIO MNT SIZE`
    scenario, mountpoint, tmpfs_size = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    mount_tmpfs(mountpoint, tmpfs_size)
    result = globals()[f"scenario_{scenario}"](mountpoint)
    print(RESULT + json.dumps(result, default=str), flush=True)
