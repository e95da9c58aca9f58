"""The warm process (tui.warm): the real `memchat` executable, in fresh processes, handing
commands to a forked, pre-imported memchat -- and getting the same bytes, exit codes and
data dirs as a cold run. The rest of the suite runs with it off (conftest)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from memory.proc import pid_alive
from tui import warm
from tui.warm_base import ROOT

EXE = Path(sys.executable).parent / "memchat"
MEMCHAT = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "tui"]


def run(*args: str, env: dict | None = None, input: bytes | None = None):  # noqa: A002
    return subprocess.run(
        [*MEMCHAT, *args],
        capture_output=True,
        env={**os.environ, **(env or {})},
        input=input,
        timeout=120,
    )


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [*MEMCHAT, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def wait_for_server(timeout: float = 90) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = warm.request("status")
        if status is not None:
            return status
        time.sleep(0.1)
    raise AssertionError("no warm process answered")


def wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid), f"the warm process {pid} is still there"


def served(log: str) -> list[str]:
    return [line for line in Path(log).read_text().splitlines() if " served child=" in line]


@pytest.fixture
def warm_on(monkeypatch):
    """The warm process on, in a private runtime dir; whatever server runs is stopped after."""
    runtime = Path(tempfile.mkdtemp(prefix="mcw-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("MEMCHAT_WARM_SECONDS", "60")
    yield runtime
    for _ in range(3):  # one may be starting after another one went
        reply = warm.request("stop")
        pid = reply["server"] if reply else warm.lock_holder()
        if pid:
            if reply is None:
                os.kill(pid, signal.SIGTERM)
            wait_gone(pid)
        time.sleep(0.3)
    shutil.rmtree(runtime, ignore_errors=True)


def test_commands_run_warm_as_they_run_cold(warm_on, redis_url, fake_llm, tmp_path):
    fake_llm.script(reply="Green tea, mostly.", default=True, chunk_size=3)
    cold = run("ask", "what do I drink?")  # no server yet: runs here, then starts one
    assert cold.returncode == 0, cold.stderr
    status = wait_for_server()
    server, log = status["server"], status["log"]

    hot = run("ask", "what do I drink?")
    assert (hot.returncode, hot.stdout, hot.stderr) == (cold.returncode, cold.stdout, cold.stderr)
    assert hot.stdout == b"Green tea, mostly.\n"
    (line,) = served(log)
    assert "cmd='ask' exit 0" in line  # the server forked the child that answered

    # a failure: the same exit code and message as in a fresh process
    off = {"MEMCHAT_WARM_SECONDS": "0"}
    missing_cold, missing_hot = (
        run("memory", "show", "nosuch", env=off),
        run("memory", "show", "nosuch"),
    )
    assert missing_hot.returncode == missing_cold.returncode == 1
    assert missing_hot.stderr == missing_cold.stderr and b"nosuch" in missing_hot.stderr
    assert "cmd='memory show' exit 1" in served(log)[-1]

    # two clients at once, each with its own data dir and profile
    a, b = tmp_path / "a", tmp_path / "b"
    pa = start("memory", "add", "alpha lives in A", env={"MEMCHAT_HOME": str(a)})
    pb = start(
        "memory", "add", "beta lives in B", "--profile", "work", env={"MEMCHAT_HOME": str(b)}
    )
    assert pa.wait(60) == 0 and pb.wait(60) == 0, (pa.stderr.read(), pb.stderr.read())
    in_a = run("memory", "list", env={"MEMCHAT_HOME": str(a)}).stdout
    in_b_work = run("memory", "list", "--profile", "work", env={"MEMCHAT_HOME": str(b)}).stdout
    in_b_default = run("memory", "list", env={"MEMCHAT_HOME": str(b)}).stdout
    assert b"alpha" in in_a and b"beta" not in in_a
    assert b"beta" in in_b_work and b"alpha" not in in_b_work
    assert b"beta" not in in_b_default
    assert len(served(log)) == 7  # every one of them was served warm

    # Ctrl-C at the client reaches the child: the partial answer is kept, exit 130
    fake_llm.script(reply="word " * 300, chunk_size=5, delay=0.03)
    p = start("ask", "tell me a long story")
    assert p.stdout.read(10)  # streaming
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert b"interrupted" in err
    assert "cmd='ask' exit 130" in served(log)[-1]
    # SIGTERM: the child dies of it, and so does the client, as a fresh process would
    fake_llm.script(reply="word " * 300, chunk_size=5, delay=0.03)
    p = start("ask", "tell me another long story")
    assert p.stdout.read(10)
    p.terminate()
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGTERM
    assert "cmd='ask' signal 15" in served(log)[-1]

    # its idle time (here 1 s, from the latest caller's MEMCHAT_WARM_SECONDS) ends it
    assert run("memory", "list", env={"MEMCHAT_WARM_SECONDS": "1"}).returncode == 0
    wait_gone(server)
    assert warm.request("status") is None and not list(warm_on.rglob("*.sock"))
    assert "exit: idle 1 s" in Path(log).read_text()


def test_a_server_of_older_code_is_refused_and_goes(warm_on, redis_url):
    assert run("warm", "--start").returncode == 0
    status = wait_for_server()
    touched = Path(ROOT) / "tui" / "output.py"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # as an edit or upgrade
    try:
        r = run("memory", "list")
    finally:
        os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert r.returncode == 0 and b"0 memories" in r.stdout  # run here instead
    wait_gone(status["server"])
    assert served(status["log"]) == []
    assert "exit: code changed" in Path(status["log"]).read_text()


def test_turned_off_nothing_is_started(warm_on, home, redis_url, monkeypatch):
    monkeypatch.setenv("MEMCHAT_WARM_SECONDS", "0")
    assert run("memory", "list").returncode == 0
    r = run("warm", "--start")
    assert r.returncode == 1 and b"off" in r.stderr
    # the setting in the config file, without the environment variable
    monkeypatch.delenv("MEMCHAT_WARM_SECONDS")
    Path(os.environ["MEMCHAT_CONFIG"]).write_text("warm_seconds = 0\n")
    assert run("memory", "list").returncode == 0  # starts a server that goes at once
    time.sleep(3)
    assert not [f for f in warm_on.rglob("*") if f.is_file()]
    assert warm.request("status") is None and warm.lock_holder() is None


def test_only_commands_that_never_read_the_terminal_are_handed_over():
    assert warm.command_of(["ask", "hi"]) == ("ask",)
    assert warm.command_of(["--profile", "w", "memory", "list"]) == ("memory", "list")
    assert warm.command_of(["memory", "search", "-p", "w", "tea"]) == ("memory", "search")
    for argv in (
        [],
        ["chat"],  # the app
        ["inspect"],
        ["worker"],
        ["memory", "forget", "--about", "x"],  # asks for confirmation
        ["forget", "--all"],
        ["restore", "x"],
        ["memory", "import", "-"],
        ["--version"],
        ["doctor", "--fix"],
    ):
        assert warm.command_of(argv) is None, argv
