"""The warm process: `memchat` commands handed to a process that has already imported
litellm and the CLI (a fork server, like nailgun or Python's multiprocessing forkserver).

This module is the client and what client and server share; it imports only the standard
library, because it runs in ``tui.entry`` before anything heavy is imported. The server is
``tui.warm_server``.

How a command runs warm: the client connects to a unix socket in a private (0700) per-user
runtime dir, sends its argv, cwd, umask and whole environment, and its stdin/stdout/stderr
file descriptors (SCM_RIGHTS). The server forks a child that takes them on and runs the
normal CLI main, as a fresh process would; the client forwards SIGINT/SIGTERM/SIGHUP (and
Ctrl-Z) to that child and exits with its exit code. Nothing here ever decides a command's
outcome: if no server answers, or it declines, the command runs in this process as before.

Only commands that never read the terminal are handed over (the child is not in the
terminal's foreground process group, so it must not read it): see ``DELEGATED``. The chat
app, `chat`, `inspect`, `worker` and anything that may ask a question run here.

``MEMCHAT_WARM_SECONDS`` (the ``warm_seconds`` setting) is the server's idle time; 0 turns
the warm process off. A server refuses requests from other code (any file of memchat or a
change under site-packages since it started) and from a different environment except for
per-invocation variables (``MEMCHAT_*``, the terminal's, provider keys), then the command
runs in-process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("memory", "assistant", "tasks", "tui")
ENV_SECONDS = "MEMCHAT_WARM_SECONDS"
DEFAULT_SECONDS = 600

# command words -> subcommands that may be handed over (None: the command itself)
DELEGATED: dict[str, frozenset[str] | None] = {
    "ask": None,
    "memory": frozenset(
        {"list", "search", "add", "show", "edit", "pin", "tag", "expire", "restore", "review"}
        | {"export"}
    ),
    "chat": frozenset({"list", "export"}),
    "profiles": None,
    "config": None,
}

# Variables that differ between invocations without changing what an import does: these may
# differ between a request and the server's own environment (everything else must match).
_PER_CALL_PREFIXES = ("MEMCHAT_", "SSH_", "TMUX", "KITTY_", "WEZTERM_", "ITERM_", "TERM")
_PER_CALL_SUFFIXES = ("_API_KEY", "_API_BASE", "_BASE_URL")
_PER_CALL = frozenset(
    "PWD OLDPWD _ SHLVL COLUMNS LINES STY WINDOW WINDOWID COLORTERM VTE_VERSION DISPLAY "
    "WAYLAND_DISPLAY GNOME_TERMINAL_SCREEN GNOME_TERMINAL_SERVICE ALACRITTY_WINDOW_ID "
    "WT_SESSION GPG_TTY XDG_RUNTIME_DIR XDG_SESSION_ID DBUS_SESSION_BUS_ADDRESS "
    "PYTEST_CURRENT_TEST".split()
)


def import_env(env: dict[str, str]) -> dict[str, str]:
    """The part of an environment that may change what importing a module does."""
    return {
        k: v
        for k, v in env.items()
        if k not in _PER_CALL
        and not k.startswith(_PER_CALL_PREFIXES)
        and not k.endswith(_PER_CALL_SUFFIXES)
    }


def seconds_from_env() -> int | None:
    """MEMCHAT_WARM_SECONDS as an int (None when unset or not a number)."""
    raw = os.environ.get(ENV_SECONDS, "").strip()
    try:
        return max(0, int(float(raw))) if raw else None
    except ValueError:
        return None


def command_of(argv: list[str]) -> tuple[str, ...] | None:
    """The command words of ``argv`` when they name a command that may be handed over."""
    words: list[str] = []
    i = 0
    while i < len(argv) and len(words) < 2:
        a = argv[i]
        if a == "--":
            break
        if a in ("--profile", "-p"):
            i += 2
            continue
        if a.startswith("-"):
            if not words and not a.startswith(("--profile=", "-p")):
                return None  # --help, --version ... before any command
            i += 1
            continue
        words.append(a)
        if DELEGATED.get(words[0], ()) is None:
            break
        i += 1
    if not words or words[0] not in DELEGATED:
        return None
    subs = DELEGATED[words[0]]
    if subs is None:
        return (words[0],)
    if len(words) == 2 and words[1] in subs:
        return (words[0], words[1])
    return None


def runtime_dir() -> str | None:
    """A private (0700, ours) runtime dir for the socket, or None when there is none safe.
    Independent of MEMCHAT_HOME: one server serves every profile and data dir."""
    uid = os.getuid()
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = os.path.join(base, "memchat") if base else f"/tmp/memchat-{uid}"
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not os.path.isdir(path) or os.path.islink(path):
        return None
    if st.st_uid != uid or st.st_mode & 0o077:
        return None
    return path


def server_key() -> str:
    """One server per interpreter and code tree (several checkouts may share a venv)."""
    ident = f"{sys.executable}\0{sys.version}\0{ROOT}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def paths() -> dict[str, str] | None:
    d = runtime_dir()
    if d is None:
        return None
    stem = os.path.join(d, f"w-{server_key()}")
    return {"dir": d, "sock": stem + ".sock", "lock": stem + ".lock", "log": stem + ".log"}


def code_stamp() -> str:
    """Changes when any file of memchat's packages or the site-packages dirs change."""
    h = hashlib.sha256()
    stack = [os.path.join(ROOT, p) for p in PACKAGES]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                if e.name != "__pycache__":
                    stack.append(e.path)
            elif e.name.endswith((".py", ".tcss")):
                st = e.stat()
                h.update(f"{e.path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    for p in sys.path:
        if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p):
            h.update(f"{p}\0{os.stat(p).st_mtime_ns}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- the wire
# Each message is a 4-byte length and a JSON object; the request carries three fds.
def send_msg(sock: socket.socket, obj: dict, fds: list[int] | None = None) -> None:
    body = json.dumps(obj).encode()
    data = struct.pack("!I", len(body)) + body
    if fds:
        n = socket.send_fds(sock, [data], fds)
        data = data[n:]
    if data:
        sock.sendall(data)


def recv_msg(sock: socket.socket, maxfds: int = 0) -> tuple[dict | None, list[int]]:
    """One message (None at end of stream) and any fds that came with it."""
    buf = b""
    fds: list[int] = []
    while len(buf) < 4 or len(buf) < 4 + struct.unpack("!I", buf[:4])[0]:
        if maxfds and not fds:
            chunk, got, _, _ = socket.recv_fds(sock, 65536, maxfds)
            fds += got
        else:
            chunk = sock.recv(65536)
        if not chunk:
            for fd in fds:
                os.close(fd)
            return None, []
        buf += chunk
    return json.loads(buf[4:]), fds


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def connect(timeout: float = 1.0) -> socket.socket | None:
    """A connection to this code tree's server, or None."""
    if not hasattr(socket, "SO_PEERCRED") or not hasattr(socket, "send_fds"):
        return None
    p = paths()
    if p is None:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(p["sock"])
        if peer_uid(s) != os.getuid():
            raise OSError("the server is someone else's")
    except OSError:
        s.close()
        return None
    return s


# --------------------------------------------------------------------------- the client
def delegate(argv: list[str], env: dict[str, str]) -> int | None:
    """Run ``memchat argv`` in the warm process. The exit code, or None when no server took
    it (nothing has run then: the caller runs it in-process)."""
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return None
    sock = connect()
    if sock is None:
        return None
    try:
        mask = os.umask(0o22)
        os.umask(mask)
        request = {"op": "run", "argv": [sys.argv[0], *argv], "cwd": os.getcwd()}
        request.update(env=env, umask=mask, stamp=code_stamp())
        sock.settimeout(None)
        send_msg(sock, request, [0, 1, 2])
        reply, _ = recv_msg(sock)
    except (OSError, ValueError):
        sock.close()
        return None
    if reply is None or "pid" not in reply:
        sock.close()
        return None  # refused (other code or environment) or gone: nothing ran
    return _wait(sock, int(reply["pid"]))


def _wait(sock: socket.socket, pid: int) -> int:
    """Forward signals to the child until the server reports how it ended."""

    def forward(signum, frame) -> None:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    def stop(signum, frame) -> None:  # Ctrl-Z: stop the child too, and resume it with us
        forward(signal.SIGSTOP, frame)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)

    def cont(signum, frame) -> None:
        forward(signal.SIGCONT, frame)
        signal.signal(signal.SIGTSTP, stop)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    signal.signal(signal.SIGTSTP, stop)
    signal.signal(signal.SIGCONT, cont)
    try:
        reply, _ = recv_msg(sock)
    except (OSError, ValueError):
        reply = None
    sock.close()
    if reply is None:
        os.write(2, b"memchat: the warm process ended before the command did\n")
        return 1
    if reply.get("signal"):
        sig = int(reply["signal"])
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)  # end the way the child did
        return 128 + sig
    return int(reply.get("exit", 1))


def spawn(env: dict[str, str]) -> None:
    """Start the server in the background, fully detached (it exits at once if one runs)."""
    import subprocess

    try:
        subprocess.Popen(
            [sys.executable, "-m", "tui.warm_server"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        pass


def request(op: str, timeout: float = 5.0) -> dict | None:
    """Ask the server for its status or to stop; None when none runs."""
    sock = connect(timeout)
    if sock is None:
        return None
    try:
        send_msg(sock, {"op": op})
        reply, _ = recv_msg(sock)
    except (OSError, ValueError):
        reply = None
    sock.close()
    return reply
