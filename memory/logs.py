"""Logging to a private file in the data dir, with secrets redacted from every record.

Library code only calls ``logging.getLogger(...)``; the entry points (CLI, app, worker) call
:func:`setup_logging` once, so warnings land in ``<data dir>/logs/`` instead of on the
terminal (where they would garble the chat app) and never carry an API key.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

from memory.fsutil import private_dir, private_file
from memory.secrets import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class RedactSecrets(logging.Filter):
    """Rewrite a record whose text holds a secret (keys, tokens, card numbers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = redact(text)
        if cleaned != text:
            record.msg, record.args = cleaned, ()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _FileHandler(RotatingFileHandler):
    """A log file that never writes "--- Logging error ---" tracebacks to stderr (they would
    garble the chat app) when its disk is full or its folder is gone: the record is dropped."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


class OneLine(logging.Formatter):
    """Console records as one line each: a traceback (huey logs a task's failure with one)
    stays in the log file, and the terminal says where to find it."""

    def __init__(self, log_path: Path) -> None:
        super().__init__()
        self.log_path = log_path

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            text += f" {type(exc).__name__}: {exc}"
        text = " ".join(redact(text).split())
        if len(text) > 300:
            text = text[:299] + "…"
        more = ""
        if exc is not None:
            more = f" (traceback in {self.log_path})"
        elif record.levelno >= logging.ERROR:
            more = f" (details in {self.log_path})"
        return f"memchat: {record.levelname.lower()}: {text}{more}"


def setup_logging(
    log_dir: Path,
    filename: str = "memchat.log",
    *,
    level: int = logging.INFO,
    console_level: int | None = None,
    console_filter: Callable[[logging.LogRecord], bool] | None = None,
) -> Path:
    """Send every logger's records to ``log_dir/filename`` (and stderr at ``console_level``,
    one line each, without the records ``console_filter`` turns down)."""
    private_dir(log_dir, own=True)
    path = private_file(log_dir / filename)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_memchat", False):
            root.removeHandler(h)
            h.close()
    file = _FileHandler(path, maxBytes=5_000_000, backupCount=2, encoding="utf-8")
    file.setFormatter(logging.Formatter(FORMAT))
    handlers: list[logging.Handler] = [file]
    if console_level is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(console_level)
        console.setFormatter(OneLine(path))
        if console_filter is not None:
            console.addFilter(console_filter)
        handlers.append(console)
    for h in handlers:
        h.addFilter(RedactSecrets())
        h._memchat = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(level)
    return path
