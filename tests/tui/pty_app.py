"""Run the real `memchat` app as a child process in a pseudo-terminal (stdlib only).

    with PtyApp(env=env) as app:
        app.wait_for_text("profile default")
        app.type("hello")
        app.press("\\r")
        ...
        app.kill()  # SIGKILL, no cleanup in the child

A thread drains the pty master all the time, so the app never blocks on a full pty buffer;
everything it drew is kept in ``output`` and :meth:`screen_text` gives it without escape
sequences (good enough to look for a word Textual drew in one run).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# CSI (incl. private modes and mouse/kitty forms), OSC (BEL or ST terminated), DCS/APC/PM/SOS
# strings, two-character escapes, and the remaining C0 controls other than newline.
_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[PX^_][^\x1b]*\x1b\\"
    rb"|\x1b[@-Z\\-_]"
    rb"|[\x00-\x09\x0b-\x1f\x7f]"
)


def memchat_argv(*args: str) -> list[str]:
    """The `memchat` console script as installed (falls back to ``python -m tui``)."""
    script = Path(sys.executable).with_name("memchat")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "tui", *args]


def _take_controlling_terminal() -> None:
    """In the child, after setsid: make its stdin (the pty's slave side) its controlling tty."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyApp:
    """One child process whose stdin/stdout/stderr are the slave side of a new pty."""

    def __init__(
        self,
        argv: Sequence[str] | None = None,
        *,
        env: Mapping[str, str],
        rows: int = 34,
        cols: int = 120,
        cwd: Path | str = ROOT,
    ) -> None:
        self.argv = list(argv or memchat_argv())
        self.env = dict(env)
        self.rows, self.cols, self.cwd = rows, cols, cwd
        self.proc: subprocess.Popen | None = None
        self._master: int | None = None
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> PtyApp:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own session: nothing we send hits the test run
                close_fds=True,
                # The pty becomes the child's controlling terminal, as in a real terminal
                # window: closing it (:meth:`hang_up`) sends the app SIGHUP from the kernel.
                preexec_fn=_take_controlling_terminal,
            )
        finally:
            os.close(slave)  # the child holds its copies; EIO on read once it is gone
        self._master = master
        self._reader = threading.Thread(target=self._drain, name="pty-drain", daemon=True)
        self._reader.start()
        return self

    def _drain(self) -> None:
        master = self._master
        assert master is not None
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave descriptor is closed (the app exited)
                return
            if not data:
                return
            with self._lock:
                self._buf += data

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> int:
        """Send ``sig`` to the app and reap it; returns its return code."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=timeout)

    def hang_up(self) -> None:
        """Close the terminal, as when its window is closed: the kernel sends the app SIGHUP
        and its reads and writes on the terminal fail from then on."""
        if self._master is not None:
            master, self._master = self._master, None
            os.close(master)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Kill the app if it still runs and release the pty (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._master is not None:
            os.close(self._master)  # unblocks the drain thread
            self._master = None
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None

    def __enter__(self) -> PtyApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ input
    def write(self, data: bytes) -> None:
        assert self._master is not None, "not started"
        view = memoryview(data)
        while view:
            view = view[os.write(self._master, view) :]

    def type(self, text: str, pause: float = 0.005) -> None:
        """Type ``text`` one key at a time, like a person (not a paste)."""
        for ch in text:
            self.write(ch.encode())
            time.sleep(pause)

    def press(self, key: bytes) -> None:
        """One key as the terminal sends it: b"\\r" Enter, b"\\x11" ctrl+q, b"\\x06" ctrl+f."""
        self.write(key)

    # ------------------------------------------------------------------ output
    @property
    def output(self) -> bytes:
        with self._lock:
            return bytes(self._buf)

    def mark(self) -> int:
        """A position in the output; pass it to :meth:`screen_text` to see only what follows."""
        with self._lock:
            return len(self._buf)

    def screen_text(self, since: int = 0) -> str:
        """What the app drew (from ``since``), with escape sequences and controls removed."""
        raw = _ESCAPES.sub(b"", self.output[since:])
        return raw.decode("utf-8", errors="replace")

    def wait_for_text(self, text: str, timeout: float = 20.0, since: int = 0) -> None:
        """Wait until the app drew ``text``; fail with the tail of the screen otherwise."""
        self.wait_until(lambda: text in self.screen_text(since), timeout, f"{text!r} on screen")

    def wait_until(self, cond: Callable[[], object], timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value:
                return value
            if not self.alive():
                raise AssertionError(
                    f"the app exited ({self.proc.returncode if self.proc else '?'}) while "
                    f"waiting for {what}; it drew: {self.screen_text()[-2000:]!r}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"the app drew: {self.screen_text()[-2000:]!r}"
                )
            time.sleep(0.05)


# Keys as a terminal in its default (legacy) keyboard mode sends them.
ENTER = b"\r"
CTRL_F = b"\x06"
CTRL_Q = b"\x11"

__all__ = ["CTRL_F", "CTRL_Q", "ENTER", "PtyApp", "memchat_argv"]
