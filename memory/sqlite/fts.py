"""Turn free text into a safe FTS5 query: quoted terms joined by OR, stop words dropped."""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell know remember anything
    something thing things did does doing said say like really also get got""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


def terms(text: str) -> list[str]:
    """Content words of ``text`` in order, lower-cased, without duplicates."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        if w not in STOP_WORDS and (len(w) > 1 or w.isdigit()):
            seen.setdefault(w, None)
    return list(seen)


def match_expression(text: str, max_terms: int = 32) -> str | None:
    """An FTS5 MATCH string for ``text`` or None when it has no searchable words."""
    words = terms(text)[:max_terms]
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


# A term found in more rows than this is too common to search by on its own: scoring every
# row it matches is what makes a lexical search slow on a large store ("user" in extracted
# facts, a name that is in every turn). Counting stops at the cap, so checking is cheap.
COMMON_CAP = 1500


def selective_match(
    conn, table: str, text: str, cap: int = COMMON_CAP, max_terms: int = 32
) -> str | None:
    """Like :func:`match_expression`, but leaves out terms that match more than ``cap`` rows.

    Rare terms are OR-ed (any of them may find the row). When every term is common, all of
    them must match (AND), which keeps the result small and still relevant.
    """
    words = terms(text)[:max_terms]
    if not words:
        return None
    quoted = {w: '"' + w.replace('"', '""') + '"' for w in words}
    df = {
        w: conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT ?)",
            (q, cap + 1),
        ).fetchone()[0]
        for w, q in quoted.items()
    }
    present = [w for w in words if df[w]]
    if not present:
        return None
    rare = [w for w in present if df[w] <= cap]
    if rare:
        return " OR ".join(quoted[w] for w in rare)
    return " AND ".join(quoted[w] for w in present)


def ranked_rows(
    db,
    fts_table: str,
    content_table: str,
    expr: str,
    where: str,
    params: tuple,
    limit: int,
    weights: str = "",
) -> list[dict]:
    """Rows of ``content_table`` matching ``expr`` and ``where``, best BM25 first, as dicts with ``_score``.

    FTS ranks first and only the top rows are joined (over-fetched 4x to allow for rows the
    filter drops): joining every match of a common word before the LIMIT is what made a
    search over 100k rows slow. When the filter drops too many, the full join runs instead.
    """
    bm25 = f"-bm25({fts_table}{', ' + weights if weights else ''})"
    fetch = limit * 4
    rows = db.query(
        f"SELECT t.*, f._score FROM (SELECT rowid AS _rid, {bm25} AS _score FROM {fts_table} "
        f"WHERE {fts_table} MATCH ? ORDER BY _score DESC LIMIT ?) f "
        f"JOIN {content_table} t ON t.rowid = f._rid WHERE {where} ORDER BY f._score DESC LIMIT ?",
        (expr, fetch, *params, limit),
    )
    if (
        len(rows) < limit
        and db.scalar(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {fts_table} WHERE {fts_table} MATCH ? LIMIT ?)",
            (expr, fetch + 1),
        )
        > fetch
    ):
        rows = db.query(
            f"SELECT t.*, {bm25} AS _score FROM {fts_table} JOIN {content_table} t ON t.rowid = {fts_table}.rowid "
            f"WHERE {fts_table} MATCH ? AND {where} ORDER BY _score DESC LIMIT ?",
            (expr, *params, limit),
        )
    return rows


def rebuild(db) -> None:
    """Rebuild every full-text index from its table: a repair for an index out of step with its
    rows (memories, chat turns, and chat turns with their context). Seconds at 100k rows."""
    from memory.sqlite.migrations import CONTEXT_BACKFILL

    with db.tx() as conn:
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
        conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
        conn.execute("DELETE FROM messages_ctx_fts")
        conn.execute(CONTEXT_BACKFILL)
