"""Private files and folders: data dirs are 0700 and files 0600, whatever the umask."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from memory.errors import DataDirError


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only and writable, or refuse one that is not ours."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = path.lstat()
    except OSError as e:
        raise DataDirError(
            f"cannot use data dir {path}: {e.strerror or e}. Set MEMCHAT_HOME to a folder you can write to."
        ) from None
    if path.is_symlink() or not path.is_dir() or st.st_uid != os.getuid():
        raise DataDirError(
            f"{path} is not a directory owned by you; remove it or set MEMCHAT_HOME elsewhere"
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(
            f"cannot write to data dir {path}: permission denied. Set MEMCHAT_HOME to a folder you can write to."
        )
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is owner read/write only."""
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def write_private_atomically(path: Path, chunks: Iterable[str]) -> Path:
    """Write ``chunks`` to ``path`` (owner-only) all or nothing.

    The text goes to a hidden file beside ``path`` that replaces it only once complete and
    synced, so a failure (a full disk) never leaves a cut-off file that reads as a whole one,
    and an existing file at ``path`` is kept until then. Raises the OSError on failure.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
