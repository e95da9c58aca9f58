"""CLI behaviour users of issue 18 ran into, through the real executable in fresh processes:
--profile after the subcommand, `memory list --all`, doctor with an unreachable model,
`forget --about --dry-run`, restore copies, the import formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from memory.config import load_settings
from memory.store import MemoryStore

MEMCHAT = [sys.executable, "-m", "tui"]


def memchat(
    *args: str, env: dict | None = None, stdin: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MEMCHAT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=timeout,
    )


def component(out: str, name: str) -> str:
    """doctor's line for one component ("STATUS component detail")."""
    return next(ln for ln in out.splitlines() if ln.split()[1:2] == [name])


def test_profile_works_after_the_subcommand(redis_url):
    with MemoryStore(load_settings(), profile="work", start_redis=False) as s:
        s.add_memory("the standup is at nine")
    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("my cat is Miso")

    after = memchat("memory", "list", "--profile", "work", "--json")
    assert after.returncode == 0, after.stderr
    assert [m["content"] for m in json.loads(after.stdout)] == ["the standup is at nine"]
    equals = memchat("memory", "list", "--json", "--profile=work")
    assert equals.returncode == 0, equals.stderr
    assert json.loads(equals.stdout) == json.loads(after.stdout)
    short = memchat("memory", "list", "-p", "work", "--json")
    assert short.returncode == 0, short.stderr
    assert json.loads(short.stdout) == json.loads(after.stdout)
    default = memchat("memory", "list", "--json")
    assert [m["content"] for m in json.loads(default.stdout)] == ["my cat is Miso"]


def test_every_subcommand_help_names_the_profile_option():
    from click.testing import CliRunner

    from tui.cli import PROFILE_HELP, cli

    for args in (["memory", "list"], ["memory"], ["ask"], ["doctor"], ["chat", "list"]):
        r = CliRunner().invoke(cli, [*args, "--help"], terminal_width=200)
        assert r.exit_code == 0, r.output
        assert PROFILE_HELP in " ".join(r.output.split()), args


def test_list_all_counts_every_status_and_shows_it(redis_url):
    with MemoryStore(load_settings(), start_redis=False) as s:
        ids = [s.add_memory(f"fact number {n}").id for n in range(5)]
        for mid in ids[:2]:
            s.delete_memory(mid)

    r = memchat("memory", "list", "--all")
    assert r.returncode == 0, r.stderr
    title = r.stdout.splitlines()[0]
    assert title.startswith("5 memories (3 active, 2 deleted)"), title
    assert "status" in r.stdout and r.stdout.count("deleted") >= 3  # the title and 2 rows
    active = memchat("memory", "list")
    assert active.stdout.splitlines()[0].startswith("3 memories ·"), active.stdout
    assert "status" not in active.stdout
    one = memchat("memory", "list", "-n", "1")
    assert one.stdout.splitlines()[0].startswith("1 of 3 memories ·"), one.stdout


def test_doctor_fails_the_model_when_its_server_cannot_be_reached(redis_url):
    env = {"MEMCHAT_MODEL": "openai/some-model", "MEMCHAT_API_BASE": "http://127.0.0.1:9/v1"}
    r = memchat("doctor", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    line = component(r.stdout, "model")
    assert line.startswith("FAIL"), line
    assert "cannot reach the server" in line and "refused" in line.lower(), line
    assert "environment variable MEMCHAT_MODEL" in line and "from config" not in line, line


def test_doctor_says_ok_for_a_server_that_lists_the_model(redis_url, fake_llm):
    r = memchat("doctor")
    line = component(r.stdout, "model")
    assert line.startswith("OK") and "lists 'fake-model'" in line, line
    assert any(req["path"].endswith("/models") for req in fake_llm.requests)
    other = memchat("doctor", env={"MEMCHAT_MODEL": "openai/not-served"})
    line = component(other.stdout, "model")
    assert line.startswith("WARN") and "does not list 'not-served'" in line, line


def test_forget_about_dry_run_lists_what_would_go_and_changes_nothing(redis_url):
    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("The user's cat is called Miso")
        s.add_memory("Prefers tea")
        conv = s.new_conversation("About Miso")
        s.add_message(conv.id, "user", "Miso knocked a glass over")
        before = s.count_memories()

    r = memchat("memory", "forget", "--about", "miso", "--dry-run")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "removes 1 memory, 0 summaries and 1 chat message" in out, out
    assert "The user's cat is called Miso" in out and "Miso knocked a glass over" in out
    assert "Prefers tea" not in out
    assert "nothing was changed" in out
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.count_memories() == before
        assert [m.content for m in s.messages(conv.id)] == ["Miso knocked a glass over"]
        assert s.get_conversation(conv.id).title == "About Miso"

    # without --dry-run the same list comes first, then the question (answered no here)
    asked = memchat("memory", "forget", "--about", "miso", stdin="n\n")
    assert asked.returncode == 1
    assert "The user's cat is called Miso" in asked.stdout and "[y/N]" in asked.stdout
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.count_memories() == before


def test_restore_copies_are_listed_and_removable(redis_url, home):
    with MemoryStore(load_settings(), start_redis=False) as s:
        s.add_memory("kept in the backup")
    backup = memchat("backup", str(home.parent / "bk"))
    assert backup.returncode == 0, backup.stderr
    restored = memchat("restore", str(home.parent / "bk"), "--force")
    assert restored.returncode == 0, restored.stderr
    assert "memchat backups --remove-restore-copies" in restored.stdout
    assert "(1 memory)" in restored.stdout
    kept = sorted(p.name for p in Path(home).glob("*.before-restore-*"))
    assert kept and any(k.startswith("memchat.db.before-restore-") for k in kept)

    listed = memchat("backups")
    assert all(k in listed.stdout for k in kept), listed.stdout
    doctor = memchat("doctor")
    assert any(
        ln.startswith("WARN") and "kept by restore" in ln for ln in doctor.stdout.splitlines()
    )
    removed = memchat("backups", "--remove-restore-copies", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert list(Path(home).glob("*.before-restore-*")) == []
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert [m.content for m in s.list_memories()] == ["kept in the backup"]


def test_import_of_an_unknown_shape_says_which_shapes_are_accepted(tmp_path):
    f = tmp_path / "prefs.json"
    f.write_text('{"coffee": "black"}\n')
    r = memchat("memory", "import", str(f))
    assert r.returncode == 1
    assert f'{f}:1: not a memory: it has "coffee"' in r.stderr, r.stderr
    assert '{"category": "preferences", "key": "coffee", "value": "black"}' in r.stderr
    assert '"content"' in r.stderr


def test_hoisting_leaves_data_after_a_double_dash_alone():
    from tui.cli import hoist_profile

    assert hoist_profile(["memory", "list", "--profile", "w"]) == [
        "--profile",
        "w",
        "memory",
        "list",
    ]
    assert hoist_profile(["ask", "--", "--profile", "x"]) == ["ask", "--", "--profile", "x"]
