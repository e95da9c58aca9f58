"""Crashes: a worker SIGKILLed mid-extraction, a Redis restart with tasks still queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_fakes import exchange, extraction_reply, wait_for

from tasks import api, queue

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(home: Path, out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = str(ROOT)
    with open(out, "ab") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "tui", "worker", "--no-periodic", "-v"],
            cwd=ROOT,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def workers():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def test_sigkill_mid_extraction_reruns_without_duplicates(store, fake_llm, home, tmp_path, workers):
    fake_llm.script(reply_fn=extraction_reply, default=True)
    fake_llm.script("{}", stall=60)  # the first extraction hangs until the worker is killed
    conv = store.new_conversation()
    u, a = exchange(store, conv.id, "I moved to Lisbon last month")
    assert api.enqueue_after_turn(store, conv.id, a.id) == "queued"
    log = tmp_path / "worker.out"

    first = _start_worker(home, log)
    workers.append(first)
    wait_for(lambda: fake_llm.chat_requests() or first.poll() is not None, timeout=60, every=0.1)
    assert first.poll() is None, log.read_text()
    assert [t["name"] for t in queue.running_tasks()] == ["extract"]  # in flight, off the queue
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert store.count_memories() == 0

    second = _start_worker(home, log)
    workers.append(second)
    wait_for(lambda: store.list_memories(section="facts"), timeout=60, every=0.1)
    assert len(fake_llm.chat_requests()) == 2  # the task ran again
    assert [m.content for m in store.list_memories(status=None)] == ["The user lives in Lisbon."]
    assert store.list_memories()[0].source_message_ids == [u.id]
    wait_for(lambda: queue.running_tasks() == [], timeout=10)
    assert queue.failed_tasks() == []
    assert "re-queued" in log.read_text()

    second.send_signal(signal.SIGTERM)  # clean shutdown
    assert second.wait(timeout=30) == 0, log.read_text()
    assert "memchat worker stopped" in log.read_text()
    assert (home / "logs" / "worker.log").exists()
    assert api.worker_alive(store) is None


@pytest.fixture
def embedded_store(monkeypatch):
    """A store on memchat's own embedded Valkey (AOF on), in the test's temp home."""
    from memory.config import load_settings
    from memory.shortterm.embedded_server import EmbeddedRedis
    from memory.store import MemoryStore

    settings = load_settings()
    s = MemoryStore(settings)
    assert s.short.mode == "embedded", s.warnings
    yield s
    queue.unbind()
    s.close()
    EmbeddedRedis(settings.home).stop()


def test_redis_restart_loses_no_queued_task(embedded_store, fake_llm):
    from memory.shortterm.embedded_server import EmbeddedRedis
    from tasks.consumer import EmbeddedConsumer

    store = embedded_store
    fake_llm.script(reply_fn=extraction_reply, default=True)
    conv = store.new_conversation()
    _, a = exchange(store, conv.id, "I moved to Lisbon last month")
    assert api.enqueue_after_turn(store, conv.id, a.id) == "queued"
    assert api.pending_count(store) == 1

    server = EmbeddedRedis(store.settings.home)
    server.stop()  # SHUTDOWN: the AOF is fsynced, the process exits
    assert not server.status()["running"]
    store._server.ensure_running()  # a fresh server process replays the AOF
    wait_for(lambda: api.pending_count(store) == 1 or None, timeout=10)

    with EmbeddedConsumer(store, workers=1, periodic=False):
        wait_for(lambda: store.list_memories(section="facts"), timeout=30)
    assert [m.content for m in store.list_memories()] == ["The user lives in Lisbon."]
    assert len(fake_llm.chat_requests()) == 1
