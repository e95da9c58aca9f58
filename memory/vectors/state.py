"""Which Chroma collection serves each profile, and the rebuild in progress, kept in SQLite.

A rebuild (``memory.vectors.indexer.reindex``) fills a *new* collection and switches the pointer here
when it is complete, so a rebuild that is killed half-way leaves the previous collection
serving recall and a visible "rebuild incomplete" record (``building``) that ``doctor``
reports and the worker finishes. Collections replaced by a rebuild are listed in ``old``
until they (and their folders) are deleted.

Stored as one JSON row per profile in the ``kv`` table under the reserved profile ``""``
(no real profile is empty), so clearing a profile's short-term rows never loses the pointer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from memory.models import now

_OWNER = ""  # kv rows of this module; no profile is named ""
_PREFIX = "vectors:"


@dataclass
class IndexState:
    active: str  # the collection recall reads
    building: str | None = None  # a rebuild that has not been switched in yet
    started_at: float | None = None  # when that rebuild began
    high: int = 0  # the profile's last index_outbox id when it began (the rebuild covers them)
    old: list[str] = field(default_factory=list)  # replaced collections still to delete


class VectorStates:
    """The repository of ``IndexState`` rows (memory-internal)."""

    def __init__(self, db) -> None:
        self.db = db

    def get(self, profile: str) -> IndexState:
        from memory.vectors.index import collection_name

        row = self.db.one(
            "SELECT value FROM kv WHERE profile = ? AND key = ?", (_OWNER, _PREFIX + profile)
        )
        if row is None:
            return IndexState(active=collection_name(profile))
        data = json.loads(row["value"])
        return IndexState(**{k: v for k, v in data.items() if k in IndexState.__dataclass_fields__})

    def put(self, profile: str, state: IndexState, conn=None) -> None:
        sql = (
            "INSERT OR REPLACE INTO kv (profile, key, value, expires_at, updated_at) "
            "VALUES (?, ?, ?, NULL, ?)"
        )
        params = (_OWNER, _PREFIX + profile, json.dumps(asdict(state)), now())
        if conn is not None:
            conn.execute(sql, params)
            return
        with self.db.tx() as c:
            c.execute(sql, params)

    def clear(self, profile: str) -> None:
        with self.db.tx() as c:
            c.execute("DELETE FROM kv WHERE profile = ? AND key = ?", (_OWNER, _PREFIX + profile))

    def building(self) -> list[str]:
        """Profiles with a rebuild recorded and not switched in."""
        rows = self.db.query(
            "SELECT key, value FROM kv WHERE profile = ? AND key LIKE ?", (_OWNER, _PREFIX + "%")
        )
        return sorted(
            r["key"][len(_PREFIX) :] for r in rows if json.loads(r["value"]).get("building")
        )


__all__ = ["IndexState", "VectorStates"]
