"""Data ownership commands: export, import, backup, restore, profiles."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from memory.models import SECTIONS
from tui.cli import open_store
from tui.output import console, plural, print_json


@click.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "json", "markdown"]),
    default="jsonl",
    show_default=True,
)
@click.option("--section", "-s", type=click.Choice(SECTIONS))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
def export_cmd(fmt: str, section: str | None, output: Path | None) -> None:
    """Export this profile's memories with full fields, provenance and history.

    \b
    memchat memory export > memories.jsonl
    memchat memory export --format markdown -o memories.md
    """
    with open_store(start_redis=False) as store:
        if output:
            store.transfer.write_export(
                output, fmt, section
            )  # all or nothing: no cut-off file is left
            click.echo(f"exported to {output}", err=True)
        else:
            try:
                for chunk in store.transfer.export_memories(fmt, section):
                    sys.stdout.write(chunk)
                sys.stdout.flush()
            except OSError as e:  # e.g. `> file` on a full disk
                # what is still buffered cannot be written either: drop it, not a second error at exit
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise store.transfer.write_failed("standard output", e) from None


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid records even if some are bad.")
@click.option("--json", "as_json", is_flag=True)
def import_cmd(file: Path, skip_invalid: bool, as_json: bool) -> None:
    """Import memories from FILE (memchat JSONL/JSON, or the seeds' key/value JSON).

    Every record is validated first; with any bad record nothing is written unless
    --skip-invalid. Importing the same file twice adds nothing.
    """
    from rich.progress import Progress

    from memory.facades import Transfer

    report = Transfer.read_import(file)
    for n, reason in report.errors[:50]:
        click.echo(f"{file}:{n}: {reason}", err=True)
    if len(report.errors) > 50:
        click.echo(f"... and {len(report.errors) - 50} more bad records", err=True)
    if report.errors and not skip_invalid:
        click.echo(Transfer.import_formats(), err=True)
        click.echo(
            f"memchat: {len(report.errors)} bad record(s); nothing imported "
            "(fix them, or pass --skip-invalid to import the rest)",
            err=True,
        )
        raise SystemExit(1)
    with open_store() as store:
        with Progress(console=console(), transient=True, disable=len(report.records) < 500) as bar:
            task = bar.add_task("importing", total=len(report.records))
            store.transfer.apply_import(
                report, progress=lambda done, total: bar.update(task, completed=done)
            )
        index = getattr(store, "index_pending", None)
        if index:
            index()
    summary = {
        "added": report.added,
        "already_present": report.skipped_existing,
        "invalid": len(report.errors),
    }
    if as_json:
        print_json(summary)
    else:
        click.echo(
            f"imported {report.added}, already present {report.skipped_existing}, "
            f"skipped invalid {len(report.errors)}"
        )


@click.command("backup")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
def backup_cmd(path: Path | None) -> None:
    """Back up everything (all profiles) to PATH (default: a dated folder in the data dir)."""
    with open_store(start_redis=False) as store:
        dest = store.transfer.backup(path)
    click.echo(f"backup written to {dest}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Replace an existing database (it is kept aside, not deleted)."
)
def restore_cmd(path: Path, force: bool) -> None:
    """Restore a backup made by `memchat backup` into the data dir. Stop other memchat processes first."""
    from memory.facades import Transfer
    from tui.settings import load_settings

    settings = load_settings()
    manifest = Transfer.restore(path, settings.home, force=force)
    profiles = ", ".join(
        f"{p} ({plural(c.get('memories', 0), 'memory', 'memories')})"
        for p, c in manifest["profiles"].items()
    )
    click.echo(f"restored into {settings.home}: {profiles or 'no data'}")
    kept = Transfer.restore_copies(settings.home)
    if kept:
        click.echo(
            f"the replaced data is kept aside ({len(kept)} files/folders named *.before-restore-*); "
            "`memchat backups` lists them, `memchat backups --remove-restore-copies` removes them"
        )
    with open_store(start_redis=False) as store:
        if store.vectors is not None:
            n = store.reindex() if hasattr(store, "reindex") else 0
            click.echo(f"vector index rebuilt: {n} items")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


@click.command("backups")
@click.option(
    "--remove-restore-copies",
    is_flag=True,
    help="Delete the *.before-restore-* copies that `memchat restore --force` kept aside.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def backups_cmd(remove_restore_copies: bool, yes: bool) -> None:
    """List backups in the data dir and the copies restores kept aside (and remove those).

    \b
      memchat backups
      memchat backups --remove-restore-copies
    """
    from memory.config import load_settings
    from memory.facades import Transfer

    home = load_settings().home
    copies = Transfer.restore_copies(home)
    if remove_restore_copies:
        if not copies:
            click.echo("no copies kept by restore")
            return
        for p in copies:
            click.echo(f"  {p}  {_size(Transfer.size_of(p))}")
        if not yes:
            click.confirm(
                f"Delete these {len(copies)} copies kept by restore? This cannot be undone",
                abort=True,
            )
        removed = Transfer.remove_restore_copies(home)
        click.echo(f"removed {len(removed)} restore copies")
        return
    backups = Transfer.list_backups(home)
    click.echo(f"backups in {home / 'backups'}: {len(backups) or 'none'}")
    for p in backups:
        click.echo(f"  {p.name}  {_size(Transfer.size_of(p))}")
    click.echo(f"copies kept by restore in {home}: {len(copies) or 'none'}")
    for p in copies:
        click.echo(f"  {p.name}  {_size(Transfer.size_of(p))}")
    if copies:
        click.echo("remove them with `memchat backups --remove-restore-copies`")


@click.command("profiles")
@click.option("--json", "as_json", is_flag=True)
def profiles_cmd(as_json: bool) -> None:
    """List profiles with their memory and message counts."""
    with open_store(start_redis=False) as store:
        rows = store.profile_counts()
        current = store.profile
    if as_json:
        print_json(rows)
        return
    if not any(r["profile"] == current for r in rows):
        rows.append({"profile": current, "memories": 0, "messages": 0})
    for r in rows:
        mark = "*" if r["profile"] == current else " "
        click.echo(
            f"{mark} {r['profile']:<20} {plural(r['memories'] or 0, 'memory', 'memories'):>16} "
            f"{plural(r['messages'] or 0, 'message'):>14}"
        )


@click.command("forget")
@click.option("--all", "everything", is_flag=True, required=True, help="Forget the whole profile.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def forget_all_cmd(everything: bool, yes: bool) -> None:
    """Remove every trace of the current profile from every tier (SQLite, Chroma, Redis and its AOF).

    Backups in the data dir are left alone: delete them from `<data dir>/backups` if they must go too.
    """
    with open_store() as store:
        if not yes:
            click.confirm(
                f"Forget everything in profile {store.profile!r}: all memories, conversations and "
                "short-term state? This cannot be undone",
                abort=True,
            )
        counts = store.forgetting.profile()
        kept = store.forgetting.backups_with_profile()
    click.echo(
        f"forgot profile {store.profile!r}: "
        f"{plural(counts.get('memories', 0), 'memory', 'memories')}, "
        f"{plural(counts.get('messages', 0), 'message')}, "
        f"{plural(counts.get('conversations', 0), 'conversation')}, "
        f"{plural(counts.get('redis_keys', 0), 'short-term key')}"
    )
    if kept:
        click.echo(
            f"note: {len(kept)} backup(s) made before still hold this profile (not deleted; remove "
            "them yourself if it must go from there too): " + ", ".join(kept),
            err=True,
        )
