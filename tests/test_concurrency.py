"""Issue 10: the chat, the worker and two CLI processes write one profile at once
(20 s here to keep the suite short; `bench/soak.py --seconds 120` runs the long version).

Each writing process does at least 6 operations however busy the machine is (the suite runs on
two workers beside other tests: a starved chat once managed 3 turns in 30 s, most of them
spent importing litellm), and the test checks that all of them really wrote at the same time:
some moment lies inside every process's span of operations."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from soak import run_soak  # noqa: E402


def test_chat_worker_and_two_cli_writers_at_once_lose_nothing(home, model_dir):
    from memory.shortterm.embedded_server import EmbeddedRedis

    try:
        res = run_soak(20, least=6)
    finally:  # the soak's processes can leave the embedded server up: never leak it
        EmbeddedRedis(home).stop()
    for name in ("chat", "writer1", "writer2"):
        r = res[name]
        assert r["ops"] > 5, (name, r)
        assert r["errors"] == [] and not r["locked_in_stderr"], (name, r)
    spans = [res[name]["span"] for name in ("chat", "writer1", "writer2")]
    assert max(s[0] for s in spans) < min(s[1] for s in spans), spans  # they overlapped
    for name in ("writer1", "writer2"):
        assert res[name]["stored"] == res[name]["ops"], res[name]  # every write is there
    assert res["chat"]["messages_stored"] == 2 * res["chat"]["ops"]  # every turn and reply
    assert res["worker"] == {"exit_code": 0, "locked_in_stderr": False}
    assert res["extracted"] > 0  # the worker kept learning throughout
    assert res["integrity"] == "ok"
