"""Browse memories for the inspector: one filtered, sorted page at a time, plus the total.

Fast at 100k memories: every page is one indexed ``SELECT ... LIMIT/OFFSET`` (the default
order, pinned then most recently changed, walks an index); free text goes through FTS5 with
AND semantics and a prefix match on the last word, so typing "mis" already finds "Miso".
The total is counted separately (:func:`count`) so the first rows never wait for it.

Filters come from the search box itself: ``cat section:facts tag:pets pinned:yes age:<7d``.
``semantic`` ranks through ``store.recall`` (hybrid vectors + BM25) instead of FTS.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from memory.models import PERSISTENCE, SECTIONS, BrowsePage, BrowseQuery, RecallFilters, now
from memory.sqlite import fts
from memory.sqlite.rows import row_to_memory

if TYPE_CHECKING:
    from memory.parts import BrowseParts

STATUSES = ("active", "pending", "deleted", "superseded", "expired", "all")
# column key -> SQL expression (ties always broken by id, so pages never overlap)
SORTS: dict[str, str] = {
    "updated": "m.updated_at",
    "created": "m.created_at",
    "section": "m.section",
    "text": "m.content COLLATE NOCASE",
    "importance": "m.importance",
    "confidence": "m.confidence",
    "used": "m.access_count",
    "last_used": "COALESCE(m.last_accessed_at, 0)",
    "expires": "COALESCE(m.expires_at, 9e18)",
}
_ALIASES = {
    "s": "section",
    "t": "tag",
    "tags": "tag",
    "e": "entity",
    "conv": "conversation",
    "c": "conversation",
    "p": "persistence",
    "is": "status",
    "pin": "pinned",
}
_AGE = re.compile(r"^([<>]?)(\d+(?:\.\d+)?)([smhdwy]?)$")
_UNIT = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def _seconds(spec: str) -> float:
    m = _AGE.match(spec.strip().lower())
    if not m:
        raise ValueError(spec)
    return float(m.group(2)) * _UNIT[m.group(3)]


def parse(text: str, base: BrowseQuery | None = None) -> BrowseQuery:
    """Split ``cat section:facts pinned:yes`` into free text and filters (unknown ones noted)."""
    b = base or BrowseQuery()
    q = BrowseQuery(
        sort=b.sort, descending=b.descending, semantic=b.semantic
    )  # filters come from the text
    try:
        tokens = shlex.split(text)
    except ValueError:  # an unclosed quote while typing
        tokens = text.replace('"', " ").split()
    words: list[str] = []
    for tok in tokens:
        if tok.startswith("#") and len(tok) > 1:
            q.tag = tok[1:].lower()
            continue
        name, sep, value = tok.partition(":")
        name = _ALIASES.get(name.lower(), name.lower())
        if (
            not sep
            or not value
            or name
            not in {
                "section",
                "tag",
                "entity",
                "pinned",
                "age",
                "persistence",
                "status",
                "conversation",
                "sort",
            }
        ):
            words.append(tok)
            continue
        value_l = value.lower()
        if name == "section":
            match = [s for s in SECTIONS if s.startswith(value_l)]
            q.section = match[0] if match else value_l
        elif name == "tag":
            q.tag = value_l
        elif name == "entity":
            q.entity = value
        elif name == "pinned":
            q.pinned = value_l in ("yes", "y", "1", "true", "on")
        elif name == "persistence":
            match = [p for p in PERSISTENCE if p.startswith(value_l)]
            q.persistence = match[0] if match else value_l
        elif name == "status":
            match = [s for s in STATUSES if s.startswith(value_l)]
            q.status = match[0] if match else "active"
        elif name == "conversation":
            q.conversation = value_l
        elif name == "sort":
            key, desc = value_l.lstrip("-+"), not value_l.startswith("+")
            if key in SORTS:
                q.sort, q.descending = key, desc
        elif name == "age":
            try:
                if value_l.startswith(">"):
                    q.older_than = _seconds(value_l[1:])
                else:
                    q.newer_than = _seconds(value_l.lstrip("<"))
            except ValueError:
                q.errors.append(f"age:{value} (try age:<7d or age:>30d)")
    q.text = " ".join(words)
    return q


def _fts_expression(text: str) -> str | None:
    """All words must match; the last one may be a prefix (search as you type)."""
    words = fts.terms(text)[:16]
    if not words:
        return None
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    if not text.rstrip().endswith(" ") and len(words[-1]) >= 2:
        quoted[-1] += "*"
    return " AND ".join(quoted)


def _where(parts: BrowseParts, q: BrowseQuery) -> tuple[list[str], list]:
    clauses: list[str] = ["m.profile = ?"]
    params: list[Any] = [parts.profile]
    t = now()
    status = q.status if q.status in STATUSES else "active"
    if status == "active":
        clauses += [
            "m.status = 'active'",
            "m.superseded_by IS NULL",
            "(m.expires_at IS NULL OR m.expires_at > ?)",
        ]
        params.append(t)
    elif status in ("pending", "deleted"):
        clauses.append("m.status = ?")
        params.append(status)
    elif status == "superseded":
        clauses += ["m.superseded_by IS NOT NULL", "m.status != 'deleted'"]
    elif status == "expired":
        clauses += ["m.status = 'active'", "m.expires_at IS NOT NULL", "m.expires_at <= ?"]
        params.append(t)
    if q.section:
        clauses.append("m.section = ?")
        params.append(q.section)
    if q.tag:
        clauses.append("m.tags LIKE ?")
        params.append(f'%"{q.tag}"%')
    if q.entity:
        clauses.append("(m.entity_id = ? OR m.entity_type = ?)")
        params += [q.entity, q.entity]
    if q.pinned is not None:
        clauses.append("m.pinned = ?")
        params.append(int(q.pinned))
    if q.persistence:
        clauses.append("m.persistence = ?")
        params.append(q.persistence)
    if q.conversation:
        clauses.append("m.source_conversation_id >= ? AND m.source_conversation_id < ?")
        params += [q.conversation, q.conversation + "\uffff"]
    if q.newer_than:
        clauses.append("m.created_at >= ?")
        params.append(t - q.newer_than)
    if q.older_than:
        clauses.append("m.created_at <= ?")
        params.append(t - q.older_than)
    return clauses, params


RANK_LIMIT = 5000  # rank text matches by relevance up to this many; beyond, newest first


def _order(q: BrowseQuery, expr: str | None, parts: BrowseParts) -> tuple[str, str]:
    """(ORDER BY clause, name of the order). With text and the automatic order: relevance
    (BM25 over every match) when there are few matches, else newest first, which FTS5
    streams in rowid order and stops after one page (~1 ms even when everything matches)."""
    direction = "DESC" if q.descending else "ASC"
    sort = q.sort
    if sort == "auto":
        if not expr:
            sort = "updated"
        else:
            n = parts.db.scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? "
                "LIMIT ?)",
                (expr, RANK_LIMIT + 1),
            )
            if int(n or 0) > RANK_LIMIT:
                return "memories_fts.rowid DESC", "newest"
            sort = "score"
    if sort == "score":
        if expr:
            return f"_score {direction}, m.id", "score"
        sort = "updated"
    return f"{SORTS.get(sort, SORTS['updated'])} {direction}, m.id {direction}", sort


def page(parts: BrowseParts, q: BrowseQuery, *, offset: int = 0, limit: int = 200) -> BrowsePage:
    """One page of memories matching ``q`` in its sort order."""
    if q.text and q.semantic and fts.terms(q.text):
        return _semantic_page(parts, q, offset, limit)
    clauses, params = _where(parts, q)
    expr = _fts_expression(q.text) if q.text else None
    order, name = _order(q, expr, parts)
    if expr:
        score = "-bm25(memories_fts, 4.0, 2.0, 2.0, 1.0, 1.0)" if name == "score" else "0.0"
        sql = (
            f"SELECT m.*, {score} AS _score FROM memories_fts "
            "JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND {' AND '.join(clauses)} "
            f"ORDER BY {order} LIMIT ? OFFSET ?"
        )
        rows = parts.db.query(sql, (expr, *params, limit, offset))
        scores = {r["id"]: float(r["_score"]) for r in rows} if name == "score" else {}
        return BrowsePage([row_to_memory(r) for r in rows], offset, scores, name)
    sql = f"SELECT m.* FROM memories m WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ? OFFSET ?"
    return BrowsePage(
        [row_to_memory(r) for r in parts.db.query(sql, (*params, limit, offset))],
        offset,
        order=name,
    )


def count(parts: BrowseParts, q: BrowseQuery) -> int:
    """How many memories match ``q`` (all of them, not one page)."""
    if q.text and q.semantic and fts.terms(q.text):
        return len(_semantic_hits(parts, q))
    clauses, params = _where(parts, q)
    expr = _fts_expression(q.text) if q.text else None
    if expr:
        return int(
            parts.db.scalar(
                "SELECT COUNT(*) FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
                f"WHERE memories_fts MATCH ? AND {' AND '.join(clauses)}",
                (expr, *params),
            )
            or 0
        )
    return int(
        parts.db.scalar(
            f"SELECT COUNT(*) FROM memories m WHERE {' AND '.join(clauses)}", tuple(params)
        )
        or 0
    )


def matching_ids(parts: BrowseParts, q: BrowseQuery) -> list[str]:
    """Every id matching ``q`` (for "mark all matching the filter")."""
    if q.text and q.semantic and fts.terms(q.text):
        return [h.id for h in _semantic_hits(parts, q)]
    clauses, params = _where(parts, q)
    expr = _fts_expression(q.text) if q.text else None
    if expr:
        rows = parts.db.conn.execute(
            "SELECT m.id FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid "
            f"WHERE memories_fts MATCH ? AND {' AND '.join(clauses)}",
            (expr, *params),
        ).fetchall()
    else:
        rows = parts.db.conn.execute(
            f"SELECT m.id FROM memories m WHERE {' AND '.join(clauses)}", params
        ).fetchall()
    return [r[0] for r in rows]


SEMANTIC_LIMIT = 200


def _semantic_hits(parts: BrowseParts, q: BrowseQuery):
    filters = RecallFilters(
        sections=[q.section] if q.section else None,
        tags=[q.tag] if q.tag else None,
        entity_id=q.entity,
        include_messages=False,
        since=now() - q.newer_than if q.newer_than else None,
        until=now() - q.older_than if q.older_than else None,
    )
    hits = parts.recall(q.text, limit=SEMANTIC_LIMIT, token_budget=None, filters=filters)
    keep = []
    for h in hits:
        m = h.memory
        if h.kind != "memory" or m is None:
            continue
        if q.pinned is not None and m.pinned != q.pinned:
            continue
        if q.persistence and m.persistence != q.persistence:
            continue
        if q.conversation and not (m.source_conversation_id or "").startswith(q.conversation):
            continue
        keep.append(h)
    return keep


def _semantic_page(parts: BrowseParts, q: BrowseQuery, offset: int, limit: int) -> BrowsePage:
    hits = _semantic_hits(parts, q)[offset : offset + limit]
    return BrowsePage([h.memory for h in hits], offset, {h.id: h.score for h in hits})


def change_marker(parts: BrowseParts) -> tuple[int, int]:
    """Cheap to read every second: the profile's memory generation (every write to its
    memories moves it on, migration 13's triggers) and the newest history entry."""
    hist = parts.db.scalar("SELECT COALESCE(MAX(id), 0) FROM memory_history")
    return parts.memories.generation(parts.profile), int(hist or 0)


__all__ = [
    "SORTS",
    "STATUSES",
    "BrowsePage",
    "BrowseQuery",
    "change_marker",
    "count",
    "matching_ids",
    "page",
    "parse",
]


# ------------------------------------------------------------------------------ stats
def growth_by_day(parts: BrowseParts, days: int = 14) -> list[tuple[str, int]]:
    """Memories created per local day over the last ``days`` days (oldest first, zeros kept)."""
    from datetime import date, timedelta

    since = now() - days * 86400
    rows = parts.db.query(
        "SELECT date(created_at, 'unixepoch', 'localtime') AS d, COUNT(*) AS n FROM memories "
        "WHERE profile = ? AND created_at >= ? GROUP BY d",
        (parts.profile, since),
    )
    got = {r["d"]: r["n"] for r in rows}
    today = date.today()
    return [
        (d, got.get(d, 0))
        for d in ((today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1))
    ]


def prompt_memory_tokens(parts: BrowseParts, last: int = 200) -> dict[str, float]:
    """Memory tokens per prompt over the last ``last`` replies: count, mean, p95, max, share."""
    rows = parts.db.query(
        "SELECT memory_tokens, prompt_tokens FROM messages WHERE profile = ? AND role = 'assistant' "
        "AND memory_tokens IS NOT NULL ORDER BY created_at DESC LIMIT ?",
        (parts.profile, last),
    )
    if not rows:
        return {"replies": 0}
    toks = sorted(int(r["memory_tokens"]) for r in rows)
    prompts = sum(int(r["prompt_tokens"] or 0) for r in rows)
    return {
        "replies": len(toks),
        "mean": sum(toks) / len(toks),
        "p95": toks[int(0.95 * (len(toks) - 1))],
        "max": toks[-1],
        "share": sum(toks) / prompts if prompts else 0.0,
    }


def status_counts(parts: BrowseParts) -> dict[str, int]:
    rows = parts.db.query(
        "SELECT CASE WHEN superseded_by IS NOT NULL AND status != 'deleted' THEN 'superseded' ELSE status END AS s, "
        "COUNT(*) AS n FROM memories WHERE profile = ? GROUP BY s",
        (parts.profile,),
    )
    return {r["s"]: r["n"] for r in rows}


def vector_expected(parts: BrowseParts) -> int:
    """What the vector tier should hold for the profile (``memory.vectors.indexer.expected_count``,
    the one place it is computed)."""
    from memory.vectors.indexer import expected_count

    return expected_count(parts.db, parts.memories, parts.profile)
