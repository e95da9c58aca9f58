"""The `memchat` console script. Plain `memchat` opens the chat app straight away: the CLI
parser (click, ~20 ms) is only imported when there are arguments to parse.

A command that never reads the terminal (`ask`, `memory list/search/add`, ...) is first
offered to the warm process (tui.warm), which has litellm and the CLI imported already; when
none answers it runs here as always, and then starts one in the background for the next
command (unless `MEMCHAT_WARM_SECONDS=0` or `warm_seconds = 0`).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if len(sys.argv) == 1:
        import gc

        gc.disable()  # until the first screen is painted (see tui.app.run_app)
        from tui.app import run_app

        run_app()
        return
    from tui import warm

    env = dict(os.environ)
    spawn = False
    if warm.seconds_from_env() != 0 and warm.command_of(sys.argv[1:]) is not None:
        code = warm.delegate(sys.argv[1:], env)
        if code is not None:
            sys.exit(code)
        spawn = True
    try:
        run_cli()
    finally:
        if spawn:
            warm.spawn(env)


def run_cli() -> None:
    """The CLI in this process (also what the warm process's child runs)."""
    from tui.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
