"""Process helpers shared by the embedded server's lifecycle and the worker's liveness checks
(a public module: the worker imports it)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped by init) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all we have
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


__all__ = ["pid_alive"]
