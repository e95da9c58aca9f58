"""Crash safety of the SQLite tier: a SIGKILL mid-transaction leaves a consistent database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from memory.config import load_settings
from memory.store import MemoryStore

WRITER = textwrap.dedent(
    """
    import sys
    from memory.store import MemoryStore
    s = MemoryStore(start_redis=False)
    s.add_memory("committed before the crash")
    print("ready", flush=True)
    with s.db.tx():  # one large transaction, killed halfway
        for i in range(1_000_000):
            s.add_memory(f"bulk row {i} " + "y" * 200)
            if i == 300:
                print("mid", flush=True)
    """
)


def test_sigkill_during_a_large_write_keeps_the_database_whole(home):
    p = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    assert p.stdout.readline().strip() == "mid"
    time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert s.db.scalar("PRAGMA integrity_check") == "ok"
        # all or nothing: the killed transaction left no rows, history or outbox entries
        assert [m.content for m in s.list_memories()] == ["committed before the crash"]
        assert s.db.scalar("SELECT COUNT(*) FROM memory_history") == 1
        assert s.db.scalar("SELECT COUNT(*) FROM index_outbox") == 1
        s.add_memory("and the store keeps working")
        assert s.count_memories() == 2
