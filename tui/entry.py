"""The `memchat` console script. Plain `memchat` opens the chat app straight away: the CLI
parser (click, ~20 ms) is only imported when there are arguments to parse."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) == 1:
        from tui.app import run_app

        run_app()
        return
    from tui.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
