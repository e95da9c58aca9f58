"""`memchat chat` (also plain `memchat`): open the app; `chat list` and `chat export` read
conversations without it. `memchat inspect` opens the app on the memory inspector.

Opening the app imports only the app module; it loads memory, litellm and chromadb after the
first screen is shown.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import click


def _run(start: str) -> None:
    from tui.app import run_app

    run_app(start)


@click.group(invoke_without_command=True)
@click.pass_context
def chat(ctx: click.Context) -> None:
    """Open the chat app (the default command), or list and export conversations.

    \b
      memchat chat                          open the app
      memchat chat list                     conversations, most recent first
      memchat chat list --json              the same for scripts
      memchat chat export 3f2a              one conversation as Markdown on stdout
      memchat chat export 3f2a --format json -o chat.json
      memchat chat export --all -o chats/   one file per conversation in chats/
      memchat chat export --all --format json > all.json   one JSON document
    """
    if ctx.invoked_subcommand is None:
        _run("chat")


@click.command()
def inspect() -> None:
    """Open the app on the memory inspector."""
    _run("inspector")


def _conversations(store, archived: bool) -> list:
    # Incognito chats are never stored (memory.ephemeral), so they are never listed.
    return store.list_conversations(archived=None if archived else False, limit=1_000_000)


def export_text(store, conversation_id: str, fmt: str) -> str:
    """One conversation as text; secrets never leave (storage holds none, and the export
    redacts its output again)."""
    text = store.transfer.export_conversation(conversation_id, fmt)
    return text + "\n" if fmt == "json" else text


def export_filename(c, fmt: str) -> str:
    day = datetime.fromtimestamp(c.created_at, tz=UTC).strftime("%Y-%m-%d")
    slug = re.sub(r"[^a-z0-9]+", "-", (c.title or "untitled").lower()).strip("-")[:40] or "chat"
    return f"{day}-{slug}-{c.id[:8]}.{'md' if fmt == 'markdown' else 'json'}"


@chat.command("list")
@click.option("--archived", is_flag=True, help="Include archived conversations.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (id, title, counts, times).")
def list_cmd(archived: bool, as_json: bool) -> None:
    """List this profile's conversations, most recent first.

    \b
      memchat chat list
      memchat --profile work chat list --json
    """
    from rich.table import Table

    from tui.cli import open_store
    from tui.output import console, print_json, safe, when

    with open_store(start_redis=False) as store:
        rows = []
        for c in _conversations(store, archived):
            n = store.message_count(c.id)
            rows.append(
                {
                    "id": c.id,
                    "title": c.title,
                    "messages": int(n or 0),
                    "model": c.model,
                    "archived": c.archived,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                }
            )
        profile = store.profile
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"no conversations in profile {profile!r}")
        return
    t = Table(title=f"{len(rows)} conversations · profile {profile}", title_justify="left")
    for col in ("id", "title", "messages", "updated"):
        t.add_column(col, justify="right" if col == "messages" else "left")
    for r in rows:
        title = safe(r["title"] or "untitled", 60) + (" (archived)" if r["archived"] else "")
        t.add_row(r["id"][:8], title, str(r["messages"]), when(r["updated_at"]))
    console().print(t)


@chat.command("export")
@click.argument("conversation_id", required=False, metavar="[ID]")
@click.option("--all", "everything", is_flag=True, help="Export every conversation.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="A file (one conversation) or a folder (--all: one file per conversation).",
)
@click.option("--archived", is_flag=True, help="With --all: include archived conversations.")
def export_cmd(
    conversation_id: str | None, everything: bool, fmt: str, output: Path | None, archived: bool
) -> None:
    """Export conversation ID (any unique prefix), or --all of them. Secrets are never exported.

    \b
    One conversation goes to stdout, or to the file -o names.
    With --all and -o DIR: one file per conversation in DIR
      (DATE-TITLE-ID.md or .json), created if needed.
    With --all and no -o: markdown documents one after another, or,
      with --format json, one JSON document {"profile", "conversations": [...]}.

    \b
      memchat chat export 3f2a > chat.md
      memchat chat export 3f2a --format json -o chat.json
      memchat chat export --all -o chats/
      memchat chat export --all --format json > all.json
    """
    from memory.facades import Transfer
    from tui.cli import open_store

    if bool(conversation_id) == everything:
        raise click.UsageError("give a conversation ID or --all (not both)")
    with open_store(start_redis=False) as store:
        if conversation_id:
            text = export_text(store, store.get_conversation(conversation_id).id, fmt)
            if output:
                _write(output, text)
                click.echo(f"exported to {output}", err=True)
            else:
                sys.stdout.write(text)
            return
        convs = _conversations(store, archived)
        if output:
            Transfer.private_dir(output)
            for c in convs:
                _write(output / export_filename(c, fmt), export_text(store, c.id, fmt))
            click.echo(f"exported {len(convs)} conversations to {output}", err=True)
        elif fmt == "json":
            doc = {
                "profile": store.profile,
                "conversations": [json.loads(export_text(store, c.id, "json")) for c in convs],
            }
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        else:
            for i, c in enumerate(convs):
                sys.stdout.write(("\n---\n\n" if i else "") + export_text(store, c.id, "markdown"))


def _write(path: Path, text: str) -> None:
    from memory.errors import MemchatError
    from memory.facades import Transfer

    try:
        Transfer.write_text(path, text)
    except MemchatError as e:
        raise click.ClickException(str(e)) from None
