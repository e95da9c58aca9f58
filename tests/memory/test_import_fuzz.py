"""Hostile import files: every input either imports or is reported by line with a reason, and
nothing else happens (no traceback, nothing half-written, nothing stored that breaks a later
`memory list` or export). Property tests with hypothesis, plus the cases that were found by
hand and are kept as plain examples."""

from __future__ import annotations

import json
import math
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory.config import load_settings
from memory.parts import transfer_parts
from memory.store import MemoryStore
from memory.transfer.files import (
    MAX_DEPTH,
    iter_memories,
    read_import,
)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ------------------------------------------------------------------------------ strategies
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e20, -1e20, 1e308, 5e-324, 2**63, -(2**63), 1700000000, 4102444800]),
)
texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
    st.sampled_from(["", " ", "\x00", "facts", "preferences", "permanent", "a" * 33, "\u202e"]),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "type", "id", "section", "key", "value", "tags", "entity_type", "entity_id", "confidence",
    "importance", "pinned", "persistence", "status", "scope", "expires_at", "created_at",
    "updated_at", "source_conversation_id", "source_message_ids", "superseded_by", "valid_from",
    "valid_to", "history", "category", "timestamp", "provenance", "memories",
]  # fmt: skip
history = st.lists(
    st.fixed_dictionaries(
        {"action": texts, "at": numbers},
        optional={"before": json_values, "after": json_values, "actor": json_values},
    ),
    max_size=2,
)
records = st.fixed_dictionaries(
    {"content": st.one_of(st.text(min_size=1, max_size=30), json_values)},
    optional={
        f: st.one_of(json_values, history) if f == "history" else json_values for f in FIELDS
    },
)
seeds = st.fixed_dictionaries(
    {"category": texts, "key": texts, "value": json_values},
    optional={"timestamp": st.one_of(numbers, texts), "tags": json_values},
)


def nested(depth: int) -> str:
    return '{"content": "deep", "value": ' + "[" * depth + "]" * depth + "}"


def encode(obj, ascii_only: bool) -> bytes:
    text = json.dumps(obj, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")  # raw lone surrogates: invalid UTF-8 bytes


lines = st.one_of(
    st.builds(encode, st.one_of(records, seeds, json_values), st.booleans()),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ")),
    st.sampled_from([b"{", b"[", b"{}", b"[]", b"null", b"NaN", b"\xff\xfe{}", b"   "]),
    st.integers(min_value=MAX_DEPTH - 2, max_value=MAX_DEPTH + 2).map(lambda d: nested(d).encode()),
)


# ------------------------------------------------------------------------------ checks
def _check_report(report, n_lines: int | None) -> None:
    for n, reason in report.errors:
        assert isinstance(n, int) and n >= 1, (n, reason)
        if n_lines is not None:
            assert n <= n_lines, (n, reason)
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason


def _import_into(store, path, n_lines):
    report = read_import(path)  # never raises for any content
    _check_report(report, n_lines)
    before = store.count_memories(status=None)
    store.transfer.apply_import(report)  # what passed validation always writes
    assert store.count_memories(status=None) == before + report.added
    return report


def _everything_still_reads(store) -> None:
    """What was imported never breaks listing or exporting (e.g. a date out of range)."""
    assert all(
        isinstance(m.content, str)
        for m in iter_memories(transfer_parts(store), include_deleted=True)
    )
    for fmt in ("jsonl", "json", "markdown"):
        "".join(store.transfer.export_memories(fmt))


def test_fuzzed_jsonl_files_import_or_are_reported_by_line(tmp_path):
    store = MemoryStore(load_settings(), start_redis=False)
    path = tmp_path / "fuzz.jsonl"

    @FUZZ
    @given(st.lists(lines, min_size=1, max_size=4))
    def run(body: list[bytes]) -> None:
        path.write_bytes(b"\n".join(body) + b"\n")
        # a file starting with "[" is one JSON document: its errors carry the entry number
        _import_into(store, path, None if body[0].lstrip().startswith(b"[") else len(body))

    try:
        run()
        _everything_still_reads(store)
        assert store.count_memories(status=None) > 0  # the valid ones were imported
    finally:
        store.close()


def test_fuzzed_json_documents_import_or_are_reported(tmp_path):
    store = MemoryStore(load_settings(), start_redis=False)
    path = tmp_path / "fuzz.json"

    @settings(FUZZ, max_examples=50)
    @given(
        st.one_of(st.lists(st.one_of(records, seeds, json_values), max_size=4), records),
        st.booleans(),
        st.booleans(),
    )
    def run(doc, ascii_only: bool, pretty: bool) -> None:
        text = json.dumps(
            doc, ensure_ascii=ascii_only, allow_nan=True, indent=2 if pretty else None
        )
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _import_into(store, path, None)

    try:
        run()
        _everything_still_reads(store)
        assert store.count_memories(status=None) > 0
    finally:
        store.close()


# ------------------------------------------------------------------------------ found by hand
def test_a_100000_deep_document_is_an_error_line_not_a_recursion_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert read_import(deep).errors == [(1, f"nested more than {MAX_DEPTH} levels deep")]
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"content": "kept"}\n' + nested(100_000) + "\n")
    report = read_import(lines)
    assert [r.content for r in report.records] == ["kept"]
    assert report.errors == [(2, f"nested more than {MAX_DEPTH} levels deep")]


def test_a_bad_first_line_is_one_bad_line_not_a_bad_file(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"content": oops\n{"content": "valid a"}\n{"content": "valid b"}\n')
    report = read_import(path)
    assert [r.content for r in report.records] == ["valid a", "valid b"]
    assert [n for n, _ in report.errors] == [1]
    path.write_bytes(b'{"content": "\xff\xfe"}\n{"content": "valid c"}\n')
    report = read_import(path)
    assert [r.content for r in report.records] == ["valid c"]
    assert report.errors == [(1, "not UTF-8 text (byte 14 of the line)")]
    # a pretty-printed document whose first line is "{" still reads as one document
    path.write_text(json.dumps({"memories": [{"content": "pretty"}]}, indent=2))
    assert [r.content for r in read_import(path).records] == ["pretty"]
    # and invalid UTF-8 deep inside a document names its line, not line 0
    path.write_bytes(b'[\n{"content": "a"},\n{"content": "\xff"}\n]\n')
    assert [n for n, _ in read_import(path).errors] == [3]


def test_timestamps_out_of_range_are_reported_by_line(tmp_path):
    path = tmp_path / "t.jsonl"
    bad = ["NaN", "Infinity", "-Infinity", "1e20", "-1e20", "1e400"]
    path.write_text(
        "".join(f'{{"content": "m{i}", "created_at": {v}}}\n' for i, v in enumerate(bad))
        + '{"content": "h", "history": [{"action": "added", "at": 1e300}]}\n'
        + '{"content": "s", "valid_to": NaN}\n'
        + '{"category": "facts", "key": "k", "value": "v", "timestamp": "9999-01-01T00:00:00"}\n'
        + '{"content": "fine", "created_at": 1700000000}\n'
    )
    report = read_import(path)
    assert [r.content for r in report.records] == ["fine"]
    assert [n for n, _ in report.errors] == list(range(1, 10))
    reasons = dict(report.errors)
    assert reasons[1] == "created_at: Input should be a finite number"
    assert "timestamp 1e+20 is out of range" in reasons[4]
    assert reasons[7].startswith("history.0.at: timestamp")


def test_a_stored_date_out_of_range_does_not_break_list_or_export():
    """An older memchat imported created_at 1e20; listing and exporting still work."""
    with MemoryStore(load_settings(), start_redis=False) as store:
        m = store.add_memory("from the far future")
        with store.db.tx() as conn:
            conn.execute(
                "UPDATE memories SET created_at = 1e20, updated_at = 1e20 WHERE id = ?", (m.id,)
            )
        md = "".join(store.transfer.export_memories("markdown"))
        assert "from the far future" in md and "unknown date" in md
        from tui.output import when

        assert when(1e20) == "?" and when(math.inf) == "?"


def test_lone_surrogates_are_reported_not_a_crash_in_sqlite(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"content": "ok \\ud800"}\n{"content": "fine", "tags": ["\\udfff"]}\n'
        '{"content": "fine", "history": [{"action": "x", "at": 1, "before": {"\\ud800": 1}}]}\n'
    )
    report = read_import(path)
    assert report.records == [] and [n for n, _ in report.errors] == [1, 2, 3]
    assert all(set(reason) <= set(string.printable) for _, reason in report.errors)
