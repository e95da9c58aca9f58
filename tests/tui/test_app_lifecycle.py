"""The real `memchat` app in a pseudo-terminal, ended the way a terminal ends it.

Closing the terminal window (the kernel's SIGHUP, and every read and write on the terminal
failing from then on) and a SIGTERM must end the app within about 2 s however busy it is --
a reply streaming, its worker stuck in an extraction the model never answers, litellm still
loading -- keeping the reply so far and the unsent draft, stopping its worker and shutting
down its embedded Valkey (it is the last user). Before the fix the app stayed up with no
terminal for good (asyncio joined the thread still importing litellm, or one blocked calling
into the app that had gone) or took 10+ s.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from pty_app import ENTER, PtyApp
from test_tui_crash import _child_env, _rows, _server_pid, _wait

from memory.proc import pid_alive
from memory.shortterm.embedded_server import EmbeddedRedis

EXIT_WITHIN = 2.5  # seconds from the signal to the process being gone
LONG_REPLY = " ".join(f"tram{i}" for i in range(3000))  # ~60 s at 10 ms a chunk
DRAFT = "and what about the funicular"


def _leftovers(home: Path) -> list[str]:
    """Processes of this test's data dir still running: a memchat (its environment names the
    data dir) or a valkey-server (its command line names the socket in it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"MEMCHAT_HOME={home}".encode() in environ or str(home) in cmdline:
            if int(pid) != os.getpid():
                found.append(f"{pid}: {cmdline.strip()}")
    return found


@pytest.fixture
def apps(home):
    started: list[PtyApp] = []
    yield started
    for app in started:
        app.close()
    EmbeddedRedis(home).stop()  # whatever a failed assertion left running


def _ended_within(app: PtyApp, t0: float) -> float:
    app.wait(timeout=30)
    return time.monotonic() - t0


def _draft_kept(home: Path) -> str | None:
    from memory.config import load_settings
    from memory.store import MemoryStore

    with MemoryStore(load_settings()) as store:
        return store.get_session_state("app:main").get("draft")


def test_closing_the_terminal_mid_reply_ends_the_app_keeping_reply_and_draft(
    home, tmp_path, fake_llm, apps
):
    db = home / "memchat.db"
    env = _child_env(tmp_path)
    # 1st request: a short reply; 2nd: the extraction the app's worker then runs, which the
    # model never answers; 3rd: a long reply, cut by the closed terminal.
    fake_llm.script(reply="Noted.", chunk_size=4)
    fake_llm.script(reply="{}", stall=120)
    fake_llm.script(reply=LONG_REPLY, chunk_size=6, delay=0.01)
    app = PtyApp(env=env)
    apps.append(app)
    app.start()
    app.wait_for_text("profile default", timeout=30)
    app.type("I take the tram to work")
    app.press(ENTER)
    app.wait_until(lambda: len(fake_llm.chat_requests()) >= 2, 30, "the worker to extract")
    app.type("tell me about trams")
    app.press(ENTER)
    app.wait_until(
        lambda: _rows(
            db,
            "SELECT 1 FROM messages WHERE role = 'assistant' AND length(content) >= 200",
        ),
        30,
        "the long reply to stream",
    )
    app.type(DRAFT)
    app.wait_for_text(DRAFT, timeout=10)
    server = _server_pid(home)
    assert server is not None and pid_alive(server)

    t0 = time.monotonic()
    app.hang_up()  # the terminal window is closed
    took = _ended_within(app, t0)
    assert took < EXIT_WITHIN, f"the app took {took:.1f}s to end after its terminal closed"
    assert app.proc is not None and app.proc.returncode in (128 + signal.SIGHUP, -signal.SIGHUP)
    _wait(lambda: not pid_alive(server), 5, "the embedded Valkey to stop")
    assert _leftovers(home) == []

    replies = _rows(
        db, "SELECT status, content FROM messages WHERE role = 'assistant' ORDER BY created_at"
    )
    assert replies[0] == ("complete", "Noted.")
    status, cut = replies[1]
    assert status in ("cancelled", "partial") and len(cut) >= 200, (status, cut[:80])
    assert LONG_REPLY.startswith(cut)
    assert _draft_kept(home) == DRAFT


def test_sigterm_ends_the_app_at_once_and_the_draft_comes_back(home, tmp_path, fake_llm, apps):
    env = _child_env(tmp_path)
    app = PtyApp(env=env)
    apps.append(app)
    app.start()
    app.wait_for_text("profile default", timeout=30)
    app.type(DRAFT)
    app.wait_for_text(DRAFT, timeout=10)
    server = _server_pid(home)

    t0 = time.monotonic()
    app.kill(signal.SIGTERM, timeout=30)
    took = time.monotonic() - t0
    assert took < EXIT_WITHIN, f"the app took {took:.1f}s to end after SIGTERM"
    assert server is not None
    _wait(lambda: not pid_alive(server), 5, "the embedded Valkey to stop")
    assert _leftovers(home) == []

    again = PtyApp(env=env)
    apps.append(again)
    again.start()
    mark = again.mark()
    again.wait_for_text("profile default", timeout=30)
    again.wait_for_text(DRAFT, timeout=10, since=mark)  # back in the prompt
