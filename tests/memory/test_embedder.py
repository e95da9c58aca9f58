"""Embedder: real all-MiniLM-L6-v2 ONNX model from ../shared/models (no downloads)."""

from __future__ import annotations

import shutil
import sys
import threading

import numpy as np
import pytest

from memory.vectors.embedder import Embedder, get_embedder, resolve_model_dir


def test_shape_dtype_and_unit_norm(embedder):
    vecs = embedder.embed(["hello world", "", "Ünïcödé 🚀", "word " * 600])
    assert vecs.shape == (4, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one = embedder.embed_one("hello world")
    assert one.shape == (384,)
    assert embedder.dim == 384
    assert embedder.name == "all-MiniLM-L6-v2"


def test_empty_list(embedder):
    out = embedder.embed([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_paraphrase_beats_unrelated(embedder):
    q = embedder.embed_one("what's the name of my pet?")
    related, unrelated = embedder.embed(["My cat is called Ziggy", "The stock market fell today"])
    assert float(q @ related) > float(q @ unrelated) + 0.2


def test_batch_equals_one_at_a_time(embedder):
    texts = [
        "short",
        "a somewhat longer sentence about memory and recall in a chat assistant",
        "",
        "I prefer dark roast coffee in the morning, no sugar.",
        "def add(a, b):\n    return a + b",
        "x " * 400,  # truncated at 256 tokens
        "Der Hund schläft.",
    ]
    batched = embedder.embed(texts, batch_size=3)  # length-sorted batches, order restored
    for text, row in zip(texts, batched, strict=True):
        assert float(row @ embedder.embed_one(text)) > 0.9999


def test_thread_safe(embedder):
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(24)]
    expected = embedder.embed(texts)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = embedder.embed(texts, batch_size=5)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for out in results.values():
        assert np.min(np.sum(out * expected, axis=1)) > 0.9999


def test_lazy_init_from_threads(model_dir):
    emb = Embedder(model_dir)
    assert not emb.loaded
    outs: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: outs.append(emb.embed_one("hi"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 4 and emb.loaded
    assert all(float(o @ outs[0]) > 0.9999 for o in outs)


def test_resolve_model_dir_layouts(tmp_path, monkeypatch, model_dir):
    onnx = model_dir / "onnx"
    # chromadb layout: <dir>/onnx/model.onnx
    assert resolve_model_dir(model_dir) == onnx.resolve()
    assert resolve_model_dir(str(model_dir)) == onnx.resolve()
    # flat layout: <dir>/model.onnx + tokenizer.json
    assert resolve_model_dir(onnx) == onnx.resolve()
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in ("model.onnx", "tokenizer.json"):
        (flat / f).symlink_to(onnx / f)
    assert resolve_model_dir(flat) == flat.resolve()
    assert resolve_model_dir(flat / "model.onnx") == flat.resolve()
    # missing / incomplete folders
    assert resolve_model_dir(tmp_path / "nope") is None
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "model.onnx").write_bytes(b"")
    assert resolve_model_dir(partial) is None


def test_resolve_default_chroma_cache(tmp_path, monkeypatch, model_dir):
    import memory.vectors.embedder as mod

    cache = tmp_path / "cache" / "onnx"
    monkeypatch.setattr(mod, "CHROMA_CACHE_DIR", cache)
    assert resolve_model_dir(None) is None
    cache.mkdir(parents=True)
    for f in ("model.onnx", "tokenizer.json"):
        (cache / f).symlink_to(model_dir / "onnx" / f)
    assert resolve_model_dir(None) == cache.resolve()
    assert resolve_model_dir("") == cache.resolve()


def test_missing_model_is_actionable(tmp_path):
    with pytest.raises(FileNotFoundError, match="MEMCHAT_EMBEDDING_MODEL"):
        Embedder(tmp_path / "nothing-here")


def test_get_embedder_cache(tmp_path, model_dir):
    a = get_embedder(model_dir)
    b = get_embedder(model_dir / "onnx")
    assert a is not None and a is b
    assert get_embedder(tmp_path / "missing") is None


def test_flat_folder_name(tmp_path, model_dir):
    flat = tmp_path / "my-model"
    flat.mkdir()
    (flat / "model.onnx").symlink_to(model_dir / "onnx" / "model.onnx")
    shutil.copy(model_dir / "onnx" / "tokenizer.json", flat / "tokenizer.json")
    emb = Embedder(flat)
    assert emb.name == "my-model"
    assert emb.model_dir == flat.resolve()


def test_parallel_batches_match_one_thread(embedder, model_dir):
    texts = [f"note {i}: " + "the garden needs water " * (i % 9) for i in range(40)]
    serial = Embedder(model_dir, threads=1)
    assert serial.threads == 1 and embedder.threads >= 1
    np.testing.assert_allclose(
        embedder.embed(texts, batch_size=4), serial.embed(texts, batch_size=4), atol=1e-5
    )


def test_quantize_needs_a_cache_dir(model_dir):
    with pytest.raises(ValueError, match="cache_dir"):
        Embedder(model_dir, quantize=True)


def test_int8_falls_back_to_fp32_without_onnx(tmp_path, monkeypatch, embedder, caplog, model_dir):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` raises ImportError
    emb = Embedder(model_dir, quantize=True, cache_dir=tmp_path / "models")
    assert emb.variant == "int8"
    text = "My sister lives in Lisbon"
    assert float(emb.embed_one(text) @ embedder.embed_one(text)) > 0.9999
    assert emb.variant == "fp32" and "onnx" in caplog.text
    assert list((tmp_path / "models").iterdir()) == []


def test_int8_model_is_made_once_privately_and_agrees_with_fp32(tmp_path, embedder, model_dir):
    pytest.importorskip("onnx")
    cache = tmp_path / "models"
    emb = Embedder(model_dir, quantize=True, cache_dir=cache)
    texts = [
        "My daughter starts kindergarten in September",
        "when does the kid begin school?",
        "I prefer dark roast coffee in the morning, no sugar.",
        "The stock market fell today",
        "Tomasz booked a weekend hiking in the Alps with two friends from work",
        "",
    ]
    q, f = emb.embed(texts), embedder.embed(texts)
    assert emb.variant == "int8" and emb.name == embedder.name
    cos = np.sum(q * f, axis=1)
    assert cos.mean() > 0.98 and cos.min() > 0.95, cos
    assert float(q[0] @ q[1]) > float(q[0] @ q[3]) + 0.2  # paraphrase still beats unrelated
    [model] = cache.iterdir()  # no temp files left behind
    assert model.name.startswith("all-MiniLM-L6-v2-") and model.suffix == ".onnx"
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    assert oct(model.stat().st_mode & 0o777) == "0o600"
    assert model.stat().st_size < (model_dir / "onnx" / "model.onnx").stat().st_size / 3
    made = model.stat().st_mtime_ns
    again = Embedder(model_dir, quantize=True, cache_dir=cache)
    np.testing.assert_allclose(again.embed(texts), q, atol=1e-5)
    assert model.stat().st_mtime_ns == made  # reused, not made again


def test_get_embedder_keeps_variants_apart(tmp_path, model_dir):
    plain = get_embedder(model_dir)
    int8 = get_embedder(model_dir, quantize=True, cache_dir=tmp_path / "models")
    assert int8 is not plain and int8.quantize and not plain.quantize
    assert get_embedder(model_dir, quantize=True, cache_dir=tmp_path / "models") is int8
    assert get_embedder(model_dir, quantize=True) is plain  # no cache dir: fp32


def test_the_store_embeds_with_int8_by_default_and_fp32_when_told(monkeypatch, model_cache):
    from memory.config import load_settings
    from memory.store import MemoryStore

    with MemoryStore(load_settings(), start_redis=False) as s:
        emb = s.vectors.embedder
        emb.embed_one("warm up")
        assert emb.quantize and emb.variant == "int8" and emb.cache_dir == model_cache
        assert [p.suffix for p in model_cache.iterdir()] == [".onnx"]
    monkeypatch.setenv("MEMCHAT_MEMORY__EMBEDDING_INT8", "false")
    with MemoryStore(load_settings(), start_redis=False) as s:
        assert not s.vectors.embedder.quantize
