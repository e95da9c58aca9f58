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

import os
import signal
import socket
import sys

from tui.warm_base import ROOT, code_stamp, connect, recv_msg, send_msg

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


def seconds_from_env(env: dict[str, str] | None = None) -> int | None:
    """MEMCHAT_WARM_SECONDS as an int (None when unset or not a number)."""
    raw = (os.environ if env is None else env).get(ENV_SECONDS, "").strip()
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
    child = {"pid": 0}
    pending: list[int] = []

    def forward(signum, frame) -> None:  # Ctrl-C before the child runs: sent to it once it does
        if not child["pid"]:
            pending.append(signum)
            return
        try:
            os.kill(child["pid"], signum)
        except OSError:
            pass

    before = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        mask = os.umask(0o22)
        os.umask(mask)
        request = {
            "op": "run",
            "argv": [sys.argv[0], *argv],
            "cwd": os.getcwd(),
            "env": env,
            "umask": mask,
            "stamp": code_stamp(),
        }
        sock.settimeout(None)
        send_msg(sock, request, [0, 1, 2])
        reply, _ = recv_msg(sock)
    except (OSError, ValueError):
        reply = None
    if reply is None or "pid" not in reply:
        sock.close()  # refused (other code or environment) or gone: nothing ran
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for signum in pending[:1]:
            os.kill(os.getpid(), signum)  # as it would have landed in-process
        return None
    child["pid"] = int(reply["pid"])
    for signum in pending:
        forward(signum, None)
    return _wait(sock, forward)


_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _wait(sock: socket.socket, forward) -> int:
    """Forward signals to the child until the server reports how it ended."""

    def stop(signum, frame) -> None:  # Ctrl-Z: stop the child too, and resume it with us
        forward(signal.SIGSTOP, frame)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)

    def cont(signum, frame) -> None:
        forward(signal.SIGCONT, frame)
        signal.signal(signal.SIGTSTP, stop)

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
        signum = int(reply["signal"])
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # end the way the child did
        return 128 + signum
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


def lock_holder() -> int | None:
    """The pid of the server holding this tree's lock (also while it is still importing)."""
    import fcntl

    from tui.warm_base import paths

    p = paths()
    if p is None or not os.path.exists(p["lock"]):
        return None
    with open(p["lock"], "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            text = f.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(f, fcntl.LOCK_UN)
    return None
