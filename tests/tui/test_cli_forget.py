"""`memchat forget --all` and `memory forget --about` name the backups that still hold what
was forgotten, and leave them alone."""

from __future__ import annotations

from click.testing import CliRunner

from memory.config import load_settings
from memory.store import MemoryStore
from memory.transfer.backup import backup
from tests.canary import files_containing
from tui.cli import cli

CANARY = "Quokkabackupcanary"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_forget_all_names_the_backups_holding_the_profile(redis_url, home):
    with MemoryStore(load_settings(), profile="work") as s:
        s.add_memory(f"codename {CANARY}")
        kept = backup(s.settings, home / "backups" / "before")

    r = run("--profile", "work", "forget", "--all", "--yes")
    assert r.exit_code == 0, r.output
    assert "forgot profile 'work': 1 memory," in r.output
    assert "1 backup(s) made before still hold this profile" in r.output and str(kept) in r.output
    assert files_containing(kept, CANARY)  # not deleted
    assert files_containing(home, CANARY, exclude=("backups",)) == []


def test_memory_forget_about_names_the_backups_holding_it(redis_url, home):
    with MemoryStore(load_settings()) as s:
        s.add_memory(f"the cat is {CANARY}")
        kept = backup(s.settings, home / "backups" / "before")

    r = run("memory", "forget", "--about", CANARY.lower(), "--yes")
    assert r.exit_code == 0, r.output
    assert "forgot 1 memory" in r.output
    assert "note: 1 backup(s) made before still hold it" in r.output and str(kept) in r.output
    assert files_containing(home, CANARY, exclude=("backups",)) == []
