"""memchat's memory layer: SQLite long-term tier, Redis short-term tier, Chroma vectors.

Import the facade with ``from memory.store import MemoryStore`` (kept out of this module so
``import memory.models`` stays cheap for the UI).
"""
