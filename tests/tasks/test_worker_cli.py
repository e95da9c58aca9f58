"""`memchat worker` as a user runs it: a fresh process, where only what the command itself
imports is registered with huey, and a terminal that should get one line per failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline_fakes import exchange

from tasks import api, queue

ROOT = Path(__file__).resolve().parents[2]


def memchat(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MEMCHAT_EMBEDDING_MODEL": "/nonexistent-embedding-model",  # not what this is about
    }
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, env=env, timeout=90
    )


def test_once_prints_one_line_per_failure_and_retry_failed_works_in_a_fresh_process(
    store, fake_llm, monkeypatch
):
    monkeypatch.setenv("MEMCHAT_TASKS_RETRIES", "0")  # a task carries its retries: park at once
    fake_llm.script("Sure! Here are the memories: {memories: [oops", default=True)
    conv = store.new_conversation()
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    assert api.enqueue_after_turn(store, conv.id, a.id) == "queued"

    r = memchat("worker", "--once", "--no-periodic")
    assert r.returncode == 0, r.stderr
    assert "processed 1 task(s)" in r.stdout
    assert "Traceback" not in r.stderr and 'File "' not in r.stderr, r.stderr
    failures = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(failures) == 1, r.stderr
    log = store.settings.log_dir / "worker.log"
    assert "MalformedOutput" in failures[0] and f"(details in {log})" in failures[0]
    assert "Traceback (most recent call last)" in log.read_text()  # the details: in the log
    [parked] = queue.failed_tasks()

    r = memchat("worker", "--retry-failed", parked["id"][:8])
    assert r.returncode == 0, r.stderr  # was HueyException: tasks.extract.extract not found
    assert "re-queued 1 failed task(s)" in r.stdout and "Traceback" not in r.stderr
    assert queue.failed_tasks() == [] and api.pending_count(store) == 1
