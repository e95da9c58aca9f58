"""The SQLite connection: WAL, foreign keys, busy timeout, migrations, short write transactions.

Each thread gets its own connection (sqlite3 connections must not be shared across threads
without care); all of them point at one file in WAL mode so readers never block the writer.
Writes use ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing
with "database is locked" when a read transaction tries to upgrade.

Every connection is a :class:`RedactingConnection`: each text parameter of an ``INSERT``,
``UPDATE`` or ``REPLACE`` is redacted (``memory.secrets.redact_stored``) before SQLite sees
it. This is the one gate into SQLite, so no table, column or write path can hold a secret --
including ones added later (see ``memory.secrets`` for the other tiers).
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memory.errors import StorageError
from memory.fsutil import private_file
from memory.secrets import redact_params
from memory.sqlite import migrations

# sqlite-utils imports numpy (~0.1 s, most of a cold `memchat memory list`) only to map numpy
# scalar types to column types, and memchat hands it none; a process that has not imported
# numpy yet imports sqlite-utils without it -- only while it has one thread, since another
# thread importing numpy meanwhile (the app warms chromadb in the background) would fail.
if "numpy" in sys.modules or threading.active_count() > 1:
    import sqlite_utils
else:
    sys.modules["numpy"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils
    finally:
        del sys.modules["numpy"]

BUSY_TIMEOUT_MS = 15_000
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


_WRITE = re.compile(r"\b(?:INSERT|UPDATE|REPLACE)\b", re.I)


@functools.lru_cache(maxsize=512)
def _writes(sql: str) -> bool:
    """Whether ``sql`` may write (anywhere in it: ``WITH ... INSERT`` and upserts count)."""
    return _WRITE.search(sql) is not None


class _Redacting:
    """``execute``/``executemany`` that redact the text parameters of every write."""

    def execute(self, sql: str, parameters=(), /):
        if parameters and _writes(sql):
            parameters = redact_params(parameters)
        return super().execute(sql, parameters)  # type: ignore[misc]

    def executemany(self, sql: str, seq_of_parameters, /):
        if _writes(sql):
            seq_of_parameters = (redact_params(p) for p in seq_of_parameters)
        return super().executemany(sql, seq_of_parameters)  # type: ignore[misc]


class RedactingCursor(_Redacting, sqlite3.Cursor):
    """The same rule for ``conn.cursor().execute``."""


class RedactingConnection(_Redacting, sqlite3.Connection):
    """The connection every ``Database`` uses: no write reaches SQLite unredacted."""

    def cursor(self, factory=None):  # type: ignore[override]
        return super().cursor(factory or RedactingCursor)


def _out_of_space(path: Path) -> bool:
    """Whether the filesystem holding ``path`` is (nearly) full. SQLite reports a full disk as
    a bare "disk I/O error" when it cannot even size the ``-shm`` file while opening."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _storage_error(path: Path, e: sqlite3.Error) -> StorageError:
    text = str(e)
    if "locked" in text or "busy" in text:
        return StorageError(
            f"the database {path} stayed locked for {BUSY_TIMEOUT_MS // 1000}s by another process; "
            "close other memchat windows or workers and try again (nothing was lost)"
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        from memory.transfer.backup import complete_backups

        backups = complete_backups(path.parent / "backups")  # never one that was cut short
        how = (
            f"`memchat restore --force {backups[-1]}` (your newest backup)"
            if backups
            else "`memchat restore BACKUP`"
        )
        return StorageError(
            f"the database {path} is damaged ({text}); restore it with {how} or move it aside to start fresh"
        )
    if "full" in text or ("disk I/O error" in text and _out_of_space(path)):
        return StorageError(
            f"the disk holding {path} is full; free some space and retry (nothing was written)"
        )
    if "readonly" in text or "unable to open" in text:
        return StorageError(
            f"cannot write the database {path} ({text}); check its permissions or set MEMCHAT_HOME"
        )
    return StorageError(f"database error in {path}: {text}")


def _merge_fts(conn: sqlite3.Connection) -> None:
    """Merge every FTS index's segments into one, which drops the terms of deleted rows (a
    delete only adds a tombstone; the folded words stay in the old segments until merged)."""
    from memory.curation.places import FTS_INDEXES

    for table in FTS_INDEXES:
        conn.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")


class Database:
    """Thread-local sqlite-utils connections to one memchat database file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._open()  # fail early, in the caller's thread, with a clear message

    # ------------------------------------------------------------------ connections
    def _connect(self) -> sqlite3.Connection:
        try:
            new = not self.path.exists()
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
                factory=RedactingConnection,
            )
            if new:
                private_file(self.path)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Deleted content is overwritten, so a forget leaves nothing in free pages.
            conn.execute("PRAGMA secure_delete = ON")
            key = str(self.path.resolve())
            with _migrate_lock:
                if key not in _migrated:
                    if migrations.PURGE in migrations.migrate(conn):
                        _merge_fts(conn)  # the purged bytes leave the files
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    _migrated.add(key)
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    side.chmod(0o600)
            return conn
        except sqlite3.Error as e:
            raise _storage_error(self.path, e) from None

    def _open(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    @property
    def db(self) -> sqlite_utils.Database:
        return self._open()

    @property
    def conn(self) -> sqlite3.Connection:
        return self._open().conn

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ queries
    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        try:
            return list(self.db.query(sql, params))
        except sqlite3.Error as e:
            raise _storage_error(self.path, e) from None

    def one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: tuple | dict = ()):
        try:
            row = self.conn.execute(sql, params).fetchone()
        except sqlite3.Error as e:
            raise _storage_error(self.path, e) from None
        return row[0] if row else None

    def by_id(self, table: str, id_or_prefix: str, profile: str, noun: str) -> dict:
        """The one row of ``table`` whose id is ``id_or_prefix`` or starts with it."""
        from memory.errors import NotFound

        ident = id_or_prefix.strip().lower()
        if len(ident) >= 32:
            rows = self.query(
                f"SELECT * FROM {table} WHERE profile = ? AND id = ?", (profile, ident)
            )
        elif ident and all(ch in "0123456789abcdef" for ch in ident):
            rows = self.query(
                f"SELECT * FROM {table} WHERE profile = ? AND id >= ? AND id < ? LIMIT 2",
                (profile, ident, ident + "g"),
            )
        else:
            rows = []
        if not rows:
            raise NotFound(f"no {noun} {id_or_prefix!r} in profile {profile!r}")
        if len(rows) > 1:
            raise NotFound(f"{noun} id prefix {id_or_prefix!r} is ambiguous; type more characters")
        return rows[0]

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. Retries BEGIN if the lock is still held after the busy timeout."""
        conn = self.conn
        if conn.in_transaction:  # nested use joins the outer transaction
            yield conn
            return
        for attempt in range(3):
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or attempt == 2:
                    raise _storage_error(self.path, e) from None
                time.sleep(0.05 * (attempt + 1))
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _storage_error(self.path, e) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ health
    def schema_version(self) -> int:
        return int(self.scalar("SELECT COALESCE(MAX(id), 0) FROM _migrations") or 0)

    def integrity(self) -> str:
        return str(self.scalar("PRAGMA quick_check"))

    def scrub(self) -> None:
        """After a forget: merge the FTS segments (``_merge_fts``) and empty the WAL.
        ``secure_delete`` zeroes the freed pages."""
        with self.tx() as conn:
            _merge_fts(conn)
        self.checkpoint()

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it (old page images go with it)."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            raise _storage_error(self.path, e) from None
