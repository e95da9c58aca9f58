"""Worker results delivered to a widget on the UI thread, safely.

A thread worker hands its result over with ``app.call_from_thread(self._show, ...)``. By the
time it lands the widget may be gone: its tab closed, or the whole app tearing down (children
already removed, so a ``query_one`` raises NoMatches). :func:`while_shown` drops the result
then, and only then: a NoMatches in a widget that is still shown is a real bug and is raised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from textual.css.query import NoMatches

F = TypeVar("F", bound=Callable[..., Any])


def _gone(widget) -> bool:
    """Closed, or going: the app stops running as its teardown starts."""
    if not widget.is_attached:
        return True
    app = widget.app
    return not app.is_running or bool(getattr(app, "_exit", False))


def while_shown(fn: F) -> F:
    """Decorate a widget method that receives a worker's result (see the module docstring)."""

    @functools.wraps(fn)
    def run(self, *args: Any, **kw: Any) -> Any:
        if _gone(self):
            return None
        try:
            return fn(self, *args, **kw)
        except NoMatches:
            if _gone(self):
                return None  # torn down while it ran
            raise

    return run  # type: ignore[return-value]


__all__ = ["while_shown"]
