"""Private files and folders: data dirs are 0700 and files 0600, whatever the umask."""

from __future__ import annotations

import os
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
