"""The byte-level invariant behind forget, incognito and redaction: scan every file under the
data dir for a canary string.

Use it after the action and after every memchat process touching the dir has exited (so the
SQLite WAL is checkpointed and the embedded server's AOF is final)::

    assert files_containing(home, CANARY) == []

The scan reads raw bytes (SQLite pages, free pages, WAL, AOF, Chroma's files, logs, exports),
in UTF-8 and also lower-cased, so an FTS index's folded copy counts too.
"""

from __future__ import annotations

from pathlib import Path


def files_containing(root: Path, needle: str, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """Files under ``root`` whose bytes contain ``needle`` (as typed, or lower-cased), relative
    to ``root``; paths starting with one of ``exclude`` are skipped (e.g. backups made before)."""
    forms = {needle.encode(), needle.lower().encode()}
    hits = []
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel.startswith(exclude) or not p.is_file() or p.is_socket():
            continue
        try:
            data = p.read_bytes()
        except OSError:
            continue
        if any(f in data for f in forms):
            hits.append(rel)
    return hits
