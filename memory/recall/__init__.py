"""Recall: hybrid search (vectors, BM25, BM25 in context, dates) fused and ranked."""
