"""What the chat app's module imports before its first screen (issue #18: the first screen
within 1.3x of a bare Textual app, docs/benchmarks.md "Startup"). Everything listed here is
imported on first use, after the first paint; importing it at module level again costs the
start its import (and, in a checkout without bytecode, its compilation)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # not `from conftest`: tests/tasks has one too

NOT_BEFORE_FIRST_SCREEN = (
    # the backend, opened in a thread after the first paint
    "memory.store",
    "assistant.assistant",
    "litellm",
    "chromadb",
    "redis",
    "sqlite_utils",
    "pydantic",
    # the CLI parser: plain `memchat` skips it
    "click",
    # screens and widgets the first screen does not show
    "tui.screens.inspector",
    "tui.screens.dialogs",
    "tui.screens.help",
    "tui.widgets.message",
    "tui.widgets.memories",
    # stdlib modules only a later action uses
    "json",
)


def test_the_app_module_leaves_what_the_first_screen_does_not_show_unimported():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", "import sys, tui.app; print('\\n'.join(sys.modules))"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert "tui.screens.chat" in out  # the probe itself works
    assert sorted(m for m in NOT_BEFORE_FIRST_SCREEN if m in out) == []
