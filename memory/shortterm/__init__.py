"""The short-term tier: Redis (the embedded Valkey server or REDIS_URL) with SQLite as the fallback when no server can be had."""
