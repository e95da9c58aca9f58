"""The real `memchat` process in a pseudo-terminal: closing the terminal shuts down cleanly."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
import time

import pytest

from memory.proc import pid_alive


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_closing_the_terminal_stops_the_embedded_redis(home, sig):
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "tui"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)

    def drain() -> None:  # keep the pty from filling up
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    try:
        pidfile = home / "redis" / "server.pid"
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists(), "the app never started its embedded Redis"
        server = int(pidfile.read_text())
        time.sleep(1.0)  # let the app finish opening memory
        p.send_signal(sig)
        assert p.wait(timeout=20) is not None
        deadline = time.monotonic() + 10
        while pid_alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(server), "the embedded Redis outlived the app"
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
