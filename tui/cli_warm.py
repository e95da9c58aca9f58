"""`memchat warm`: see, start or stop the warm process (tui.warm)."""

from __future__ import annotations

import os
import signal
import time

import click

from memory.proc import pid_alive
from tui import warm


@click.command("warm")
@click.option("--status", "show", is_flag=True, help="Say whether it runs (the default).")
@click.option("--start", is_flag=True, help="Start it now and wait until it answers.")
@click.option("--stop", is_flag=True, help="Stop it (after the commands it runs).")
def warm_cmd(show: bool, start: bool, stop: bool) -> None:
    """The warm process: a background memchat with litellm and the CLI imported, which runs
    `ask`, `memory list/search/add`... for this and every later command in a fraction of
    the time. It exits after `warm_seconds` idle (MEMCHAT_WARM_SECONDS; 0 turns it off).
    """
    if start and stop:
        raise click.UsageError("--start or --stop, not both")
    if stop:
        reply = warm.request("stop")
        pid = reply["server"] if reply else warm.lock_holder()
        if pid is None:
            click.echo("no warm process runs")
            return
        if reply is None:  # still starting (importing): nothing to wait for
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 30
        while pid_alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        click.echo(f"stopped the warm process (pid {pid})")
        return
    if start and warm.request("status") is None:
        if warm.seconds_from_env() == 0:
            raise click.ClickException("the warm process is off (MEMCHAT_WARM_SECONDS=0)")
        warm.spawn(dict(os.environ))
        deadline = time.time() + 60
        while warm.request("status") is None and time.time() < deadline:
            time.sleep(0.1)
    reply = warm.request("status")
    if reply is None:
        click.echo(
            "no warm process runs" + (" (it did not start: see warm_seconds)" if start else "")
        )
        raise SystemExit(1 if start else 0)
    click.echo(
        f"warm process pid {reply['server']}: up {reply['uptime']} s, served {reply['served']} "
        f"command(s), {reply['running']} running, exits after {reply['idle_seconds']} s idle, "
        f"{reply['rss_mb']} MB; log {reply['log']}"
    )
