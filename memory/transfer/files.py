"""Export and import memories (and conversations) as plain files a person can read.

Formats: JSONL (one record a line: the default, streamable), JSON (one array) and Markdown
(export only). Import also reads the seeds' key/value format (``category``, ``key``,
``value``, ``tags``, ``entity_type``, ``entity_id``, ``timestamp``, ``provenance``).

Import validates every record before writing anything: the caller gets each bad line's number
and reason, and the store is unchanged unless it asks to skip invalid records. Re-importing
adds nothing: ids are preserved, or, when another profile already owns an id, mapped to a
stable new one (the same on every import).

Secrets: an import is redacted by the storage gates like any write (every field, history
before/after included: see memory.secrets). An export reads redacted storage and passes its
output through ``redact_value`` again, so a file that leaves the machine never holds one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memory.errors import MemchatError
from memory.fsutil import write_private_atomically
from memory.models import PERSISTENCE, SECTIONS, Memory, now
from memory.secrets import redact, redact_value

if TYPE_CHECKING:
    from memory.parts import TransferParts

MAX_LINE_BYTES = 1_000_000
MAX_JSON_BYTES = 200_000_000
MAX_DEPTH = 64  # an export nests 4 levels; deeper is not a memchat file (and recursion hurts)
# Timestamps memchat accepts: 1900-01-01 .. 3000-01-01 UTC. Wider values (1e20, NaN) used to
# import and then break `memory list` and the Markdown export with OverflowError.
MIN_TIMESTAMP = -2_208_988_800.0
MAX_TIMESTAMP = 32_503_680_000.0
_NS = uuid.UUID("6f1c2a52-4c1e-4b0e-9a53-6d656d636861")


def _check_timestamp(v: float | None) -> float | None:
    if v is not None and not MIN_TIMESTAMP <= v <= MAX_TIMESTAMP:
        raise ValueError(
            f"timestamp {v!r} is out of range (seconds since 1970, between years 1900 and 3000)"
        )
    return v


class HistoryRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    action: str
    actor: str = "import"
    reason: str = ""
    at: float
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    _at = field_validator("at")(_check_timestamp)


class MemoryRecord(BaseModel):
    """One memory as exported; unknown keys are ignored, known keys must have the right type."""

    model_config = ConfigDict(extra="ignore", strict=False, allow_inf_nan=False)
    type: Literal["memory"] = "memory"
    id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    content: str = Field(min_length=1, max_length=100_000)
    section: str = "facts"
    key: str | None = None
    value: str | None = None
    tags: list[str] = Field(default_factory=list)
    entity_type: str | None = None
    entity_id: str | None = None
    confidence: float = Field(1.0, ge=0, le=1)
    importance: float = Field(0.5, ge=0, le=1)
    pinned: bool = False
    persistence: str = "permanent"
    status: Literal["active", "pending", "deleted"] = "active"
    scope: str = "global"
    expires_at: float | None = None
    created_at: float | None = None
    updated_at: float | None = None
    source_conversation_id: str | None = None
    source_message_ids: list[str] = Field(default_factory=list)
    superseded_by: str | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    history: list[HistoryRecord] = Field(default_factory=list)

    _times = field_validator("created_at", "updated_at", "expires_at", "valid_from", "valid_to")(
        _check_timestamp
    )

    @field_validator("section")
    @classmethod
    def _section(cls, v: str) -> str:
        if v not in SECTIONS:
            raise ValueError(f"unknown section {v!r} (one of {', '.join(SECTIONS)})")
        return v

    @field_validator("persistence")
    @classmethod
    def _persistence(cls, v: str) -> str:
        if v not in PERSISTENCE:
            raise ValueError(f"unknown persistence {v!r} (one of {', '.join(PERSISTENCE)})")
        return v


class SeedRecord(BaseModel):
    """The seeds' simple key/value memory format."""

    model_config = ConfigDict(extra="ignore")
    category: str
    key: str = Field(min_length=1)
    value: Any
    tags: list[str] = Field(default_factory=list)
    entity_type: str | None = None
    entity_id: str | None = None
    timestamp: float | str | None = None
    provenance: Any = None

    def to_memory_record(self) -> MemoryRecord:
        value = (
            self.value
            if isinstance(self.value, str)
            else json.dumps(self.value, ensure_ascii=False)
        )
        ts = _timestamp(self.timestamp) if self.timestamp is not None else None
        stable = hashlib.sha256(f"{self.category}\0{self.key}\0{value}".encode()).hexdigest()[:32]
        return MemoryRecord(
            id=stable,
            content=f"{self.key}: {value}",
            section=self.category,
            key=self.key,
            value=value,
            tags=self.tags,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            created_at=ts,
            updated_at=ts,
            history=[
                HistoryRecord(
                    action="imported",
                    actor="import:seed",
                    at=now(),
                    reason=f"provenance: {json.dumps(self.provenance)[:500]}",
                )
            ]
            if self.provenance is not None
            else [],
        )


def _timestamp(v: float | str) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()


@dataclass
class ImportReport:
    records: list[MemoryRecord] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line or entry number, reason)
    added: int = 0
    skipped_existing: int = 0


IMPORT_FORMATS = (
    "memchat imports JSON objects, one memory each, in either of two shapes:\n"
    '  memchat\'s own (what `memchat memory export` writes): {"content": "Takes coffee black", '
    '"section": "preferences", "tags": ["drinks"]}  (only "content" is required)\n'
    '  key/value: {"category": "preferences", "key": "coffee", "value": "black"}\n'
    'as JSONL (one object a line), a JSON array of objects, or {"memories": [...]}.'
)


def _reason(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}"


def _validate(n: int, obj: Any, report: ImportReport) -> None:
    wrapped = obj.get("memories", obj.get("entries")) if isinstance(obj, dict) else None
    if isinstance(wrapped, list):
        for item in wrapped:  # a whole export wrapped in one object
            _validate(n, item, report)
        return
    if not isinstance(obj, dict):
        report.errors.append((n, f"expected a JSON object, got {type(obj).__name__}"))
        return
    known = set(MemoryRecord.model_fields) | set(SeedRecord.model_fields)
    if not known & set(obj):  # e.g. {"coffee": "black"}: neither shape at all
        keys = ", ".join(f'"{k}"' for k in list(obj)[:4]) or "no fields"
        report.errors.append(
            (
                n,
                f'not a memory: it has {keys}, but a memchat memory needs "content" and a '
                'key/value one "category", "key" and "value"',
            )
        )
        return
    try:
        seed = "category" in obj and "content" not in obj
        rec = SeedRecord(**obj).to_memory_record() if seed else MemoryRecord(**obj)
        # what SQLite will be given must be storable text: no lone surrogates ("\ud800")
        json.dumps(rec.model_dump(), ensure_ascii=False).encode("utf-8")
    except ValidationError as e:
        report.errors.append((n, _reason(e)))
    except UnicodeEncodeError:
        report.errors.append((n, "text is not valid Unicode (a lone surrogate such as \\ud800)"))
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        report.errors.append((n, str(e) or type(e).__name__))
    else:
        report.records.append(rec)


def _too_deep(obj: Any) -> bool:
    """True when ``obj`` nests lists/objects more than MAX_DEPTH levels (checked without
    recursion, so a 100,000-deep document is an error line, not a RecursionError)."""
    todo = [(obj, 1)]
    while todo:
        o, d = todo.pop()
        if isinstance(o, dict | list):
            if d > MAX_DEPTH:
                return True
            todo.extend((c, d + 1) for c in (o.values() if isinstance(o, dict) else o))
    return False


def _parse(n: int, raw: bytes, report: ImportReport) -> Any:
    """The JSON value in ``raw`` (line ``n``; 0: a whole document), or None with the error
    recorded by line."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = n or raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1)
        report.errors.append((line, f"not UTF-8 text (byte {col + 1} of the line)"))
    except json.JSONDecodeError as e:
        report.errors.append((n if n else e.lineno, f"bad JSON: {e.msg} (column {e.colno})"))
    except RecursionError:
        report.errors.append((n or 1, f"nested more than {MAX_DEPTH} levels deep"))
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        why = "a number with too many digits" if "digits" in str(e) else str(e)
        report.errors.append((n or 1, f"bad JSON: {why}"))
    else:
        if not _too_deep(obj):
            return obj
        report.errors.append((n or 1, f"nested more than {MAX_DEPTH} levels deep"))
    return None


def read_import(path: Path) -> ImportReport:
    """Parse and validate a file; nothing is written.

    JSONL errors carry the line number; a JSON document's errors carry the entry number.
    """
    path = Path(path)
    report = ImportReport()
    with open(path, "rb") as f:
        first = f.readline(MAX_LINE_BYTES + 1)
    stripped = first.lstrip()
    size = path.stat().st_size
    doc: Any = None
    if stripped.startswith(b"[") or (
        # "{" on a first line that is not a whole object: a pretty-printed JSON object, or a
        # JSONL file whose first line is bad (then its other lines are still read and counted)
        stripped.startswith(b"{") and _parse(1, first, ImportReport()) is None
    ):
        array = stripped.startswith(b"[")
        if size > MAX_JSON_BYTES and array:
            report.errors.append(
                (1, f"file is {size // 1_000_000} MB; split it or use JSONL (one record a line)")
            )
            return report
        attempt = ImportReport()
        if size <= MAX_JSON_BYTES:
            doc = _parse(0, path.read_bytes(), attempt)
        if doc is None and array:
            report.errors.extend(attempt.errors)
            return report
    if doc is not None:
        items = doc if isinstance(doc, list) else [doc]
        for i, obj in enumerate(items, 1):
            _validate(i, obj, report)
        return report
    with open(path, "rb") as f:
        for n, raw in enumerate(_lines(f), 1):
            if raw is None:
                report.errors.append((n, f"line is longer than {MAX_LINE_BYTES // 1_000_000} MB"))
            elif raw.strip():
                obj = _parse(n, raw, report)
                if obj is not None:
                    _validate(n, obj, report)
    return report


def _lines(f) -> Iterator[bytes | None]:
    """Lines of a binary file; None for a line over the limit (skipped without loading it)."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = f.readline(MAX_LINE_BYTES)
            yield None
            continue
        yield line


def _target_id(parts: TransferParts, original: str | None, content: str) -> str:
    if original is None:
        return uuid.uuid5(_NS, f"{parts.profile}\0{content}").hex
    owner = parts.db.scalar("SELECT profile FROM memories WHERE id = ?", (original,))
    if owner is None or owner == parts.profile:
        return original
    return uuid.uuid5(_NS, f"{parts.profile}\0{original}").hex


def apply_import(
    parts: TransferParts, report: ImportReport, progress: Callable[[int, int], None] | None = None
) -> ImportReport:
    """Write the validated records into ``parts.profile`` in one transaction."""
    total = len(report.records)
    with parts.db.tx() as conn:
        for i, rec in enumerate(report.records, 1):
            mid = _target_id(parts, rec.id, rec.content)
            if parts.db.scalar("SELECT 1 FROM memories WHERE id = ?", (mid,)):
                report.skipped_existing += 1
            else:
                fields = rec.model_dump(exclude={"type", "id", "history", "content", "section"})
                fields["created_at"] = fields["created_at"] or now()
                fields["updated_at"] = fields["updated_at"] or fields["created_at"]
                m = Memory(
                    content=rec.content,
                    section=rec.section,
                    profile=parts.profile,
                    id=mid,
                    **fields,
                )
                parts.memories.add(m, actor="import", reason="imported from file")
                for h in rec.history:
                    conn.execute(
                        "INSERT INTO memory_history (memory_id, profile, at, action, actor, reason, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            mid,
                            parts.profile,
                            h.at,
                            h.action,
                            h.actor,
                            h.reason,
                            json.dumps(h.before) if h.before else None,
                            json.dumps(h.after) if h.after else None,
                        ),
                    )
                report.added += 1
            if progress:
                progress(i, total)
    return report


# ---------------------------------------------------------------------- export
def _day(ts: float | None, fmt: str = "%Y-%m-%d") -> str:
    """A stored timestamp as a date; "unknown date" for one out of range (an older memchat
    imported 1e20) instead of an OverflowError that broke the whole export."""
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime(fmt)  # type: ignore[arg-type]
    except (OverflowError, OSError, ValueError, TypeError):
        return "unknown date"


def _export_dict(parts: TransferParts, m: Memory) -> dict[str, Any]:
    d = m.to_dict()
    for k in ("profile", "access_count", "last_accessed_at", "deleted_at"):
        d.pop(k, None)
    d["history"] = [
        {
            "action": h.action,
            "actor": h.actor,
            "reason": h.reason,
            "at": h.at,
            "before": h.before,
            "after": h.after,
        }
        for h in parts.memories.history(m.id)
    ]
    return redact_value({"type": "memory", **d})


def iter_memories(
    parts: TransferParts, section: str | None = None, include_deleted: bool = False
) -> Iterator[Memory]:
    offset = 0
    while True:
        batch = parts.memories.list(
            parts.profile,
            section=section,
            status=None if include_deleted else "active",
            limit=1000,
            offset=offset,
            order="created_at ASC",
        )
        if not batch:
            return
        yield from batch
        offset += len(batch)


def export_memories(
    parts: TransferParts, fmt: str = "jsonl", section: str | None = None
) -> Iterator[str]:
    """Text chunks of the export, in ``fmt`` (jsonl, json or markdown)."""
    if fmt == "jsonl":
        for m in iter_memories(parts, section):
            yield json.dumps(_export_dict(parts, m), ensure_ascii=False) + "\n"
    elif fmt == "json":
        yield "[\n"
        for i, m in enumerate(iter_memories(parts, section)):
            yield ("," if i else "") + json.dumps(_export_dict(parts, m), ensure_ascii=False) + "\n"
        yield "]\n"
    elif fmt == "markdown":
        yield f"# memchat memories — profile {parts.profile}\n"
        by_section: dict[str, list[Memory]] = {}
        for m in iter_memories(parts, section):
            by_section.setdefault(m.section, []).append(m)
        for sec, items in by_section.items():
            yield f"\n## {sec}\n\n"
            for m in items:
                when = _day(m.created_at)
                tags = f" `{'` `'.join(m.tags)}`" if m.tags else ""
                pin = " 📌" if m.pinned else ""
                yield redact(f"- {m.content}{pin}{tags} _({when}, {m.id[:8]})_\n")
    else:
        raise ValueError(f"unknown format {fmt!r}: use jsonl, json or markdown")


class ExportError(MemchatError):
    """An export could not be written (a full disk, a folder that cannot be written)."""


def write_error(path: Path | str, e: OSError) -> ExportError:
    """The one-line message for an export that could not be written to ``path``."""
    if e.errno == errno.ENOSPC:
        return ExportError(f"could not write {path}: the disk is full; free some space and retry")
    return ExportError(f"could not write {path}: {e.strerror or e}")


def write_export(
    parts: TransferParts, path: Path, fmt: str = "jsonl", section: str | None = None
) -> Path:
    """Export into ``path`` (owner-only) all or nothing (see fsutil.write_private_atomically)."""
    try:
        return write_private_atomically(Path(path), export_memories(parts, fmt, section))
    except OSError as e:
        raise write_error(path, e) from None


def export_conversation(parts: TransferParts, conversation_id: str, fmt: str = "markdown") -> str:
    c = parts.get_conversation(conversation_id)
    msgs = parts.messages(c.id)
    conv = redact_value(dict(c.__dict__))
    if fmt == "json":
        return json.dumps(
            redact_value({"conversation": conv, "messages": [m.to_dict() for m in msgs]}),
            ensure_ascii=False,
            indent=2,
            default=str,
        )
    if fmt != "markdown":
        raise ValueError(f"unknown format {fmt!r}: use markdown or json")
    out = [f"# {conv['title'] or 'Untitled conversation'}\n"]
    for m in msgs:
        when = _day(m.created_at, "%Y-%m-%d %H:%M")
        note = f" _({m.status})_" if m.status != "complete" else ""
        out.append(f"\n**{m.role}** · {when}{note}\n\n{m.content}\n")
    return redact("".join(out))
