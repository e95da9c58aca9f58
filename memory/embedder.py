"""Local sentence embeddings: all-MiniLM-L6-v2 (ONNX) run with onnxruntime + tokenizers.

We compute embeddings ourselves and hand Chroma plain vectors: chromadb's own embedding
function pads every input to 256 tokens (~24 sentences/s on 2 cores) while dynamic padding
(pad to the longest text of a length-sorted batch) gives ~185 sentences/s.

Nothing here downloads anything. The model folder comes from ``MEMCHAT_EMBEDDING_MODEL``
(via config) or chromadb's default cache; without one, ``get_embedder`` returns None and the
caller runs without vectors.

Embedding = mean of ``last_hidden_state`` over the attention mask, then L2 normalisation
(the sentence-transformers recipe). Heavy imports (onnxruntime, tokenizers) are lazy.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
MAX_TOKENS = 256
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
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


class Embedder:
    """Thread-safe, lazily loaded sentence embedder (384-d, unit-norm float32 vectors)."""

    dim: int = DIM

    def __init__(self, model_dir: Path | str, *, max_tokens: int = MAX_TOKENS) -> None:
        given = Path(model_dir)
        folder = resolve_model_dir(given)
        if folder is None:
            missing = [f for f in (MODEL_FILE, TOKENIZER_FILE) if not (given / f).is_file()]
            raise FileNotFoundError(
                f"embedding model not found in {given} (missing {', '.join(missing)}): {_HINT}"
            )
        self.model_dir = folder
        self.max_tokens = max_tokens
        self._init_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: set[str] = set()

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        """Model name, e.g. "all-MiniLM-L6-v2" (the folder name; chromadb's onnx/ is skipped)."""
        folder = self.model_dir
        if folder.name == "onnx" and folder.parent.name:
            folder = folder.parent
        return folder.name or DEFAULT_MODEL_NAME

    def __repr__(self) -> str:
        return f"Embedder({str(self.model_dir)!r})"

    @property
    def loaded(self) -> bool:
        return self._session is not None

    # ------------------------------------------------------------------ loading
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
            opts.intra_op_num_threads = os.cpu_count() or 1
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            session = ort.InferenceSession(
                str(self.model_dir / MODEL_FILE),
                sess_options=opts,
                providers=["CPUExecutionProvider"],
            )
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
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
        with self._run_lock:
            encodings = self._tokenizer.encode_batch([t if t is not None else "" for t in texts])
            # Length-sorted batches keep padding (and wasted compute) to a minimum.
            order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                out[idx] = self._run([encodings[i] for i in idx])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text; returns float32 (384,), unit norm."""
        return self.embed([text])[0]

    def _run(self, encodings: list[Any]) -> np.ndarray:
        n = len(encodings)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            k = len(enc.ids)
            ids[row, :k] = enc.ids
            mask[row, :k] = enc.attention_mask
            types[row, :k] = enc.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feed = {k: v for k, v in feed.items() if k in self._input_names}
        hidden = self._session.run(None, feed)[0]  # (n, width, 384)
        m = mask[:, :, None].astype(np.float32)
        summed = (hidden * m).sum(axis=1)
        pooled = summed / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_cache: dict[Path, Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(configured: str | Path | None) -> Embedder | None:
    """The process-wide Embedder for ``configured`` (see resolve_model_dir), or None."""
    folder = resolve_model_dir(configured)
    if folder is None:
        return None
    with _cache_lock:
        emb = _cache.get(folder)
        if emb is None:
            emb = _cache[folder] = Embedder(folder)
        return emb
