"""Chroma vector index: one cosine collection per profile, vectors computed by our Embedder.

- Embedded (``chromadb.PersistentClient``) by default, or a Chroma server when ``url`` is set.
- **One process at a time.** Chroma 1.x's embedded client is not safe for several writing
  processes (two concurrent imports broke the HNSW segment in 6 of 6 runs), and memchat runs
  several by design (chat app, worker, CLI). Every Chroma call -- writes and reads, since a
  read also applies Chroma's pending log to its in-memory HNSW index -- runs under an
  exclusive ``flock`` on ``<chroma dir>.lock``, one call (at most ``UPSERT_CHUNK`` items) at a
  time, so the lock is never held for long. Each process also keeps its own in-memory copy of
  the HNSW index, which goes stale when another process writes: the lock file holds a write
  generation, bumped by every write; a process that finds it changed drops its client and
  reopens the index from disk before touching it (~0.2 s at 3,000 vectors). With a Chroma
  server (``url``) the server serializes writes and none of this applies.
- **Which collection is live** is recorded in SQLite (``memory.vectors.state``), not implied by
  the name: a rebuild fills a new collection and switches the pointer when it is complete
  (``activate``), so a killed rebuild leaves the previous index serving recall. Collections
  that are no longer live are dropped by ``drop_collections``, which also deletes the segment
  folders Chroma leaves on disk after ``delete_collection`` (Chroma 1.5.9 keeps them).
- The client is created lazily on first use; chromadb (~1 s to import) is imported lazily too.
- Collections are created with ``embedding_function=None``: we always pass embeddings.
- No ``where`` filters here: a metadata filter makes a 100k-vector query ~40x slower, so
  callers over-fetch with ``query`` and filter in Python against SQLite.
- A missing collection reads as empty: ``query`` -> [], ``count`` -> 0, ``ids`` -> set().
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from memory.secrets import redact

if TYPE_CHECKING:  # pragma: no cover
    from memory.vectors.embedder import Embedder
    from memory.vectors.state import VectorStates

COLLECTION_PREFIX = "memchat-"
UPSERT_CHUNK = 256  # items per Chroma call: chromadb holds the GIL while it writes
EMBED_BATCH = 16  # with ~256 texts per call: less padding than 32 (measured -3% CPU)
_PAGE = 5000
SEARCH_FLOOR = 50  # neighbours searched at least, however few are wanted (see query_vector)
log = logging.getLogger("memchat.vectors")
_NAME_MAX = 63  # Chroma's Rust validator allows 512; 63 also satisfies older servers.
# The write generation this process's chromadb system (one per path) was loaded at.
_SYSTEM_GEN: dict[str, int] = {}
_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def collection_name(profile: str) -> str:
    """``memchat-<profile>`` made valid for Chroma (3-63 chars of [a-zA-Z0-9._-], alnum ends,
    no ".."). Names that had to change get a short hash so distinct profiles never collide."""
    raw = f"{COLLECTION_PREFIX}{profile}"
    name = re.sub(r"[^a-zA-Z0-9._-]", "_", raw)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.rstrip("._-")
    if name != raw or len(name) > _NAME_MAX:
        digest = hashlib.sha1(profile.encode("utf-8")).hexdigest()[:10]
        name = f"{name[: _NAME_MAX - len(digest) - 1].rstrip('._-')}-{digest}"
    return name


def build_name(profile: str) -> str:
    """A fresh collection name for a rebuild of ``profile``: its base name plus a random tag."""
    tag = uuid.uuid4().hex[:8]
    base = collection_name(profile)[: _NAME_MAX - len(tag) - 1].rstrip("._-")
    return f"{base}-{tag}"


class ProcessLock:
    """An exclusive ``flock`` shared by every memchat process, re-entrant within one process,
    plus a write generation kept in the lock file itself (8 bytes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tlock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> ProcessLock:
        self._tlock.acquire()
        try:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                if os.fstat(fd).st_size < 8:  # room for the generation, taken while there is
                    os.pwrite(fd, bytes(8), 0)  # space (overwriting it later needs none)
                self._fd = fd
            self._depth += 1
        except BaseException:
            self._tlock.release()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                finally:
                    os.close(fd)
        finally:
            self._tlock.release()

    def generation(self) -> int:
        assert self._fd is not None, "read the generation while holding the lock"
        raw = os.pread(self._fd, 8, 0)
        return int.from_bytes(raw, "little") if len(raw) == 8 else 0

    def bump(self) -> int:
        gen = self.generation() + 1
        assert self._fd is not None
        os.pwrite(self._fd, gen.to_bytes(8, "little"), 0)
        return gen


def chroma_lock(path: Path) -> ProcessLock:
    """The lock every process takes around calls to the embedded Chroma at ``path``
    (``<path>.lock`` beside the folder, so a backup or restore of the folder leaves it)."""
    path = Path(path)
    return ProcessLock(path.with_name(path.name + ".lock"))


def clean_metadata(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata Chroma accepts: str/int/float/bool values; None dropped, lists joined with ",".
    Every text is redacted: this is the one way metadata reaches Chroma (see memory.secrets)."""
    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        if value is None:
            continue
        if isinstance(value, (bool, int, float)):
            out[redact(str(key))] = value
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[redact(str(key))] = redact(",".join(str(v) for v in value if v is not None))
        else:
            out[redact(str(key))] = redact(str(value))
    return out or None  # Chroma rejects an empty dict


def _fresh_pages_for_large_allocations() -> None:
    """Keep bytes this process freed earlier out of Chroma's files (glibc only, best effort).

    hnswlib preallocates its level-0 buffer with ``malloc`` for a whole capacity and writes
    all of it, the unused tail included, to ``data_level0.bin``. glibc serves a large
    ``malloc`` from freed heap memory once its dynamic mmap threshold has risen (it does
    after a big buffer is freed: a file read, an embedding batch), so whatever text that
    memory last held (a SQLite page, a forgotten memory) could be written into the index
    file. A fixed threshold keeps every allocation of 128 KiB or more a fresh, zero-filled
    mapping; the level-0 buffer (100 elements of ~1.7 KB at least) always is one."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD; setting it disables the dynamic one
    except (OSError, AttributeError):
        pass  # not glibc (musl has no mallopt): nothing to tune


def _parse_url(url: str) -> dict[str, Any]:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    ssl = parsed.scheme == "https"
    return {
        "host": parsed.hostname or "localhost",
        "port": parsed.port or (443 if ssl else 8000),
        "ssl": ssl,
    }


class VectorIndex:
    """Per-profile vector search over Chroma. Thread-safe; nothing connects until first use."""

    def __init__(
        self,
        *,
        path: Path | str | None = None,
        url: str | None = None,
        embedder: Embedder,
        states: VectorStates | None = None,
    ) -> None:
        if path is None and not url:
            raise ValueError("VectorIndex needs a path (embedded Chroma) or a url (Chroma server)")
        self.path = Path(path) if path is not None else None
        self.url = url or None
        self.embedder = embedder
        self.states = states  # which collection is live per profile (None: the base name)
        self._lock = threading.RLock()
        self._client: Any = None
        self._collections: dict[str, Any] = {}  # by collection name
        self._names: dict[str, str] = {}  # profile -> live collection name
        self.process_lock: ProcessLock | None = None
        if self.path is not None and not self.url:
            self.process_lock = chroma_lock(self.path)
        self._seen_gen: int | None = None
        self.undroppable: list[str] = []  # collections the last drop_collections could not delete
        # Profiles seen holding vectors: a recall then embeds its query without asking Chroma
        # to count (a count is ~6 ms at 100k vectors). Once wrong (all deleted since), a query
        # just finds nothing, after an embedding of ~1.5 ms with the model already loaded.
        self._not_empty: set[str] = set()

    def __repr__(self) -> str:
        where = self.url or str(self.path)
        return f"VectorIndex({where!r}, model={self.embedder.name!r})"

    # ------------------------------------------------------------------ client & locking
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False)
        if self.url:
            return chromadb.HttpClient(**_parse_url(self.url), settings=settings)
        assert self.path is not None
        _fresh_pages_for_large_allocations()
        if (
            not self.path.exists()
        ):  # owner-only; the files in it follow the umask (fsutil.open_data_dir)
            from memory.fsutil import private_dir

            private_dir(self.path, own=True)
        return chromadb.PersistentClient(path=str(self.path), settings=settings)

    def _drop_client(self, *, stop: bool = False) -> None:
        """Forget cached handles and the client, so the next call reopens from disk.

        chromadb shares one "system" (with the in-memory HNSW copy) between every client of
        a path in a process and only stops it when the last client closes: another store in
        this process would keep the stale copy alive. So with ``stop`` the shared system
        itself is stopped (the process-wide generation tells other indexes to reopen)."""
        self._collections.clear()
        self._names.clear()
        client, self._client = self._client, None
        if not stop or self.url or self.path is None:
            return
        try:
            from chromadb.api.shared_system_client import SharedSystemClient

            ident = str(self.path)
            system = SharedSystemClient._identifier_to_system.pop(ident, None)
            SharedSystemClient._identifier_to_refcount.pop(ident, None)
            if system is not None:
                system.stop()
        except Exception:  # noqa: BLE001 - chromadb internals moved: fall back to close()
            try:
                if client is not None:
                    client.close()
            except Exception:  # noqa: BLE001 - a stale client is dropped either way
                pass

    @contextmanager
    def _guard(self, *, write: bool) -> Iterator[None]:
        """Run one Chroma call as the only process touching the index (see the module doc)."""
        plock = self.process_lock
        if plock is None:  # a Chroma server serializes its own writes
            with self._lock:
                yield
            return
        key = str(self.path)
        with self._lock, plock:
            gen = plock.generation()
            seen = _SYSTEM_GEN.get(key)
            if seen is not None and gen != seen:
                self._drop_client(stop=True)  # another process wrote: our HNSW copy is stale
            elif self._seen_gen is not None and gen != self._seen_gen:
                self._drop_client(stop=False)  # another index of this process reopened it
            _SYSTEM_GEN[key] = self._seen_gen = gen
            try:
                yield
            finally:
                if write:
                    _SYSTEM_GEN[key] = self._seen_gen = plock.bump()

    # ------------------------------------------------------------------ collections
    def _metadata(self) -> dict[str, Any]:
        return {
            "hnsw:space": "cosine",
            "embedding_model": self.embedder.name,
            "dim": int(self.embedder.dim),
        }

    def active_name(self, profile: str) -> str:
        """The name of the collection serving ``profile`` (recorded in SQLite)."""
        name = self._names.get(profile)
        if name is None:
            name = self.states.get(profile).active if self.states else collection_name(profile)
            self._names[profile] = name
        return name

    def _get(self, name: str, *, create: bool) -> Any | None:
        """The named collection (cached), created when ``create``; None if missing."""
        col = self._collections.get(name)
        if col is not None:
            return col
        from chromadb.errors import NotFoundError

        if create:
            col = self.client.get_or_create_collection(
                name, metadata=self._metadata(), embedding_function=None
            )
        else:
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except (NotFoundError, ValueError):
                return None
        self._collections[name] = col
        return col

    def _call(
        self,
        profile: str,
        fn,
        *,
        create: bool = False,
        default: Any = None,
        write: bool = False,
        collection: str | None = None,
    ) -> Any:
        """Run ``fn(collection)`` under the guard; on a stale handle (collection dropped or
        switched elsewhere) look the live collection up again and retry once."""
        from chromadb.errors import NotFoundError

        for attempt in (0, 1):
            with self._guard(write=write):
                name = collection or self.active_name(profile)
                col = self._get(name, create=create)
                if col is None:
                    return default
                try:
                    return fn(col)
                except NotFoundError:
                    self._collections.pop(name, None)
                    self._names.pop(profile, None)
                    if attempt:
                        raise
        return default  # pragma: no cover

    def create_collection(self, name: str) -> None:
        """Create an (empty) collection for a rebuild, or keep the existing one."""
        with self._guard(write=True):
            self._get(name, create=True)

    def collection_exists(self, name: str) -> bool:
        with self._guard(write=False):
            return self._get(name, create=False) is not None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the index against every other process (and thread) for a few calls that must
        not interleave with a rebuild's start or switch; counts as a write."""
        with self._guard(write=True):
            yield

    def activate(self, profile: str, commit: Callable[[], None]) -> None:
        """Make a rebuilt collection live: ``commit`` records it in SQLite while no process
        touches Chroma; every process looks the live collection up again afterwards."""
        with self._guard(write=True):
            commit()
            self._names.pop(profile, None)

    def drop_collections(self, names: Iterable[str]) -> int:
        """Delete collections (missing ones are fine) and the segment folders Chroma leaves
        behind; returns how many segment folders were removed."""
        from chromadb.errors import NotFoundError

        self.undroppable = []
        with self._guard(write=True):
            for name in names:
                self._collections.pop(name, None)
                try:
                    self.client.delete_collection(name)
                except (NotFoundError, ValueError):
                    pass
                except Exception as e:  # noqa: BLE001 - e.g. a broken segment: retried later
                    log.warning("could not delete vector collection %s: %s", name, e)
                    self.undroppable.append(name)
            return self._sweep_segments()

    def _sweep_segments(self) -> int:
        """Remove segment folders that chroma.sqlite3 no longer lists (call under the guard)."""
        if self.url or self.path is None or not (self.path / "chroma.sqlite3").exists():
            return 0
        db = sqlite3.connect(f"file:{self.path / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=15)
        try:
            known = {str(r[0]) for r in db.execute("SELECT id FROM segments")}
        except sqlite3.Error:
            return 0  # not the layout we know: leave the folder alone
        finally:
            db.close()
        removed = 0
        for child in self.path.iterdir():
            if child.is_dir() and _SEGMENT_DIR.fullmatch(child.name) and child.name not in known:
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
        return removed

    # ------------------------------------------------------------------ writes
    def upsert(self, profile: str, items: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        """Embed and upsert ``(id, text, metadata)`` items; returns how many were written.

        Duplicate ids within one call keep the last item. No documents are stored: SQLite
        is the one place text lives, so a forget has one place to reach.
        """
        ids, vectors, metas = self.embed_items(items)
        self.upsert_vectors(profile, ids, vectors, metas)
        return len(ids)

    def embed_items(
        self, items: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> tuple[list[str], np.ndarray, list[dict[str, Any] | None]]:
        """Embed ``(id, text, metadata)`` items for ``upsert_vectors`` (the slow half of
        ``upsert``, so a caller can embed the next batch while this one is written).
        Duplicate ids keep the last item."""
        latest: dict[str, tuple[str, dict[str, Any] | None]] = {}
        for item_id, text, meta in items:
            latest[str(item_id)] = (text or "", meta)
        ids = list(latest)
        vectors = self.embedder.embed([latest[i][0] for i in ids], batch_size=EMBED_BATCH)
        return ids, vectors, [latest[i][1] for i in ids]

    def upsert_vectors(
        self,
        profile: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict[str, Any] | None] | None = None,
        documents: Sequence[str] | None = None,
        *,
        collection: str | None = None,
    ) -> None:
        """Upsert precomputed vectors (e.g. from ``embed_items``) into the profile's live
        collection, or into ``collection`` (a rebuild). The lock is taken per chunk."""
        ids = [str(i) for i in ids]
        if not ids:
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        metas = [clean_metadata(m) for m in metadatas] if metadatas is not None else None
        docs = list(documents) if documents is not None else None
        for start in range(0, len(ids), UPSERT_CHUNK):
            sl = slice(start, start + UPSERT_CHUNK)
            kwargs: dict[str, Any] = {"ids": ids[sl], "embeddings": vectors[sl]}
            if metas is not None:
                kwargs["metadatas"] = metas[sl]
            if docs is not None:
                kwargs["documents"] = docs[sl]
            self._call(
                profile,
                lambda col, kw=kwargs: col.upsert(**kw),
                create=True,
                write=True,
                collection=collection,
            )

    def delete(self, profile: str, ids: Iterable[str]) -> None:
        """Delete ids from the profile's collection; unknown ids and missing collections are fine."""
        ids = [str(i) for i in ids]
        for start in range(0, len(ids), UPSERT_CHUNK):
            chunk = ids[start : start + UPSERT_CHUNK]
            self._call(profile, lambda col, c=chunk: col.delete(ids=c), write=True)

    def reset(self, profile: str) -> None:
        """Drop every collection of the profile (live, being rebuilt, left over) and its
        record; the base collection is created, empty, on the next upsert."""
        names = {self.active_name(profile), collection_name(profile)}
        if self.states is not None:
            st = self.states.get(profile)
            names |= {n for n in (st.active, st.building, *st.old) if n}
            with self._guard(write=True):
                self.states.clear(profile)
                self._names.pop(profile, None)
        self.drop_collections(sorted(names))

    # ------------------------------------------------------------------ reads
    def count(self, profile: str, *, collection: str | None = None) -> int:
        return int(self._call(profile, lambda col: col.count(), default=0, collection=collection))

    def ids(self, profile: str, *, collection: str | None = None) -> set[str]:
        """Every id stored for the profile (paged, ids only)."""

        def page_all(col: Any) -> set[str]:
            found: set[str] = set()
            offset = 0
            while True:
                got = col.get(include=[], limit=_PAGE, offset=offset)["ids"]
                found.update(got)
                if len(got) < _PAGE:
                    return found
                offset += len(got)

        return self._call(profile, page_all, default=set(), collection=collection)

    def query(self, profile: str, text: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest ids to ``text`` as (id, cosine similarity), best first."""
        vector = self.embed_query(profile, text) if k > 0 else None
        return [] if vector is None else self.query_vector(profile, vector, k)

    def embed_query(self, profile: str, text: str) -> np.ndarray | None:
        """``text``'s vector for ``query_vector``/``similarities``, or None when the profile has
        no vectors to compare it with (embedding takes ~1.5 ms; see ``_not_empty``)."""
        if profile not in self._not_empty:
            if not self.count(profile):
                return None  # nothing to compare with: the model need not even load
            self._not_empty.add(profile)
        return self.embedder.embed_one(text)

    def query_vector(
        self, profile: str, vector: np.ndarray | Sequence[float], k: int
    ) -> list[tuple[str, float]]:
        """Like ``query`` with a precomputed (unit-norm) vector.

        At least ``SEARCH_FLOOR`` neighbours are searched and the best ``k`` kept: HNSW's
        search width is max(ef_search, n_results) and Chroma's ef_search is 10, too narrow
        to find a lone outlier among hundreds of look-alike notes (an exact text was seen
        missing from a 5-nearest search of 701 vectors)."""
        if k <= 0:
            return []
        vec = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        wide = max(int(k), SEARCH_FLOOR)

        def run(col: Any) -> list[tuple[str, float]]:
            # n_results above the collection size is fine (fewer come back; empty -> []).
            res = col.query(query_embeddings=vec, n_results=wide, include=["distances"])
            ids = (res.get("ids") or [[]])[0]
            dists = (res.get("distances") or [[]])[0]
            hits = [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=False)]
            hits.sort(key=lambda h: h[1], reverse=True)
            return hits[: int(k)]

        return self._call(profile, run, default=[])

    def similarities(
        self, profile: str, vector: np.ndarray, ids: Sequence[str]
    ) -> list[tuple[str, float]]:
        """Cosine similarity of ``vector`` to each stored id of ``ids`` (missing ids are left
        out), best first: an exact search over a small known set, such as one day's turns."""
        if not ids:
            return []

        def run(col: Any) -> list[tuple[str, float]]:
            got = col.get(ids=list(ids), include=["embeddings"])
            found = got.get("ids") or []
            if not len(found):
                return []
            sims = np.asarray(got["embeddings"], dtype=np.float32) @ np.asarray(vector, np.float32)
            return sorted(zip(found, sims.tolist(), strict=True), key=lambda h: h[1], reverse=True)

        return self._call(profile, run, default=[])

    def vectors(self, profile: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored (unit-norm) vectors of ``ids``, by id; ids not in the index are left out
        (the review queue compares memories by meaning with these, without re-embedding)."""
        if not ids:
            return {}

        def run(col: Any) -> dict[str, np.ndarray]:
            got = col.get(ids=list(ids), include=["embeddings"])
            found = got.get("ids") or []
            if not len(found):
                return {}
            vecs = np.asarray(got["embeddings"], dtype=np.float32)
            return dict(zip(found, vecs, strict=True))

        return self._call(profile, run, default={})

    def model_mismatch(self, profile: str, *, collection: str | None = None) -> bool:
        """True when the stored collection was built with another model or dimension."""

        def check(col: Any) -> bool:
            meta = col.metadata or {}
            return meta.get("embedding_model") != self.embedder.name or meta.get("dim") != int(
                self.embedder.dim
            )

        return bool(self._call(profile, check, default=False, collection=collection))

    def close(self) -> None:
        """Forget cached handles and the client."""
        with self._lock:
            self._drop_client()
