"""The real `memchat` app SIGKILLed mid-stream in a pseudo-terminal, then started again.

What a user who loses the terminal (or the machine) in the middle of a reply must find on
restart: the message they sent, stored once; the reply so far, kept as "partial" and shown;
a sound database; the memory work the dead app had in flight done by the restarted app, and
no memory twice however often the pipeline runs afterwards; no Valkey server left behind.

Everything runs on the defaults (the app's own embedded Valkey in the test's data dir, its
embedded worker) against the fake OpenAI-compatible server from tests/fakellm.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from pty_app import CTRL_F, CTRL_Q, ENTER, ROOT, PtyApp, memchat_argv

from memory.proc import pid_alive
from memory.shortterm.embedded_server import EmbeddedRedis
from tests.tasks.pipeline_fakes import new_turns

EXTRACTION_MARK = "long-term memory of a personal assistant"  # assistant/extraction.py SYSTEM
SUMMARY_MARK = "Summarize this part of a chat"

FIRST = "I moved to Lisbon last month"
FIRST_REPLY = "Noted: Lisbon it is."
SECOND = "please write a long answer about trams"
FOLLOW_UP = "thanks, that will do"
LONG_REPLY = "".join(f"tram{i} " for i in range(800))  # ~5,000 characters, ~50 s at 10 ms each
STREAMED_BEFORE_KILL = 120  # characters of the long reply in SQLite before the kill


# ------------------------------------------------------------------------------ the fake model
def _extraction(body: dict) -> str:
    """What a good extraction model says: the user's city, citing the turn it came from."""
    mems = [
        {
            "content": "The user lives in Lisbon.",
            "section": "facts",
            "key": "home_city",
            "entity": "user",
            "importance": 0.8,
            "confidence": 0.9,
            "source_message_ids": [mid],
            "action": "add",
        }
        for mid, role, text in new_turns(body)
        if role == "user" and "Lisbon" in text
    ]
    return json.dumps({"memories": mems})


def _answer(body: dict) -> str:
    messages = body["messages"]
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    if EXTRACTION_MARK in system:
        return _extraction(body)
    if SUMMARY_MARK in system:
        return "The user moved to Lisbon and asked about trams."
    last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    return LONG_REPLY if "long answer" in last_user else FIRST_REPLY


def _is_extraction(request: dict) -> bool:
    messages = (request.get("body") or {}).get("messages") or [{}]
    return EXTRACTION_MARK in str(messages[0].get("content", ""))


# ------------------------------------------------------------------------------ helpers
def _child_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment (temp MEMCHAT_HOME, the fake model) for a child process."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "COLUMNS", "LINES", "TEXTUAL"))
    }
    env.update(
        TERM="xterm-256color",
        MEMCHAT_CONFIG=str(tmp_path / "no-such-config.toml"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=str(ROOT),
    )
    return env


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the app's database without taking part in it (a read-only connection)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return []
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error:  # not created / migrated yet
        return []
    finally:
        conn.close()


def _server_pid(home: Path) -> int | None:
    try:
        return int((home / "redis" / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _wait(cond, timeout: float, what: str, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def _worker_once(env: dict[str, str]) -> dict:
    p = subprocess.run(
        [*memchat_argv("worker", "--once", "--json")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


def _kill_mid_reply(app: PtyApp, db: Path, text: str) -> str:
    """Send ``text``, wait until a good part of the long reply is checkpointed, SIGKILL the
    app; returns the reply text SQLite held just before the kill."""
    app.type(text)
    app.press(ENTER)
    rows = app.wait_until(
        lambda: _rows(
            db,
            "SELECT content FROM messages WHERE role = 'assistant' AND status = 'partial'"
            " AND length(content) >= ?",
            (STREAMED_BEFORE_KILL,),
        ),
        30,
        f"{STREAMED_BEFORE_KILL} characters of the reply checkpointed",
    )
    assert app.kill() == -9
    return rows[0][0]


def _list_then_prompt(drawn: str) -> bool:
    """The footer showed the sidebar list's keys, then the prompt's."""
    i = drawn.find(" r Rename")
    return i >= 0 and drawn.find("⏎ Send", i) >= 0


def _open_first_conversation(app: PtyApp, shows: str) -> int:
    """Open the newest conversation from the sidebar, the way a user does, until the screen
    shows ``shows``; returns the output mark from before the last try.

    ctrl+f (the search box), Enter (into the list, first row), Enter (open it). The app
    redraws the list now and then (health checks, background titles), which can drop the
    highlight between the two Enters, so a try that opened nothing is repeated.
    """
    app.wait_for_text("Search chats", timeout=30)
    app.wait_for_text("just now", timeout=30)  # a conversation row
    for _ in range(5):
        mark = app.mark()
        for key in (CTRL_F, ENTER, ENTER):
            app.press(key)
            time.sleep(0.2)
        try:
            app.wait_for_text(shows, timeout=5, since=mark)
            # The app may show the conversation already (its session restores it), and on a
            # busy machine it handles keys late, so that text can come from a redraw before
            # these keys are handled. Typed too soon, the follow-up goes to the search box or
            # the list. So wait for the footer to show the list's keys ("r Rename": the list had
            # focus) and then the prompt's ("⏎ Send": the conversation opened into it).
            app.wait_until(lambda m=mark: _list_then_prompt(app.screen_text(m)), 10, "focus")
            return mark
        except AssertionError:
            continue
    app.wait_for_text(shows, timeout=1, since=mark)  # fails with what the screen shows
    return mark


@pytest.fixture
def apps(home):
    """PtyApps started by the test, closed afterwards; then no Valkey may outlive the test."""
    started: list[PtyApp] = []
    yield started
    for app in started:
        app.close()
    EmbeddedRedis(home).stop()  # whatever a failed assertion left running


# ------------------------------------------------------------------------------ the test
def test_sigkill_mid_stream_then_restart_keeps_both_turns_and_resumes_the_queue(
    home, tmp_path, fake_llm, model_dir, apps
):
    assert os.environ["MEMCHAT_EMBEDDING_MODEL"] == str(model_dir)
    db = home / "memchat.db"
    env = _child_env(tmp_path)
    fake_llm.script(reply_fn=_answer, chunk_size=1, delay=0.01, default=True)
    # The chat requests arrive in order: the first reply, then the extraction the app queues
    # after it, which hangs (in flight in the app's embedded worker) until the test ends.
    fake_llm.script(reply_fn=_answer, chunk_size=4, delay=0.01)
    fake_llm.script(reply_fn=_answer, stall=120)

    # -- 1. the app, two turns, SIGKILL while the second reply streams -------------------
    app = PtyApp(env=env, rows=34, cols=120)
    apps.append(app)
    app.start()
    app.wait_for_text("profile default", timeout=30)  # memory is open
    app.type(FIRST)
    app.press(ENTER)
    app.wait_until(
        lambda: _rows(
            db, "SELECT 1 FROM messages WHERE role = 'assistant' AND status = 'complete'"
        ),
        30,
        "the first reply to be stored",
    )
    app.wait_until(
        lambda: len(fake_llm.chat_requests()) >= 2, 30, "the app's worker to start extracting"
    )
    assert _is_extraction(fake_llm.chat_requests()[1]), (
        "the second model request was not extraction"
    )

    server = _server_pid(home)
    seen = _kill_mid_reply(app, db, SECOND)
    assert len(fake_llm.chat_requests()) == 3  # nothing else was asked of the model

    # -- 2. what is on disk after the crash --------------------------------------------------
    from memory.config import load_settings
    from memory.store import MemoryStore

    with MemoryStore(load_settings(), start_redis=False) as store:  # SQLite only
        assert store.db.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
        (conv,) = store.list_conversations()
        msgs = store.messages(conv.id)
        assert [(m.role, m.status) for m in msgs] == [
            ("user", "complete"),
            ("assistant", "complete"),
            ("user", "complete"),
            ("assistant", "partial"),
        ]
        assert [m.content for m in msgs[:3]] == [FIRST, FIRST_REPLY, SECOND]
        reply = msgs[3].content
        assert reply.startswith(seen) and LONG_REPLY.startswith(reply), reply[:200]
        assert len(reply) < len(LONG_REPLY)  # it really was cut
        assert store.count_memories(status=None) == 0
    assert _rows(db, "SELECT count(*) FROM messages WHERE content = ?", (SECOND,)) == [(1,)]

    # -- 3. start it again: the dead app's in-flight extraction runs, the chat is there -------
    again = PtyApp(env=env, rows=34, cols=120)
    apps.append(again)
    again.start()
    again.wait_for_text("profile default", timeout=30)
    memories = again.wait_until(
        lambda: _rows(db, "SELECT content, source_message_ids FROM memories"),
        45,
        "the restarted app's worker to finish the dead app's extraction",
    )
    assert [(c, json.loads(s)) for c, s in memories] == [
        ("The user lives in Lisbon.", [msgs[0].id])
    ]
    assert len(fake_llm.chat_requests()) == 4 and _is_extraction(fake_llm.chat_requests()[3])

    mark = _open_first_conversation(again, shows=SECOND)
    again.wait_for_text("interrupted", timeout=15, since=mark)  # the reply's header says so
    again.wait_for_text(seen.split()[-2], timeout=15, since=mark)  # and its text is shown

    # Going on with the conversation: the model sees the cut reply as SQLite kept it, not
    # whatever the short-term tier caught of it (it caught the first chunk only).
    extractions = sum(_is_extraction(r) for r in fake_llm.chat_requests())
    again.type(FOLLOW_UP)
    again.press(ENTER)
    again.wait_until(  # the follow-up answered, then extracted (nothing is left queued)
        lambda: sum(_is_extraction(r) for r in fake_llm.chat_requests()) > extractions,
        45,
        "the follow-up's reply and its extraction",
    )
    (request,) = [
        r["body"]
        for r in fake_llm.chat_requests()
        if r["body"].get("stream") and r["body"]["messages"][-1]["content"] == FOLLOW_UP
    ]
    history = [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]
    assert history == [
        ("user", FIRST),
        ("assistant", FIRST_REPLY),
        ("user", SECOND),
        ("assistant", reply),
        ("user", FOLLOW_UP),
    ], f"the model was sent {history!r}; SQLite holds the cut reply as {reply[:60]!r}…"
    again.wait_until(
        lambda: not _rows(db, "SELECT 1 FROM messages WHERE status = 'partial' AND content = ''"),
        10,
        "the follow-up's reply to be stored",
    )

    again.press(CTRL_Q)
    assert again.wait(timeout=30) == 0, again.screen_text()[-2000:]
    # the restarted app was the server's last user: quitting shut it down
    assert server is not None
    _wait(lambda: not pid_alive(server), 10, f"the embedded Valkey (pid {server}) to stop")

    # -- 4. the pipeline again, twice: nothing left to do, nothing duplicated -----------------
    before = _rows(db, "SELECT id, content, status FROM memories ORDER BY id")
    for _ in range(2):
        result = _worker_once(env)
        assert result["tasks"] == 0 and result["recovered"] == 0, result
        assert _rows(db, "SELECT id, content, status FROM memories ORDER BY id") == before
    with MemoryStore(load_settings()) as store:
        from tasks.status import snapshot

        snap = snapshot(store)
        assert (snap["queued"], snap["scheduled"], snap["running"], snap["failed"]) == (
            0,
            0,
            [],
            [],
        ), snap
        assert [m.content for m in store.list_memories(status=None)] == [
            "The user lives in Lisbon."
        ]
        assert store.db.query("PRAGMA integrity_check")[0]["integrity_check"] == "ok"
    pid = _server_pid(home)
    assert pid is None or not pid_alive(pid), "a Valkey server outlived the last memchat process"
