"""Local sentence embeddings: all-MiniLM-L6-v2 (ONNX) run with onnxruntime + tokenizers.

We compute embeddings ourselves and hand Chroma plain vectors: chromadb's own embedding
function pads every input to 256 tokens (~24 sentences/s on 2 cores) while dynamic padding
(pad to the longest text of a length-sorted batch) is ~10x faster.

Speed (docs/benchmarks.md, "Recall latency and ingest"): the session runs single-threaded
and a call with several batches runs them on ``threads`` worker threads at once (onnxruntime
releases the GIL). On small BERT matrices that data parallelism costs ~15% less CPU per
sentence than onnxruntime's intra-op thread pool, whose spinning threads also collapse when
another process holds a core. ``quantize=True`` runs an int8 copy of the model (dynamic
quantization, per-channel int8 weights: ~1.7x faster on AVX2, cosine ~0.99 to the fp32
vectors), made once from the original into ``cache_dir``; it needs the ``onnx`` package and
falls back to the fp32 model without it.

Nothing here downloads anything. The model folder comes from ``MEMCHAT_EMBEDDING_MODEL``
(via config) or chromadb's default cache; without one, ``get_embedder`` returns None and the
caller runs without vectors.

Embedding = mean of ``last_hidden_state`` over the attention mask, then L2 normalisation
(the sentence-transformers recipe). Heavy imports (onnxruntime, tokenizers) are lazy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("memchat.embedder")

DIM = 384
MAX_TOKENS = 256
MAX_THREADS = 8
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
QUANT_RECIPE = "qint8-perchannel-v1"  # part of the cached file's name: bump when the recipe changes
# chromadb's ONNXMiniLM_L6_V2 download location (the files live in its onnx/ subfolder).
CHROMA_CACHE_DIR = Path("~/.cache/chroma/onnx_models/all-MiniLM-L6-v2/onnx")

_HINT = (
    "set MEMCHAT_EMBEDDING_MODEL to a folder holding the all-MiniLM-L6-v2 ONNX model "
    "(model.onnx and tokenizer.json, directly or under onnx/)"
)


def _holds_model(folder: Path) -> bool:
    return (folder / MODEL_FILE).is_file() and (folder / TOKENIZER_FILE).is_file()


def resolve_model_dir(configured: str | Path | None) -> Path | None:
    """The folder that directly holds ``model.onnx`` + ``tokenizer.json``, or None.

    ``configured`` may be that folder, a folder with an ``onnx/`` subfolder (chromadb's
    layout) or the ``model.onnx`` file itself. With ``configured`` None (or empty), chromadb's
    default cache ``~/.cache/chroma/onnx_models/all-MiniLM-L6-v2/onnx`` is used if present.
    """
    if configured is None or (isinstance(configured, str) and not configured.strip()):
        candidates = [CHROMA_CACHE_DIR.expanduser()]
    else:
        p = Path(configured).expanduser()
        if p.is_file() and p.name == MODEL_FILE:
            p = p.parent
        candidates = [p, p / "onnx"]
    for folder in candidates:
        try:
            if _holds_model(folder):
                return folder.resolve()
        except OSError:
            continue
    return None


def _file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _DropRootWarnings(logging.Filter):
    """onnxruntime.quantization warns through the root logger ("consider pre-processing")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


def quantized_model(source: Path, cache_dir: Path, name: str = DEFAULT_MODEL_NAME) -> Path:
    """The int8 copy of ``source`` in ``cache_dir``, made (atomically, 0600) if missing.

    The name holds a digest of the source, so another model (or a changed file) gets its
    own copy. Raises ImportError without the ``onnx`` package.
    """
    from memory.fsutil import private_dir

    cache_dir = private_dir(Path(cache_dir))
    target = cache_dir / f"{name}-{_file_digest(source)[:16]}-{QUANT_RECIPE}.onnx"
    if target.is_file():
        return target
    import onnx  # noqa: F401 - the quantizer needs it; fail before writing anything
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    root, quiet = logging.getLogger(), _DropRootWarnings()
    root.addFilter(quiet)
    try:
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)  # atomic: another process making the same file is harmless
    finally:
        root.removeFilter(quiet)
        tmp.unlink(missing_ok=True)
    return target


class Embedder:
    """Thread-safe, lazily loaded sentence embedder (384-d, unit-norm float32 vectors).

    ``quantize``: run the int8 copy of the model (see ``quantized_model``), kept in
    ``cache_dir`` (required then). ``threads``: batches run at once (default: CPU count, ≤8).
    """

    dim: int = DIM

    def __init__(
        self,
        model_dir: Path | str,
        *,
        max_tokens: int = MAX_TOKENS,
        quantize: bool = False,
        cache_dir: Path | str | None = None,
        threads: int | None = None,
    ) -> None:
        given = Path(model_dir)
        folder = resolve_model_dir(given)
        if folder is None:
            missing = [f for f in (MODEL_FILE, TOKENIZER_FILE) if not (given / f).is_file()]
            raise FileNotFoundError(
                f"embedding model not found in {given} (missing {', '.join(missing)}): {_HINT}"
            )
        if quantize and cache_dir is None:
            raise ValueError("quantize=True needs a cache_dir for the int8 model")
        self.model_dir = folder
        self.max_tokens = max_tokens
        self.quantize = quantize
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.threads = max(1, min(MAX_THREADS, threads or os.cpu_count() or 1))
        self.variant = "int8" if quantize else "fp32"  # "fp32" again if int8 could not be made
        self._init_lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._input_names: set[str] = set()

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        """Model name, e.g. "all-MiniLM-L6-v2" (the folder name; chromadb's onnx/ is skipped).

        The same for the int8 variant: its vectors stay comparable with the fp32 ones."""
        folder = self.model_dir
        if folder.name == "onnx" and folder.parent.name:
            folder = folder.parent
        return folder.name or DEFAULT_MODEL_NAME

    def __repr__(self) -> str:
        return f"Embedder({str(self.model_dir)!r}, {self.variant})"

    @property
    def loaded(self) -> bool:
        return self._session is not None

    # ------------------------------------------------------------------ loading
    def _model_path(self) -> Path:
        source = self.model_dir / MODEL_FILE
        if not self.quantize:
            return source
        assert self.cache_dir is not None
        try:
            return quantized_model(source, self.cache_dir, self.name)
        except ImportError as e:
            log.warning("int8 embeddings need the onnx package (%s); using the fp32 model", e)
        except Exception as e:  # noqa: BLE001 - a failed quantization must not cost the vectors
            log.warning("could not make the int8 model (%s); using the fp32 model", e)
        self.variant = "fp32"
        return source

    def load(self) -> None:
        """Load the ONNX session and tokenizer now (otherwise done on first embed)."""
        if self._session is not None:
            return
        with self._init_lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
            # tokenizer.json ships fixed padding/truncation at 128: pad ourselves per batch.
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=self.max_tokens)

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1  # parallel across batches instead (see module doc)
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            session = ort.InferenceSession(
                str(self._model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            if self.threads > 1:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embed")
            self._session = session

    # ------------------------------------------------------------------ embedding
    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``; returns float32 (len(texts), 384), rows L2-normalised, same order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch_size = max(1, int(batch_size))
        self.load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([t if t is not None else "" for t in texts])
        # Length-sorted batches keep padding (and wasted compute) to a minimum.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        if len(batches) == 1 or self._pool is None:
            for idx in batches:
                out[idx] = self._run([encodings[i] for i in idx])
        else:
            runs = self._pool.map(lambda idx: self._run([encodings[i] for i in idx]), batches)
            for idx, vectors in zip(batches, runs, strict=True):
                out[idx] = vectors
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; returns float32 (384,), unit norm."""
        return self.embed([text])[0]

    def _run(self, encodings: list[Any]) -> np.ndarray:
        n = len(encodings)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            k = len(enc.ids)
            ids[row, :k] = enc.ids
            mask[row, :k] = enc.attention_mask
        # One segment: token_type_ids are all zeros.
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        feed = {k: v for k, v in feed.items() if k in self._input_names}
        hidden = self._session.run(None, feed)[0]  # (n, width, 384); run() is thread-safe
        m = mask.astype(np.float32)
        pooled = (m[:, None, :] @ hidden)[:, 0, :] / np.clip(m.sum(axis=1), 1e-9, None)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_cache: dict[tuple[Path, str | None], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(
    configured: str | Path | None, *, quantize: bool = False, cache_dir: Path | str | None = None
) -> Embedder | None:
    """The process-wide Embedder for ``configured`` (see resolve_model_dir), or None.

    ``quantize`` (with ``cache_dir``, e.g. ``<data dir>/models``): the int8 variant, one per
    cache dir."""
    folder = resolve_model_dir(configured)
    if folder is None:
        return None
    quantize = bool(quantize and cache_dir is not None)
    key = (folder, str(cache_dir) if quantize else None)
    with _cache_lock:
        emb = _cache.get(key)
        if emb is None:
            emb = _cache[key] = Embedder(folder, quantize=quantize, cache_dir=cache_dir)
        return emb
