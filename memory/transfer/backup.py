"""Backups a person can restore from: SQLite via the online backup API, Chroma, a manifest.

SQLite is the system of record: its copy is taken with sqlite3's online backup API, so a live
store (worker writing) yields a consistent snapshot. The Chroma folder is copied alongside,
under the lock every process takes around Chroma calls (memory.vectors.index); if it turns out
inconsistent anyway, ``memchat memory reindex`` rebuilds it from SQLite, because
every vector can be recomputed from the database.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from memory.config import Settings
from memory.errors import MemchatError
from memory.fsutil import private_dir, tighten, write_private_atomically
from memory.sqlite.migrations import LATEST

MANIFEST = "manifest.json"
FORMAT = 1
# A backup is written under this name beside its destination and renamed when complete, so a
# backup killed halfway never looks like one (it is hidden, and has no manifest).
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)$")


class BackupError(MemchatError):
    """A backup could not be written, or a folder is not a usable backup."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_backup_dir(home: Path) -> Path:
    return home / "backups" / datetime.now().strftime("memchat-%Y%m%d-%H%M%S")


def backup(settings: Settings, dest: Path | None = None) -> Path:
    """Back up the data dir of ``settings`` (all profiles) into ``dest``; returns the folder.

    The backup is written to a hidden ``.<name>.partial-<pid>`` folder beside ``dest`` and
    renamed to ``dest`` only when complete (manifest written last), so ``dest`` is either a
    whole backup or absent: a backup killed halfway, or one that fails (a full disk), never
    shows up where backups are looked for. A failed one is removed again.
    """
    default = dest is None
    dest = Path(dest) if dest else default_backup_dir(settings.home)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} is not empty; choose a new folder for the backup")
    if default:
        private_dir(dest.parent)
    else:
        _make_parents(dest.parent)
    work = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        work.mkdir(mode=0o700)
        _write_backup(settings, work)
        os.rename(work, dest)  # atomic; replaces an empty folder the user made for it
    except BaseException as e:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(e, (OSError, sqlite3.Error)):
            raise _write_error(settings.db_path, dest, e) from None
        raise
    return dest


def _make_parents(folder: Path) -> None:
    """Create ``folder`` and its missing parents owner-only; an existing one is left as it is
    (a folder the user chose is not memchat's to chmod)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        for p in reversed(missing):
            p.mkdir(exist_ok=True, mode=0o700)
    except OSError as e:
        raise BackupError(f"cannot create {folder}: {e.strerror or e}") from None


def complete_backups(root: Path) -> list[Path]:
    """The whole backups in folder ``root`` (those with a manifest), oldest first."""
    try:
        folders = [p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(p for p in folders if (p / MANIFEST).is_file())


def unfinished_backups(root: Path) -> list[tuple[Path, bool]]:
    """Folders of backups that were interrupted (killed) in ``root``, each with whether the
    process writing it still runs (then it is not unfinished yet)."""
    from memory.proc import pid_alive

    try:
        found = [(p, _PARTIAL.match(p.name)) for p in Path(root).iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted((p, pid_alive(int(m["pid"]))) for p, m in found if m)


def _write_backup(settings: Settings, dest: Path) -> None:
    db_copy = dest / "memchat.db"
    src = sqlite3.connect(settings.db_path)
    out = sqlite3.connect(db_copy)
    try:
        with out:
            src.backup(out)
        check = out.execute("PRAGMA integrity_check").fetchone()[0]
        profiles = {
            r[0]: {"memories": r[1]}
            for r in out.execute(
                "SELECT profile, COUNT(*) FROM memories WHERE status != 'deleted' GROUP BY profile"
            )
        }
        for profile, n in out.execute("SELECT profile, COUNT(*) FROM messages GROUP BY profile"):
            profiles.setdefault(profile, {"memories": 0})["messages"] = n
    finally:
        out.close()
        src.close()
    if check != "ok":
        raise BackupError(
            f"the backup copy failed its integrity check ({check}); the source may be damaged"
        )
    db_copy.chmod(0o600)
    chroma = settings.chroma_path
    if chroma.exists() and not settings.chroma_url:
        from memory.vectors.index import chroma_lock

        with chroma_lock(chroma):  # no process writes the index while it is copied
            shutil.copytree(chroma, dest / "chroma")
        tighten(dest / "chroma")  # copytree copies the modes, and chromadb follows the umask
    manifest = {
        "format": FORMAT,
        "created_at": time.time(),
        "schema_version": LATEST,
        "profiles": profiles,
        "files": {"memchat.db": _sha256(db_copy)},
        "chroma": (dest / "chroma").exists(),
    }
    write_private_atomically(dest / MANIFEST, [json.dumps(manifest, indent=2)])


def _write_error(source: Path, dest: Path, e: OSError | sqlite3.Error) -> BackupError:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    if isinstance(e, shutil.Error) and e.args and isinstance(e.args[0], list) and e.args[0]:
        reason = str(e.args[0][0][-1])  # copytree gathers (src, dst, why) for each failed file
    if (
        getattr(e, "errno", None) == errno.ENOSPC
        or "No space left" in reason
        or "disk is full" in reason
    ):
        return BackupError(
            f"could not write the backup to {dest}: the disk is full; free some space or choose "
            "another folder (the unfinished backup was removed)"
        )
    return BackupError(
        f"could not back up {source} to {dest}: {reason} (the unfinished backup was removed)"
    )


def read_manifest(path: Path) -> dict:
    mf = Path(path) / MANIFEST
    if not mf.exists():
        raise BackupError(f"{path} is not a memchat backup (no {MANIFEST})")
    try:
        manifest = json.loads(mf.read_text())
    except (ValueError, OSError) as e:
        raise BackupError(f"{mf} is unreadable ({e}); the backup is damaged") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{path} has backup format {manifest.get('format')}; this memchat reads format {FORMAT}"
        )
    for name, digest in manifest.get("files", {}).items():
        f = Path(path) / name
        if not f.exists() or _sha256(f) != digest:
            raise BackupError(
                f"{f} is missing or does not match the manifest; the backup is damaged"
            )
    return manifest


def restore(path: Path, home: Path, *, force: bool = False) -> dict:
    """Restore the backup at ``path`` into the data dir ``home``.

    An existing database is kept aside as ``memchat.db.before-restore-<time>`` (``force``
    is required when one exists). Stop other memchat processes first.
    """
    path = Path(path)
    manifest = read_manifest(path)
    private_dir(home)
    target = home / "memchat.db"
    replacing = target.exists()
    if replacing:
        if not force:
            raise BackupError(
                f"{target} already exists; pass --force to replace it (it is kept aside)"
            )
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            side = Path(str(target) + suffix)
            if side.exists():
                side.rename(Path(f"{target}.before-restore-{stamp}{suffix}"))
    from memory.vectors.index import chroma_lock

    # Under the vector index's lock, and counted as a write, so any process still running
    # reopens the index instead of using its copy of the old one.
    with chroma_lock(home / "chroma") as lock:
        if replacing and (home / "chroma").exists():
            (home / "chroma").rename(home / f"chroma.before-restore-{stamp}")
        src = sqlite3.connect(path / "memchat.db")
        out = sqlite3.connect(target)
        with out:
            src.backup(out)
        out.close()
        src.close()
        target.chmod(0o600)
        if (path / "chroma").exists():
            shutil.copytree(path / "chroma", home / "chroma")
            tighten(home / "chroma")
        lock.bump()
    from memory.sqlite import db as dbmod

    dbmod._migrated.discard(str(target.resolve()))  # a restored older schema gets upgraded on open
    return manifest


def restore_copies(home: Path) -> list[Path]:
    """What restores kept aside in ``home`` (``*.before-restore-<time>``: the replaced
    database with its -wal/-shm, and the replaced vector index), oldest first."""
    return sorted(
        Path(home).glob("*.before-restore-*"), key=lambda p: p.name.split("-restore-")[-1]
    )


def remove_restore_copies(home: Path) -> list[Path]:
    """Delete what :func:`restore_copies` lists; returns what was removed."""
    removed = []
    for p in restore_copies(home):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
        removed.append(p)
    return removed


def list_backups(home: Path) -> list[Path]:
    """Whole backup folders in ``<home>/backups`` (made by ``memchat backup`` without a path);
    an interrupted one is never listed (see complete_backups)."""
    return complete_backups(Path(home) / "backups")


def size_of(path: Path) -> int:
    """Bytes in a file or a folder tree."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
