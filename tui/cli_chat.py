"""`memchat chat` (also plain `memchat`) and `memchat inspect`: open the Textual app.

Only the app module is imported here; it loads memory, litellm and chromadb after the first
screen is shown.
"""

from __future__ import annotations

import click


def _run(start: str) -> None:
    from tui.app import MemchatApp

    MemchatApp(start=start).run()


@click.command()
def chat() -> None:
    """Open the chat app (the default command)."""
    _run("chat")


@click.command()
def inspect() -> None:
    """Open the app on the memory inspector."""
    _run("inspector")
