"""`memchat memory …`: add, list, search, show, edit, pin, forget, history."""

from __future__ import annotations

import click

from memory.models import SECTIONS
from tui.cli import open_store
from tui.output import console, plural, print_json, safe, when


@click.group()
def memory() -> None:
    """See and change what memchat remembers."""


def _register_transfer_commands() -> None:
    from tui.cli_data import export_cmd, import_cmd

    memory.add_command(export_cmd)
    memory.add_command(import_cmd)


_register_transfer_commands()


@memory.command("add")
@click.argument("text", nargs=-1, required=True)
@click.option(
    "--section",
    "-s",
    type=click.Choice(SECTIONS),
    default=None,
    help="Where it goes (default: facts; temporary with --for).",
)
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeat for more).")
@click.option("--key", help="A key, for key/value memories such as preferences.")
@click.option(
    "--for",
    "lifetime",
    metavar="DURATION",
    help="Remember it only for this long (30m, 2h, 3d): recalled until then, then dropped.",
)
@click.option("--pin", is_flag=True, help="Pin it: always a candidate for recall.")
@click.option("--importance", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option(
    "--scope",
    default="global",
    show_default=True,
    metavar="SCOPE",
    help="global, project:NAME (recalled only in that project's conversations) or "
    "conversation:ID (only in that conversation).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored memory as JSON.")
def add(
    text: tuple[str, ...],
    section: str | None,
    tags: tuple[str, ...],
    key: str | None,
    lifetime: str | None,
    pin: bool,
    importance: float,
    scope: str,
    as_json: bool,
) -> None:
    """Remember TEXT.

    \b
    memchat memory add "My cat is called Ziggy" --tag pets
    memchat memory add "dark mode" --section preferences --key theme
    memchat memory add "deploys go through staging first" --scope project:shop
    memchat memory add "the parking spot is 17" --for 3h

    A near-duplicate of a memory already kept is stored all the same, with a warning that
    names it (the Review tab proposes merging the two).
    """
    from memory.facades import Curation

    content = " ".join(text)
    if not content.strip():
        raise click.BadParameter(
            "the memory text is empty: say what to remember, e.g. "
            '`memchat memory add "I prefer tea"`',
            param_hint="TEXT",
        )
    seconds = None
    if lifetime is not None:
        try:
            seconds = Curation.parse_duration(lifetime)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--for") from None
    section = section or ("temporary" if seconds is not None else "facts")
    with open_store() as store:
        if section == "preferences" and key and seconds is None:
            m = store.set_preference(key, content, actor="cli")
        else:
            fields = dict(
                section=section,
                tags=list(tags),
                key=key,
                pinned=pin,
                importance=importance,
                scope=scope,
                actor="cli",
            )
            try:
                if seconds is not None:
                    m = store.add_temporary(content, seconds, **fields)
                else:
                    m = store.add_memory(content, **fields)
            except ValueError as e:
                hint = "--scope" if "scope" in str(e) else None
                raise click.BadParameter(str(e), param_hint=hint) from None
        store_index(store)
        near = _near_duplicates(store, m.id)
    if as_json:
        print_json(m)
    else:
        until = f" until {when(m.expires_at)}" if m.expires_at else ""
        click.echo(f"remembered {m.id[:8]} [{m.section}]{until} {safe(m.content, 80)}")
    for item in near:
        other = item.other
        assert other is not None
        click.echo(
            f"warning: near-duplicate of {other.id[:8]} ({item.detail}): {safe(other.content, 80)}"
            " -- the inspector's Review tab (F2) proposes merging them",
            err=True,
        )


def _near_duplicates(store, memory_id: str) -> list:
    """Near-duplicates of a new memory (none when the vector tier is unavailable)."""
    try:
        return store.curation.near_duplicates(memory_id)
    except Exception:  # noqa: BLE001 - a warning is a bonus, the memory is stored
        return []


def store_index(store) -> None:
    """Bring the vector tier up to date when it is available (no-op otherwise)."""
    index = getattr(store, "index_pending", None)
    if index is not None:
        index()


@memory.command("list")
@click.option("--section", "-s", type=click.Choice(SECTIONS))
@click.option("--limit", "-n", type=click.IntRange(1), default=50, show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Include deleted and pending memories.")
@click.option("--json", "as_json", is_flag=True)
def list_(section: str | None, limit: int, show_all: bool, as_json: bool) -> None:
    """List memories, pinned first, then most recently changed."""
    status = None if show_all else "active"
    with open_store(start_redis=False) as store:
        rows = store.list_memories(section=section, limit=limit, status=status)
        total = store.count_memories(section=section, status=status)
        by_status: dict[str, int] = {}
        if show_all:
            for st in ("active", "pending", "deleted"):
                by_status[st] = store.count_memories(section=section, status=st)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    counts = f"{len(rows)} of {plural(total, 'memory', 'memories')}"
    if len(rows) == total:
        counts = plural(total, "memory", "memories")
    if show_all:
        counts += " (" + ", ".join(f"{n} {st}" for st, n in by_status.items() if n) + ")"
    t = Table(title=f"{counts} · profile {store.profile}", title_justify="left")
    cols = ["id", "section", "memory", "tags", "updated"]
    if show_all:
        cols.insert(1, "status")
    for col in cols:
        t.add_column(col, overflow="fold" if col == "memory" else "ellipsis")
    for m in rows:
        mark = "📌 " if m.pinned else ""
        status_text = "superseded" if m.superseded_by else m.status
        row = [m.id[:8], m.section, mark + safe(m.content, 100), ",".join(m.tags)]
        row.append(when(m.updated_at))
        if show_all:
            row.insert(1, status_text)
        style = "dim" if status_text in ("deleted", "superseded") else None
        t.add_row(*row, style=style)
    console().print(t)


@memory.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", "-n", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def search(query: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Find memories (and past chat turns) relevant to QUERY, with scores and sources."""
    text = " ".join(query)
    with open_store() as store:
        hits = store.recall(text, limit=limit, token_budget=None)
    if as_json:
        print_json(hits)
        return
    if not hits:
        click.echo("nothing relevant remembered")
        return
    from rich.table import Table

    t = Table(title=f"recall for {safe(text, 60)!r}", title_justify="left")
    for col in ("score", "id", "kind", "memory", "why", "source"):
        t.add_column(col, overflow="fold" if col == "memory" else "ellipsis")
    for h in hits:
        why = " ".join(f"{k[:3]}={v:.2f}" for k, v in h.scores.items() if v)
        src = (h.provenance.conversation_id or "")[:8]
        if h.provenance.message_ids:
            src += f" msg {h.provenance.message_ids[0][:8]}"
        t.add_row(f"{h.score:.3f}", h.id[:8], h.section, safe(h.text, 120), why, src)
    console().print(t)


@memory.command("show")
@click.argument("memory_id")
@click.option("--json", "as_json", is_flag=True)
def show(memory_id: str, as_json: bool) -> None:
    """Show one memory in full, with its history."""
    with open_store(start_redis=False) as store:
        m = store.get_memory(memory_id)
        history = store.memory_history(m.id)
    if as_json:
        print_json({"memory": m, "history": history})
        return
    c = console()
    c.print(f"[bold]{m.id}[/] [{m.section}] {'📌 pinned' if m.pinned else ''}")
    c.print(safe(m.content))
    c.print(
        f"tags: {', '.join(m.tags) or '-'}  importance {m.importance:.2f}  confidence {m.confidence:.2f}  "
        f"status {m.status}  used {m.access_count}×"
    )
    if m.source_message_ids:
        c.print(
            f"source: conversation {(m.source_conversation_id or '?')[:8]}, messages "
            + ", ".join(i[:8] for i in m.source_message_ids)
        )
    if m.superseded_by:
        c.print(f"superseded by {m.superseded_by[:8]}")
    c.print("[bold]history[/]")
    for h in history:
        c.print(f"  {when(h.at)}  {h.action:<10} by {h.actor}  {safe(h.reason, 80)}")


@memory.command("edit")
@click.argument("memory_id")
@click.argument("text", nargs=-1, required=True)
def edit(memory_id: str, text: tuple[str, ...]) -> None:
    """Replace a memory's text (the old text stays in its history)."""
    with open_store() as store:
        m = store.update_memory(memory_id, content=" ".join(text), actor="cli", reason="edited")
        store_index(store)
    click.echo(f"updated {m.id[:8]}: {safe(m.content, 80)}")


@memory.command("pin")
@click.argument("memory_id")
@click.option("--off", is_flag=True, help="Unpin instead.")
def pin(memory_id: str, off: bool) -> None:
    """Pin a memory so recall always considers it (or --off to unpin)."""
    with open_store() as store:
        m = store.pin_memory(memory_id, not off, actor="cli")
        store_index(store)
    click.echo(f"{'unpinned' if off else 'pinned'} {m.id[:8]}")


@memory.command("forget")
@click.argument("memory_id", required=False)
@click.option(
    "--about", "about", metavar="TEXT", help="Forget every memory and chat turn mentioning TEXT."
)
@click.option(
    "--now", "now_", is_flag=True, help="Remove it everywhere at once instead of a soft delete."
)
@click.option(
    "--keep-messages", is_flag=True, help="With --about: keep chat turns (they may teach it again)."
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--dry-run", is_flag=True, help="With --about: list what would be forgotten; change nothing."
)
def forget(
    memory_id: str | None,
    about: str | None,
    now_: bool,
    keep_messages: bool,
    yes: bool,
    dry_run: bool,
) -> None:
    """Forget a memory, or everything about a topic.

    \b
    memchat memory forget 1a2b3c          soft delete (undo with `memory restore`)
    memchat memory forget 1a2b3c --now    remove from SQLite, history, vectors, Redis
    memchat memory forget --about "Ziggy" remove every memory and chat turn about it
    memchat memory forget --about "Ziggy" --dry-run   only list what that would remove
    """
    if bool(memory_id) == bool(about):
        raise click.UsageError("give a memory id or --about TEXT")
    if dry_run and not about:
        raise click.UsageError("--dry-run goes with --about TEXT")
    with open_store(start_redis=not dry_run) as store:
        if about:
            preview = store.forgetting.preview_about(about, include_messages=not keep_messages)
            if dry_run or not yes:
                show_forget_preview(preview, store.profile)
            if dry_run:
                click.echo("dry run: nothing was changed")
                return
            if preview.empty:
                click.echo(
                    f"nothing in memories, chats or titles mentions {about!r}; "
                    "short-term copies (prompt history, session state) are cleaned anyway"
                )
            if not yes:
                click.confirm(
                    f"Forget all of this about {about!r} in profile {store.profile!r}, in every "
                    "tier? This cannot be undone",
                    abort=True,
                )
            report = store.forgetting.about(about, include_messages=not keep_messages)
        elif now_:
            report = store.forgetting.memory(memory_id)
        else:
            m = store.delete_memory(memory_id, actor="cli")
            store_index(store)
            click.echo(
                f"forgot {m.id[:8]}; `memchat memory restore {m.id[:8]}` undoes it "
                "(use --now to remove it everywhere at once)"
            )
            return
    click.echo(store.forgetting.describe(report))
    for line in store.forgetting.notes(report):
        click.echo(f"note: {line}", err=True)
    if report.source_messages:
        click.echo(
            f"note: {len(report.source_messages)} chat message(s) still mention it and could teach it again; "
            "`memchat memory forget --about TEXT` removes those too",
            err=True,
        )


def show_forget_preview(preview, profile: str, limit: int = 20) -> None:
    """Count and list what ``forget --about`` removes (the first ``limit`` of each kind)."""
    click.echo(
        f"In profile {profile!r}, forgetting {preview.text!r} removes "
        f"{plural(len(preview.memories), 'memory', 'memories')}, "
        f"{plural(len(preview.summaries), 'summary', 'summaries')} and "
        f"{plural(len(preview.messages), 'chat message')}, and blanks "
        f"{plural(len(preview.conversations), 'conversation title/system prompt', 'conversation titles/system prompts')}:"
    )
    for label, items in (
        ("memory", preview.memories),
        ("summary", preview.summaries),
        ("message", preview.messages),
    ):
        for item_id, text in items[:limit]:
            click.echo(f"  {label:<8} {item_id[:8]}  {safe(text, 90)}")
        if len(items) > limit:
            click.echo(f"  … and {len(items) - limit} more {label} rows")


@memory.command("restore")
@click.argument("memory_id")
def restore(memory_id: str) -> None:
    """Undo `forget` during the grace period."""
    with open_store() as store:
        m = store.restore_memory(memory_id, actor="cli")
        store_index(store)
    click.echo(f"restored {m.id[:8]}")


@memory.command("reindex")
def reindex() -> None:
    """Rebuild the full-text indexes and this profile's vector index from SQLite (a repair, or
    after changing the embedding model)."""
    with open_store(start_redis=False) as store:
        store.rebuild_text_index()
        click.echo("rebuilt the full-text indexes")
        if store.vectors is None:
            click.echo(
                "memchat: no embedding model available, so there is no vector index to rebuild; "
                "set MEMCHAT_EMBEDDING_MODEL (see `memchat doctor`)",
                err=True,
            )
            raise SystemExit(1)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("embedding"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console(),
            transient=True,
        ) as bar:
            task = bar.add_task("reindex", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            n = store.reindex(progress=progress)
    click.echo(f"reindexed {n} items for profile {store.profile}")


# ---------------------------------------------------------------- review, tag, expire (the inspector's CLI twins)
@memory.command("review")
@click.option(
    "--queue",
    "-q",
    "queue",
    type=click.Choice(["pending", "duplicates", "contradictions", "stale", "low_confidence"]),
    help="Only this queue.",
)
@click.option(
    "--accept", "accept_id", metavar="ID", help="Accept the item of this memory id (prefix ok)."
)
@click.option(
    "--reject", "reject_id", metavar="ID", help="Reject the item of this memory id (prefix ok)."
)
@click.option("--stale-days", type=click.FloatRange(min=1), default=90, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def review(
    queue: str | None,
    accept_id: str | None,
    reject_id: str | None,
    stale_days: float,
    as_json: bool,
) -> None:
    """List the review queues (pending, duplicates, contradictions, stale, low confidence), or
    accept / reject one item, as `y` / `n` do in the inspector's Review tab.

    \b
    memchat memory review
    memchat memory review --queue pending --accept 1a2b3c
    """
    from memory.facades import Curation

    queues = [queue] if queue else list(Curation.QUEUES)
    with open_store() as store:
        items = [it for q in queues for it in store.curation.review_queue(q, stale_days=stale_days)]
        target = accept_id or reject_id
        if target:
            full = store.get_memory(target).id
            found = [it for it in items if it.memory.id == full]
            if not found:
                raise click.ClickException(
                    f"{target} is not waiting in {'the ' + queue if queue else 'any'} review queue"
                )
            it = found[0]
            (store.curation.accept if accept_id else store.curation.reject)(it)
            store_index(store)
            click.echo(f"{'accepted' if accept_id else 'rejected'} {full[:8]} ({it.queue})")
            return
    if as_json:
        print_json(
            [
                {"queue": it.queue, "memory": it.memory, "other": it.other, "detail": it.detail}
                for it in items
            ]
        )
        return
    if not items:
        click.echo("nothing to review")
        return
    from rich.table import Table

    t = Table(title=f"{len(items)} to review · profile {store.profile}", title_justify="left")
    for col in ("queue", "id", "memory", "why"):
        t.add_column(col, overflow="fold" if col == "memory" else "ellipsis")
    for it in items:
        t.add_row(it.queue, it.memory.id[:8], safe(it.memory.content, 100), safe(it.detail, 60))
    console().print(t)


@memory.command("tag")
@click.argument("memory_id")
@click.argument("tags", nargs=-1)
def tag(memory_id: str, tags: tuple[str, ...]) -> None:
    """Replace a memory's tags (none clears them): memchat memory tag 1a2b work home"""
    from memory.facades import Curation

    with open_store() as store:
        m = store.curation.set_tags(
            [store.get_memory(memory_id).id],
            Curation.parse_tags(" ".join(tags)),
            actor="cli",
        )[0]
        store_index(store)
    click.echo(f"tags of {m.id[:8]}: {', '.join(m.tags) or '-'}")


@memory.command("expire")
@click.argument("memory_id")
@click.argument("when")
def expire(memory_id: str, when: str) -> None:
    """Set when a memory expires: 7d, 12h, 2025-12-31, or never."""
    from memory.facades import Curation

    try:
        at = Curation.parse_when(when)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    with open_store() as store:
        m = store.curation.set_expiry([store.get_memory(memory_id).id], at, actor="cli")[0]
        store_index(store)
    click.echo(f"{m.id[:8]} " + ("never expires" if at is None else f"expires {when}"))
