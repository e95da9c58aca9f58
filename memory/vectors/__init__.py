"""The vector tier: the offline ONNX embedder, the Chroma index (one writer at a time across processes) and the outbox replay that feeds it."""
