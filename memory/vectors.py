"""Chroma vector index: one cosine collection per profile, vectors computed by our Embedder.

- Embedded (``chromadb.PersistentClient``) by default, or a Chroma server when ``url`` is set.
- The client is created lazily on first use; chromadb (~1 s to import) is imported lazily too.
- Collections are created with ``embedding_function=None``: we always pass embeddings.
- No ``where`` filters here: a metadata filter makes a 100k-vector query ~40x slower, so
  callers over-fetch with ``query`` and filter in Python against SQLite.
- A missing collection reads as empty: ``query`` -> [], ``count`` -> 0, ``ids`` -> set().
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from memory.secrets import redact

if TYPE_CHECKING:  # pragma: no cover
    from memory.embedder import Embedder

COLLECTION_PREFIX = "memchat-"
UPSERT_CHUNK = 256  # items per Chroma call: chromadb holds the GIL while it writes
EMBED_BATCH = 16  # with ~256 texts per call: less padding than 32 (measured -3% CPU)
_PAGE = 5000
_NAME_MAX = 63  # Chroma's Rust validator allows 512; 63 also satisfies older servers.


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
    ) -> None:
        if path is None and not url:
            raise ValueError("VectorIndex needs a path (embedded Chroma) or a url (Chroma server)")
        self.path = Path(path) if path is not None else None
        self.url = url or None
        self.embedder = embedder
        self._lock = threading.RLock()
        self._client: Any = None
        self._collections: dict[str, Any] = {}

    def __repr__(self) -> str:
        where = self.url or str(self.path)
        return f"VectorIndex({where!r}, model={self.embedder.name!r})"

    # ------------------------------------------------------------------ client & collections
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

            private_dir(self.path)
        return chromadb.PersistentClient(path=str(self.path), settings=settings)

    def _metadata(self) -> dict[str, Any]:
        return {
            "hnsw:space": "cosine",
            "embedding_model": self.embedder.name,
            "dim": int(self.embedder.dim),
        }

    def _collection(self, profile: str, *, create: bool) -> Any | None:
        """The profile's collection (cached), created when ``create``; None if missing."""
        col = self._collections.get(profile)
        if col is not None:
            return col
        from chromadb.errors import NotFoundError

        with self._lock:
            col = self._collections.get(profile)
            if col is not None:
                return col
            name = collection_name(profile)
            if create:
                col = self.client.get_or_create_collection(
                    name, metadata=self._metadata(), embedding_function=None
                )
            else:
                try:
                    col = self.client.get_collection(name, embedding_function=None)
                except (NotFoundError, ValueError):
                    return None
            self._collections[profile] = col
            return col

    def _call(self, profile: str, fn, *, create: bool = False, default: Any = None) -> Any:
        """Run ``fn(collection)``; on a stale handle (collection dropped elsewhere) retry once."""
        from chromadb.errors import NotFoundError

        for attempt in (0, 1):
            col = self._collection(profile, create=create)
            if col is None:
                return default
            try:
                return fn(col)
            except NotFoundError:
                with self._lock:
                    self._collections.pop(profile, None)
                if attempt:
                    raise
        return default  # pragma: no cover

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
    ) -> None:
        """Upsert precomputed vectors (e.g. from ``embed_items``)."""
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
            self._call(profile, lambda col, kw=kwargs: col.upsert(**kw), create=True)

    def delete(self, profile: str, ids: Iterable[str]) -> None:
        """Delete ids from the profile's collection; unknown ids and missing collections are fine."""
        ids = [str(i) for i in ids]
        for start in range(0, len(ids), UPSERT_CHUNK):
            chunk = ids[start : start + UPSERT_CHUNK]
            self._call(profile, lambda col, c=chunk: col.delete(ids=c))

    def reset(self, profile: str) -> None:
        """Drop the profile's collection (it is re-created, empty, on the next upsert)."""
        from chromadb.errors import NotFoundError

        with self._lock:
            self._collections.pop(profile, None)
            try:
                self.client.delete_collection(collection_name(profile))
            except (NotFoundError, ValueError):
                pass

    # ------------------------------------------------------------------ reads
    def count(self, profile: str) -> int:
        return int(self._call(profile, lambda col: col.count(), default=0))

    def ids(self, profile: str) -> set[str]:
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

        return self._call(profile, page_all, default=set())

    def query(self, profile: str, text: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest ids to ``text`` as (id, cosine similarity), best first."""
        vector = self.embed_query(profile, text) if k > 0 else None
        return [] if vector is None else self.query_vector(profile, vector, k)

    def embed_query(self, profile: str, text: str) -> np.ndarray | None:
        """``text``'s vector for ``query_vector``/``similarities``, or None when the profile has
        no vectors to compare it with (count is ~0.3 ms; embedding a few ms)."""
        return self.embedder.embed_one(text) if self.count(profile) else None

    def query_vector(
        self, profile: str, vector: np.ndarray | Sequence[float], k: int
    ) -> list[tuple[str, float]]:
        """Like ``query`` with a precomputed (unit-norm) vector."""
        if k <= 0:
            return []
        vec = np.asarray(vector, dtype=np.float32).reshape(1, -1)

        def run(col: Any) -> list[tuple[str, float]]:
            # n_results above the collection size is fine (fewer come back; empty -> []).
            res = col.query(query_embeddings=vec, n_results=int(k), include=["distances"])
            ids = (res.get("ids") or [[]])[0]
            dists = (res.get("distances") or [[]])[0]
            hits = [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=False)]
            hits.sort(key=lambda h: h[1], reverse=True)
            return hits

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

    def model_mismatch(self, profile: str) -> bool:
        """True when the stored collection was built with another model or dimension."""
        col = self._collection(profile, create=False)
        if col is None:
            return False
        meta = col.metadata or {}
        return meta.get("embedding_model") != self.embedder.name or meta.get("dim") != int(
            self.embedder.dim
        )

    def close(self) -> None:
        """Forget cached handles (the chromadb client has no explicit close)."""
        with self._lock:
            self._collections.clear()
            self._client = None
