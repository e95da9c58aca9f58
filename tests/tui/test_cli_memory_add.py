"""`memchat memory add --for` and the near-duplicate warning, through the real `memchat`
executable in fresh processes (real SQLite, Chroma and the offline model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from memory.store import MemoryStore

_SCRIPT = Path(sys.executable).with_name("memchat")
MEMCHAT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tui"]


def memchat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MEMCHAT, *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )


def test_add_for_a_duration_is_recalled_until_it_expires(redis_url, model_dir):
    t0 = time.time()
    r = memchat("memory", "add", "The", "parking", "spot", "is", "17", "--for", "2h", "--json")
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    assert added["section"] == "temporary" and added["persistence"] == "temporary"
    assert t0 + 7200 <= added["expires_at"] <= time.time() + 7200

    with MemoryStore() as store:
        assert added["id"] in [h.id for h in store.recall("where did I park?")]
        store.curation.set_expiry([added["id"]], time.time() - 1)  # the clock moves past it
        assert added["id"] not in [h.id for h in store.recall("where did I park?")]
        assert store.expire_temporaries() == 1  # the maintenance job retires it
        assert store.get_memory(added["id"]).status == "deleted"


def test_add_for_rejects_what_is_not_a_duration(redis_url):
    for bad in ("2x", "2025-12-31"):
        r = memchat("memory", "add", "something", "--for", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert f"cannot read {bad!r} as a duration: use 30m, 2h or 3d" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert json.loads(memchat("memory", "list", "--json").stdout) == []


def test_add_warns_about_a_near_duplicate_and_names_it(redis_url, model_dir):
    r = memchat("memory", "add", "allergic", "to", "peanuts", "--json")
    assert r.returncode == 0 and "near-duplicate" not in r.stderr, r.stderr
    first = json.loads(r.stdout)

    r = memchat("memory", "add", "peanut", "allergy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("remembered ")  # stored all the same
    assert f"warning: near-duplicate of {first['id'][:8]} (" in r.stderr, r.stderr
    assert "similar in meaning): allergic to peanuts" in r.stderr
    with MemoryStore() as store:
        assert store.count_memories() == 2
