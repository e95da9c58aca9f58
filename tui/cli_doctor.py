"""`memchat doctor [--fix]`: one OK/WARN/FAIL line per component, and the repairs it can make;
`memchat config`: where settings live."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from memory.errors import MemchatError

Check = tuple[str, str, str]  # (status, component, detail)


def _vectors(store) -> Check:
    if store.vectors is None:
        return (
            "WARN",
            "vectors",
            "no embedding model: recall is lexical only. Fix: set MEMCHAT_EMBEDDING_MODEL to a folder "
            "holding all-MiniLM-L6-v2 ONNX (model.onnx, tokenizer.json)",
        )
    health = store.vector_health()
    variant = "int8" if store.settings.memory.embedding_int8 else "fp32"
    where = health.where or store.settings.chroma_url or str(store.settings.chroma_path)
    return (
        health.status,
        "vectors",
        f"chroma {where}: {health.detail}, model {health.model or store.settings.embedding_model} ({variant})",
    )


def _model(settings) -> Check:
    try:
        from assistant.errors import AssistantError
        from assistant.model_choice import describe_source, probe, resolve_model
    except ModuleNotFoundError:
        return "WARN", "model", "assistant layer not installed"
    try:
        source = "config"
        if settings.model and os.environ.get("MEMCHAT_MODEL", "").strip() == settings.model.strip():
            source = "env:MEMCHAT_MODEL"  # the settings loader read it from the environment
        choice = resolve_model(settings.model, settings.api_base, source=source)
    except AssistantError as e:
        return "WARN", "model", str(e)
    base = f" via {choice.api_base}" if choice.api_base else ""
    reach = probe(choice)
    where = f"{choice.model}{base} (from {describe_source(choice.source)})"
    if not reach.checked:
        return "OK", "model", f"{where}; {reach.detail}"
    return reach.status, "model", f"{where}: {reach.detail}"


def _worker(store) -> Check | None:
    try:
        from tasks.status import worker_alive
    except ModuleNotFoundError:
        return None
    alive = worker_alive(store)
    if alive:
        return "OK", "worker", alive
    return (
        "WARN",
        "worker",
        "no background worker running; the chat app runs one, or start `memchat worker`",
    )


def _restore_copies(settings) -> Check | None:
    """Copies that `memchat restore --force` kept aside hold the old data (forgotten memories
    included) until removed: say so, and how. (The backups themselves: store.health.backups.)"""
    from memory.facades import Transfer

    copies = Transfer.restore_copies(settings.home)
    if not copies:
        return None
    size = sum(Transfer.size_of(p) for p in copies) / 1e6
    return (
        "WARN",
        "restore copies",
        f"{len(copies)} copies kept by restore ({size:.1f} MB, *.before-restore-*) still "
        "hold the replaced data; `memchat backups` lists them, "
        "`memchat backups --remove-restore-copies` removes them",
    )


def run_checks(settings) -> list[Check]:
    from memory.config import config_path
    from memory.store import MemoryStore

    checks: list[Check] = []
    path = config_path()
    checks.append(
        ("OK", "config", f"{path}" + ("" if path.exists() else " (not present; using defaults)"))
    )

    def attempt(name: str, fn: Callable[[], Check | None]) -> None:
        try:
            result = fn()
        except MemchatError as e:
            result = ("FAIL", name, str(e))
        except Exception as e:  # noqa: BLE001 - doctor reports, it does not crash
            result = ("FAIL", name, f"{type(e).__name__}: {e}")
        if result:
            checks.append(result)

    attempt("data dir", lambda: MemoryStore.check_data_dir(settings))
    try:
        store = MemoryStore(settings)
    except MemchatError as e:
        checks.append(("FAIL", "sqlite", str(e)))
        return checks
    with store:
        attempt("sqlite", store.health.sqlite)
        attempt("redis", store.health.redis)
        attempt("vectors", lambda: _vectors(store))
        attempt("model", lambda: _model(settings))
        attempt("worker", lambda: _worker(store))
        attempt("backups", store.health.backups)
    attempt("restore copies", lambda: _restore_copies(settings))
    attempt("warm", lambda: _warm(settings))
    return checks


def _warm(settings) -> Check:
    """Informational: whether the warm process (tui.warm) runs; never a WARN."""
    from tui import warm

    seconds = warm.seconds_from_env()
    if (seconds if seconds is not None else getattr(settings, "warm_seconds", 1)) == 0:
        return "OK", "warm", "the warm process is off (warm_seconds = 0)"
    reply = warm.request("status")
    if reply is None:
        return "OK", "warm", "no warm process; the next `ask`/`memory` command starts one"
    return (
        "OK",
        "warm",
        f"warm process pid {reply['server']}, served {reply['served']}, {reply['rss_mb']} MB, exits after "
        f"{reply['idle_seconds']} s idle (`memchat warm --stop` stops it)",
    )


# ---------------------------------------------------------------------- repairs (--fix)
def _fix_vectors(store) -> list[Check]:
    if store.vectors is None:
        return [("WARN", "vectors", "no embedding model: nothing to index (see the vectors line)")]
    out: list[Check] = []
    waiting = store.index_backlog()
    applied = store.index_pending() if waiting else 0
    if waiting:
        left = store.index_backlog()
        status = "FIXED" if not left else "WARN"
        out.append((status, "vectors", f"replayed {applied} index outbox entries ({left} left)"))
    for profile in store.profiles():
        p = store if profile == store.profile else store.for_profile(profile)
        health = p.vector_health()
        have, want = health.actual, health.expected
        if have != want:
            n = p.reindex()
            out.append(
                (
                    "FIXED",
                    "vectors",
                    f"profile {profile}: {have} vectors for {want} items; rebuilt ({n} indexed)",
                )
            )
    if not out:
        out.append(("OK", "vectors", "index outbox empty; vector counts match SQLite"))
    return out


def _fix_tasks(store) -> Check | None:
    try:
        from tasks import api as tasks_api
    except ImportError:
        return None
    if store.short_term_status().degraded:
        return "WARN", "worker", "no Redis: failed pipeline tasks cannot be requeued"
    n = tasks_api.retry_failed(store)
    # Jobs the queue lost (its AOF damaged or deleted) are queued again from SQLite.
    caught_up = tasks_api.catch_up(store)
    done = []
    if n:
        done.append(f"requeued {n} failed pipeline tasks")
    if caught_up:
        done.append(f"queued extraction for {caught_up} conversation(s) with turns not extracted")
    if done:
        return "FIXED", "worker", "; ".join(done)
    return "OK", "worker", "no failed pipeline tasks; nothing left unextracted"


def run_fixes(settings) -> list[Check]:
    """Repair what can be repaired, one line per repair (FIXED, OK, WARN or FAIL)."""
    from memory.store import MemoryStore

    fixes: list[Check] = []

    def attempt(name: str, fn: Callable[[], Check | list[Check] | None]) -> None:
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 - report and carry on with the next repair
            result = ("FAIL", name, f"could not repair: {type(e).__name__}: {e}")
        if isinstance(result, list):
            fixes.extend(result)
        elif result:
            fixes.append(result)

    attempt("data dir", lambda: MemoryStore.repair_data_dir(settings))
    stale: list[str] = []
    attempt("redis", lambda: stale.extend(MemoryStore.stale_server_files(settings)))
    aof_moved: list[Check] = []

    def damaged_aof() -> Check | None:
        fixed = MemoryStore.repair_damaged_aof(settings)
        if fixed is not None and fixed[0] == "FIXED":
            aof_moved.append(fixed)
        return fixed

    attempt("redis", damaged_aof)
    try:
        store = MemoryStore(settings)
    except MemchatError as e:
        return [*fixes, ("FAIL", "sqlite", str(e))]
    with store:
        attempt("redis", lambda: store.health.fix_redis(stale))
        if aof_moved:  # Redis starts empty: its state comes back from SQLite
            attempt("redis", store.health.rebuild_short_term)
        attempt("sqlite", store.health.fix_wal)
        attempt("vectors", lambda: _fix_vectors(store))
        attempt("worker", lambda: _fix_tasks(store))
        attempt("backups", store.health.fix_backups)
    return fixes


COLORS = {"OK": "green", "WARN": "yellow", "FAIL": "red", "FIXED": "cyan"}


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--fix", is_flag=True, help="Repair what can be repaired first, and say what was done."
)
def doctor(as_json: bool, fix: bool) -> None:
    """Check the data dir, SQLite, Redis, vectors, the model and the worker.

    Each line is OK, WARN (works, degraded) or FAIL; exits 1 when anything FAILs.

    \b
    --fix first repairs, one FIXED/OK line each:
      data dir   folders 700, files 600
      redis      stale pidfile/socket of a crashed embedded server removed, server restarted;
                 a damaged append-only file moved aside, short-term memory rebuilt from SQLite
      sqlite     WAL checkpointed and truncated
      vectors    index outbox replayed; a profile whose vector count differs from SQLite
                 is rebuilt
      worker     failed pipeline tasks requeued; extraction queued again for conversations
                 with turns not extracted (jobs a lost queue held)
      backups    folders of interrupted backups removed

    \b
      memchat doctor
      memchat doctor --fix
      memchat doctor --json
    """
    from tui.settings import load_settings

    settings = load_settings()
    fixes = run_fixes(settings) if fix else []
    checks = run_checks(settings)
    if as_json:
        from tui.output import print_json

        rows = [{"status": s, "component": c, "detail": d} for s, c, d in checks]
        if fix:
            print_json(
                {
                    "fixes": [{"status": s, "component": c, "detail": d} for s, c, d in fixes],
                    "checks": rows,
                }
            )
        else:
            print_json(rows)
    else:
        if fix:
            click.echo("repairs:")
            _print(fixes)
            click.echo("checks:")
        _print(checks)
    if any(s == "FAIL" for s, _, _ in [*fixes, *checks]):
        raise SystemExit(1)


def _print(lines: list[Check]) -> None:
    for s, c, d in lines:
        click.echo(click.style(f"{s:<5}", fg=COLORS[s], bold=True) + f" {c:<9} {d}")


@click.command("config")
def config_cmd() -> None:
    """Show where the config file is and every setting with its current value."""
    from memory.config import config_path
    from tui.settings import describe_fields, load_settings

    settings = load_settings()
    click.echo(f"config file: {config_path()}")
    click.echo(f"data dir:    {settings.home}")
    click.echo("")
    for name, _default, desc in describe_fields():
        value: Any = settings
        for part in name.split("."):
            value = getattr(value, part)
        if name == "system_prompt":
            value = str(value)[:40] + "…"
        click.echo(f"{name:<32} = {value!r}\n    {desc}")
