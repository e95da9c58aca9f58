"""The CLI as a user runs it: real processes, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MEMCHAT = [sys.executable, "-m", "tui"]


def memchat(
    *args: str, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    return subprocess.run(
        [*MEMCHAT, *args], capture_output=True, text=True, env=full, timeout=timeout
    )


def test_add_list_search_json(redis_url):
    r = memchat("memory", "add", "My", "cat", "is", "called", "Ziggy", "--tag", "pets", "--json")
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    assert added["tags"] == ["pets"]
    listed = json.loads(memchat("memory", "list", "--json").stdout)
    assert [m["id"] for m in listed] == [added["id"]]
    shown = memchat("memory", "show", added["id"][:8])
    assert "My cat is called Ziggy" in shown.stdout and "added" in shown.stdout


def test_broken_config_is_one_clear_line(tmp_path):
    cfg = Path(os.environ["MEMCHAT_CONFIG"])
    cfg.write_text('model = "x"\n[memory]\nrecent_turns = "many"\n')
    r = memchat("memory", "list")
    assert r.returncode == 3
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert f"{cfg} line 3: memory.recent_turns" in r.stderr
    assert "Traceback" not in r.stderr

    cfg.write_text("[memory\n")
    r = memchat("doctor")
    assert r.returncode == 3 and "line 1" in r.stderr and "Traceback" not in r.stderr


def test_unknown_setting_names_the_line(tmp_path):
    Path(os.environ["MEMCHAT_CONFIG"]).write_text('\n\nmodle = "gpt"\n')
    r = memchat("memory", "list")
    assert r.returncode == 3 and "line 3: modle: unknown setting" in r.stderr


def test_unreachable_redis_url(tmp_path):
    env = {"REDIS_URL": "redis://127.0.0.1:1/0"}
    r = memchat("doctor", env=env)
    assert r.returncode == 1
    assert "FAIL  redis     REDIS_URL redis://127.0.0.1:1/0 is unreachable" in r.stdout
    r = memchat("memory", "add", "still works without redis", env=env)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "unreachable" in warnings[0]


def test_unwritable_data_dir():
    """/sys refuses new folders even to root, so this holds in CI too."""
    r = memchat("memory", "list", env={"MEMCHAT_HOME": "/sys/memchat-test-home"})
    assert r.returncode == 1
    assert r.stderr.startswith("memchat: cannot use data dir /sys/memchat-test-home")
    assert "Set MEMCHAT_HOME" in r.stderr and r.stderr.strip().count("\n") == 0


def test_data_dir_that_is_a_file(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a dir")
    r = memchat("memory", "list", env={"MEMCHAT_HOME": str(blocker / "home")})
    assert r.returncode == 1
    assert (
        r.stderr.strip().count("\n") == 0
        and "Set MEMCHAT_HOME" in r.stderr
        and "Traceback" not in r.stderr
    )


def test_doctor_all_ok_with_embedded_redis():
    r = memchat("doctor", "--json")
    checks = {c["component"]: c for c in json.loads(r.stdout)}
    assert checks["sqlite"]["status"] == "OK"
    assert checks["redis"]["status"] == "OK" and "embedded" in checks["redis"]["detail"]
    assert checks["model"]["status"] == "WARN" and "MEMCHAT_MODEL" in checks["model"]["detail"]
    assert r.returncode == 0


def test_doctor_warns_without_embedding_model(tmp_path):
    r = memchat("doctor", env={"MEMCHAT_EMBEDDING_MODEL": str(tmp_path / "nope")})
    line = next(x for x in r.stdout.splitlines() if "vectors" in x)
    assert line.startswith("WARN") and "MEMCHAT_EMBEDDING_MODEL" in line


def test_help_of_every_command_exits_cleanly():
    from click.testing import CliRunner

    from tui.cli import _SUBCOMMANDS, cli

    for name in ["memory", *_SUBCOMMANDS]:
        r = CliRunner().invoke(cli, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage: " in r.output and "memchat: " not in r.output, name
