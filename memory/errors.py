"""Errors the memory layer raises. Each message tells the user what to do next."""


class MemchatError(Exception):
    """Base class: str(error) is a one-line message fit to show a user."""


class ConfigError(MemchatError):
    """The config file or an environment variable is invalid."""


class DataDirError(MemchatError):
    """The data directory cannot be created, read or written."""


class StorageError(MemchatError):
    """The SQLite database is locked, corrupt or full."""


class ShortTermUnavailable(MemchatError):
    """Redis cannot be reached; memchat falls back to SQLite for short-term data."""


class NotFound(MemchatError):
    """No memory, conversation or message with that id (or id prefix)."""
