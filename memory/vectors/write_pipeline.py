"""Writes to the vector tier on one background thread while the caller embeds the next batch.

Used by memory.vectors.indexer (outbox replay and reindex): embedding is the slow half of indexing
and releases the GIL, Chroma's write holds it, so overlapping the two keeps both cores busy.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class WritePipeline:
    """Chroma writes run on one background thread, at most one batch in flight, in order,
    while the caller embeds the next batch. ``then(result)`` runs on the caller's thread
    (SQLite bookkeeping stays there) once the write is done; a failed write calls
    ``failed(error)`` instead, or raises from ``finish``/``submit`` when there is none."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Future, Callable, Callable | None] | None = None

    def submit(self, write: Callable[[], Any], then: Callable, failed: Callable | None = None):
        self.finish()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="index-write")
        self._pending = (self._pool.submit(write), then, failed)

    def finish(self) -> None:
        if self._pending is None:
            return
        fut, then, failed = self._pending
        self._pending = None
        try:
            result = fut.result()
        except Exception as e:
            if failed is None:
                raise
            failed(e)
            return
        then(result)

    def __enter__(self) -> WritePipeline:
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        try:
            if exc_type is None:
                self.finish()
            elif self._pending is not None:  # let the write land, report the first error
                self._pending[0].exception()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


__all__ = ["WritePipeline"]
