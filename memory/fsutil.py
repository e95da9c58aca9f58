"""Private files and folders: data dirs are 0700 and files 0600, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from memory.errors import DataDirError


def private_dir(path: Path, *, own: bool = False) -> Path:
    """Create ``path`` (and parents) owner-only and writable, or refuse one that is not ours.

    A folder that already exists keeps its mode unless ``own`` (a folder memchat names and
    creates itself, such as ``<data dir>/redis``): the data dir may be any folder the user
    points memchat at (``/tmp``, a project folder), and changing its mode would break what
    else lives there. :func:`mode_problem` says what is wrong with it instead.
    """
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for p in reversed(missing):  # mkdir(parents=True) would make the parents 0755
            p.mkdir(exist_ok=True, mode=0o700)
        st = path.lstat()
    except OSError as e:
        raise DataDirError(
            f"cannot use data dir {path}: {e.strerror or e}. Set MEMCHAT_HOME to a folder you can write to."
        ) from None
    if path.is_symlink() or not path.is_dir() or st.st_uid != os.getuid():
        raise DataDirError(
            f"{path} is not a directory owned by you; remove it or set MEMCHAT_HOME elsewhere"
        )
    if own and st.st_mode & 0o077:
        os.chmod(path, 0o700)
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(
            f"cannot write to data dir {path}: permission denied. Set MEMCHAT_HOME to a folder you can write to."
        )
    return path


def mode_problem(path: Path) -> str | None:
    """What is wrong with the mode of a data dir memchat did not create, or None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    who = "everyone" if mode & 0o007 else "your group"
    return (
        f"data dir {path} is mode {mode:o}: {who} has access to it (memchat's files in it are "
        "private, their names are not; memchat changes no folder it did not create); "
        f"run `chmod 700 {path}` or set MEMCHAT_HOME to a private folder"
    )


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


# What memchat creates in its data dir: only these are tightened, never anything else there.
OWN_ENTRIES = (
    "memchat.db",
    "memchat.db-wal",
    "memchat.db-shm",
    "chroma",
    "redis",
    "logs",
    "backups",
    "models",
)
_opened: set[str] = set()


def open_data_dir(home: Path) -> str | None:
    """Keep everything memchat writes in ``home`` private; returns a warning when ``home``
    itself is open to others (it is created 0700, but an existing folder is left as it is).

    Files are created owner-only by the process umask (0077): chromadb (its SQLite file, its
    HNSW segment folders), Valkey and the loggers create files with the umask, so this is the
    one mechanism that reaches all of them. Entries an older memchat created more openly are
    tightened once per process (dirs 0700, files 0600), limited to ``OWN_ENTRIES``.
    """
    private_dir(home)
    os.umask(0o077)
    key = str(Path(home).absolute())
    if key not in _opened:
        _opened.add(key)
        for name in OWN_ENTRIES:
            tighten(Path(home) / name)
    return mode_problem(Path(home))


def tighten(path: Path) -> None:
    """Dirs 0700 and files 0600 at and under ``path`` (ours only; symlinks are not followed)."""
    try:
        st = path.lstat()
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
        return
    try:
        if stat.S_ISDIR(st.st_mode):
            if st.st_mode & 0o077:
                os.chmod(path, 0o700)
            for child in path.iterdir():
                tighten(child)
        elif stat.S_ISREG(st.st_mode) and st.st_mode & 0o177:
            os.chmod(path, 0o600)
    except OSError:
        pass  # a file removed meanwhile, or not ours to change
