"""The SQLite tier, memchat's system of record: connection, numbered migrations, long-term memories, conversations and messages, full-text indexes, deferred jobs."""
