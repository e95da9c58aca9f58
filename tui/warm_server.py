"""The warm process's server (see tui.warm): ``python -m tui.warm_server``.

It imports litellm, the CLI and the storage modules once -- modules only: no ONNX session,
Chroma client, Redis connection, thread or database is opened here, since none of them
survives a fork -- then listens on its unix socket. Each request is a fork: the child takes
on the client's environment, cwd, umask, argv and stdin/stdout/stderr and runs the normal
CLI main, exactly as a fresh process; the server reports the child's pid and then its exit
status to the client. One lock file makes it the only server of its code tree; it exits
after ``warm_seconds`` idle, when a request shows its code changed, and on `memchat warm
--stop` (or SIGTERM), always after its running children are reported.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import signal
import socket
import sys
import time

from tui import warm, warm_base, warm_child

_started = time.time()
_env_at_start = dict(os.environ)


def _log(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {line}\n")


def _idle_seconds() -> int:
    env = warm.seconds_from_env()
    if env is not None:
        return env
    try:
        from tui.settings import load_settings

        return load_settings().warm_seconds
    except Exception:  # noqa: BLE001 - a broken config: the commands will say so
        return warm.DEFAULT_SECONDS


class Server:
    def __init__(self, p: dict[str, str], idle: int, stamp: str) -> None:
        self.p, self.idle, self.stamp = p, idle, stamp
        self.sel = selectors.DefaultSelector()
        self.children: dict[int, tuple[socket.socket, float, str]] = {}
        self.last = time.time()
        self.served = 0
        self.stopping = ""
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = f"{p['sock']}.{os.getpid()}"
        self.listener.bind(tmp)
        self.listener.listen(64)
        os.rename(tmp, p["sock"])  # appears complete, already listening
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *a: None)
        signal.signal(signal.SIGTERM, lambda *a: self.stop("SIGTERM"))
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    def stop(self, why: str) -> None:
        if not self.stopping:
            self.stopping = why
            self.sel.unregister(self.listener)
            self.listener.close()
            try:
                os.unlink(self.p["sock"])
            except OSError:
                pass

    def serve(self) -> dict | None:
        """Serve until it is time to go (returns None) or, in a forked child, the request
        the child is to run."""
        last_check = time.time()
        while not (self.stopping and not self.children):
            idle_for = time.time() - self.last
            if not self.stopping and not self.children:
                if idle_for >= self.idle:
                    self.stop(f"idle {self.idle} s")
                    continue
                if time.time() - last_check > 30:
                    last_check = time.time()
                    if warm_base.code_stamp() != self.stamp:
                        self.stop("code changed")
                        continue
            timeout = max(0.05, self.idle - idle_for) if not self.children else None
            for key, _ in self.sel.select(min(timeout, 30) if timeout else None):
                if key.data == "wake":
                    os.read(self.wake_r, 512)
                    self.reap()
                elif key.data == "accept":
                    req = self.accept()
                    if req is not None:
                        return req
                else:  # a client hung up before its child ended: end the child too
                    try:
                        os.kill(key.data, signal.SIGTERM)
                    except OSError:
                        pass
                    self.sel.unregister(key.fileobj)
        _log(self.p["log"], f"exit: {self.stopping}, served {self.served}")
        return None

    def accept(self) -> dict | None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return None
        self.last = time.time()
        conn.settimeout(10)
        try:
            if warm_base.peer_uid(conn) != os.getuid():
                conn.close()  # another user: never served
                return None
            req, fds = warm_base.recv_msg(conn, maxfds=3)
        except (OSError, ValueError):
            conn.close()
            return None
        if req is None:
            conn.close()
            return None
        op = req.get("op")
        if op != "run":
            uptime = round(time.time() - _started)
            warm_base.send_msg(conn, {"server": os.getpid(), "uptime": uptime} | self.status())
            conn.close()
            if op == "stop":
                self.stop("stopped by request")
            return None
        refusal = self.refusal(req, fds)
        if refusal:
            for fd in fds:
                os.close(fd)
            warm_base.send_msg(conn, {"refused": refusal})
            conn.close()
            if refusal == "code changed":
                self.stop(refusal)
            return None
        self.idle = warm.seconds_from_env(req["env"]) or self.idle  # the latest caller's wish
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            self.become_child(conn)
            if os.read(go_r, 1) != b"1":  # the server died before the client knew: don't run
                os._exit(0)
            os.close(go_r)
            req["fds"] = fds
            return req
        os.close(go_r)
        for fd in fds:
            os.close(fd)
        words = " ".join(warm.command_of(req["argv"][1:]) or ("?",))
        try:
            warm_base.send_msg(conn, {"pid": pid})
            os.write(go_w, b"1")
        except OSError:
            pass
        os.close(go_w)
        conn.settimeout(None)
        self.children[pid] = (conn, time.time(), words)
        self.sel.register(conn, selectors.EVENT_READ, pid)
        self.served += 1
        return None

    def refusal(self, req: dict, fds: list[int]) -> str:
        if len(fds) != 3:
            return "no stdio"
        if req.get("stamp") != self.stamp:
            return "code changed"
        if warm_base.import_env(req.get("env") or {}) != warm_base.import_env(_env_at_start):
            return "different environment"
        if self.stopping:
            return "stopping"
        return ""

    def reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn, t0, words = self.children.pop(pid)
            self.last = time.time()
            if os.WIFSIGNALED(status):
                reply, how = {"signal": os.WTERMSIG(status)}, f"signal {os.WTERMSIG(status)}"
            else:
                code = os.waitstatus_to_exitcode(status)
                reply, how = {"exit": code}, f"exit {code}"
            rss = usage.ru_maxrss / 1024
            _log(
                self.p["log"],
                f"served child={pid} cmd={words!r} {how} "
                f"wall={time.time() - t0:.3f}s child_peak_rss={rss:.0f}MB",
            )
            try:
                self.sel.unregister(conn)
                warm_base.send_msg(conn, reply)
            except (OSError, KeyError, ValueError):
                pass
            conn.close()

    def status(self) -> dict:
        rss = 0
        try:
            with open("/proc/self/status") as f:
                rss = next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) // 1024
        except (OSError, StopIteration):
            pass
        return {
            "served": self.served,
            "running": len(self.children),
            "idle_seconds": self.idle,
            "rss_mb": rss,
            "log": self.p["log"],
        }

    def become_child(self, conn: socket.socket) -> None:
        """Drop everything of the server's in a forked child."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.sel.close()
        self.listener.close()
        conn.close()
        for c, _, _ in self.children.values():
            c.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        os.close(self.lock_fd)

    lock_fd = -1


def main() -> None:
    p = warm_base.paths()
    if p is None or warm.request("status", 0.5) is not None:
        return  # one runs already (e.g. it declined a request from another environment)
    idle = _idle_seconds()
    if idle <= 0:
        return
    fd = os.open(p["lock"], os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.time() + 5  # a stale server may be on its way out
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.time() > deadline or warm.request("status", 0.5) is not None:
                return  # one runs already
            time.sleep(0.1)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())  # who holds it (for `memchat warm --stop`)
    stamp = warm_base.code_stamp()
    try:
        if os.path.getsize(p["log"]) > 1 << 20:
            os.unlink(p["log"])
    except OSError:
        pass
    t0 = time.time()
    warm_child.preload()
    if warm_base.code_stamp() != stamp or "onnxruntime" in sys.modules:
        return  # changed while importing (the next cold run starts a fresh one), or unsafe
    server = Server(p, idle, stamp)
    server.lock_fd = fd
    _log(p["log"], f"listening ({time.time() - t0:.1f} s of imports, idle {idle} s)")
    req = server.serve()
    if req is not None:
        warm_child.run_child(req)


if __name__ == "__main__":
    main()
