"""Every non-interactive `memchat` command, run once as the installed executable in a fresh
process (an in-process CliRunner once hid a crash that only a real process showed).

The commands the other CLI tests already drive as real processes (ask, doctor, backup,
restore, import, memory add/list/forget --about, chat list/export, worker --once) are
covered there; this walks the rest in one session, the way a user would: each exits 0, prints
no traceback, and does what it says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).parent / "memchat"
MEMCHAT = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "tui"]


def memchat(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [*MEMCHAT, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        input=stdin,
        timeout=120,
    )
    assert "Traceback" not in p.stderr, (args, p.stderr[-2000:])
    assert p.returncode == 0, (args, p.returncode, p.stdout[-1000:], p.stderr[-1000:])
    return p


def test_every_command_runs_as_the_real_executable(redis_url, home, tmp_path):
    added = json.loads(
        memchat("memory", "add", "The spare key is under the blue pot", "--json").stdout
    )
    mid = added["id"]
    other = json.loads(memchat("memory", "add", "I drink green tea", "--json").stdout)["id"]

    assert "blue pot" in memchat("memory", "show", mid[:8]).stdout
    assert "blue pot" in memchat("memory", "search", "where is the key?").stdout
    memchat("memory", "edit", mid[:8], "The spare key is under the red pot")
    memchat("memory", "pin", mid[:8])
    memchat("memory", "tag", mid[:8], "home", "keys")
    memchat("memory", "expire", mid[:8], "30d")
    shown = json.loads(memchat("memory", "show", mid[:8], "--json").stdout)["memory"]
    assert "red pot" in shown["content"] and shown["pinned"]
    assert sorted(shown["tags"]) == ["home", "keys"] and shown["expires_at"]

    memchat("memory", "review")
    out = tmp_path / "mem.jsonl"
    memchat("memory", "export", "-o", str(out))
    assert "red pot" in out.read_text()
    memchat("memory", "forget", other[:8], "--yes")
    memchat("memory", "restore", other[:8])
    assert "green tea" in memchat("memory", "list").stdout
    memchat("memory", "reindex")

    assert "default" in memchat("profiles").stdout
    assert "memory.recall_limit" in memchat("config").stdout
    memchat("backups")
    memchat("worker", "--status")
    memchat("forget", "--all", "--yes")  # the whole profile
    assert "red pot" not in memchat("memory", "list", "--all").stdout
