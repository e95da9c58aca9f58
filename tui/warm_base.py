"""What the warm process's client (tui.warm) and server (tui.warm_server) share: where the
socket lives, which code and environment a server may serve, and the wire. Standard library
only: the client imports it before anything heavy."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("memory", "assistant", "tasks", "tui")

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
    """One server per environment and code tree (several checkouts may share a venv)."""
    ident = f"{sys.prefix}\0{sys.version}\0{ROOT}"
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
