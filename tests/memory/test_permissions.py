"""Everything under the data dir is owner-only: dirs 0700, files 0600, whoever created them
(SQLite, Chroma's Rust core, Valkey, the log handler, backups), whatever the user's umask."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from memory.config import load_settings
from memory.logs import setup_logging
from memory.store import MemoryStore
from memory.transfer.backup import backup


@pytest.fixture
def open_umask():
    """A usual login umask (022): files come out world-readable unless memchat prevents it."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _modes(root) -> dict[str, int]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                out[os.path.relpath(p, root)] = stat.S_IMODE(st.st_mode)
    return out


def test_every_dir_and_file_under_the_data_dir_is_private(home, open_umask):
    # What an older memchat left: backups/ and a log file readable by everyone (in a data dir
    # it created 0700: the mode of a folder memchat did not create is left alone, see
    # tests/tui/test_cli_robustness.py).
    home.mkdir(mode=0o700)
    (home / "backups" / "memchat-old").mkdir(parents=True)
    (home / "backups" / "memchat-old" / "manifest.json").write_text("{}")
    (home / "logs").mkdir()
    (home / "logs" / "memchat.log.1").write_text("old log\n")
    (home / "logs" / "memchat.log.1").chmod(0o644)
    stranger = home.parent / "not-memchat"  # beside the data dir: never touched
    stranger.mkdir(mode=0o755)

    setup_logging(home / "logs")
    with MemoryStore(load_settings()) as store:  # embedded Valkey (AOF) in the data dir
        store.add_memory("I drink green tea")
        c = store.new_conversation("tea")
        store.add_message(c.id, "user", "what tea do I like?")
        store.index_pending()  # Chroma's SQLite file and HNSW segment files
        assert store.vectors.count(store.profile) == 2
        backup(store.settings)
        logging.getLogger("memchat.test").warning("a log line")
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_memchat", False)]:
        h.flush()
        root.removeHandler(h)
        h.close()

    modes = _modes(home)
    assert any(p.startswith("chroma/") and p.endswith(".bin") for p in modes)
    assert any(p.startswith("backups/memchat-") and p.endswith("chroma.sqlite3") for p in modes)
    assert "logs/memchat.log" in modes and "redis/appendonlydir" in modes
    wrong = {
        p: oct(m) for p, m in modes.items() if m != (0o700 if os.path.isdir(home / p) else 0o600)
    }
    assert wrong == {}
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(stranger).st_mode) == 0o755
