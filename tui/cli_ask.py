"""`memchat ask "…"`: one question, the answer streamed to stdout.

Exit codes (see tui.cli): 2 usage, 3 configuration (no model, bad key, unknown model),
4 provider error (unreachable, rate limited, broken stream), 130 interrupted (the partial
answer is kept, marked cancelled).

``--incognito`` reads memory but keeps nothing: the exchange runs in an incognito
conversation, which the store holds in this process's memory only (memory.ephemeral).

The end of the turn is ``Assistant.finish_turn``, as in the chat app: extraction is queued
only after a complete reply.
"""

from __future__ import annotations

import queue
import sys
import threading

import click

from memory.models import Message, RecallFilters, RecallHit, TurnEnd, TurnEvent
from tui.cli import EXIT_CONFIG, EXIT_USAGE, open_store
from tui.output import safe, when


def _question(text: tuple[str, ...]) -> str:
    """The argument words, then piped stdin (if any) after a blank line."""
    question = " ".join(text).strip()
    stdin = sys.stdin
    piped = ""
    if not stdin.isatty():
        piped = stdin.read().strip()
    if question and piped:
        return f"{question}\n\n{piped}"
    if not (question or piped):
        raise click.UsageError(
            'nothing to ask: give a question (`memchat ask "…"`) or pipe text in'
        )
    return question or piped


def _events(turn, cancel: threading.Event):
    """Run the turn in a thread so Ctrl-C here can cancel the stream and still keep the partial."""
    q: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            for ev in turn:
                q.put(ev)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            q.put(e)
        q.put(None)

    threading.Thread(target=run, daemon=True, name="memchat-ask").start()
    interrupted = False
    while True:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            cancel.set()
            interrupted = True
            continue
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    if interrupted:
        raise KeyboardInterrupt


def _source(store, hit: RecallHit) -> str:
    """Where a recalled item came from, in a few words."""
    conv_id = hit.provenance.conversation_id
    if hit.kind == "message":
        return f"conversation {conv_id[:8] if conv_id else '?'}, {when(hit.created_at)}"
    if conv_id:
        return f"learned from conversation {conv_id[:8]}, {when(hit.created_at)}"
    try:
        history = store.memory_history(hit.id)
        actor = history[0].actor if history else "user"
    except Exception:  # noqa: BLE001 - provenance is best effort
        actor = "user"
    how = {"cli": "memchat memory add", "user": "added by you", "import": "imported"}.get(
        actor, actor
    )
    return f"{how}, {when(hit.created_at)}"


def _show_memories(
    store, hits: list[RecallHit], reply: Message | None, question: str, conv
) -> None:
    used = {u.id for u in reply.used_memories} if reply is not None else {h.id for h in hits}
    shown = [h for h in hits if h.id in used]
    err = sys.stderr
    if not shown:
        click.echo("no memory used", err=True)
    else:
        click.echo(f"memories used ({len(shown)}):", err=True)
    for h in shown:
        click.echo(f"  {_row(h)}", err=True)
        click.echo(f"          source: {_source(store, h)}", err=True)
    # what recall considered and left out, and why (the same recall the turn made)
    try:
        considered = store.recall_considered(
            question,
            filters=RecallFilters(
                exclude_conversation_id=conv.id,
                context_conversation_id=conv.id,
                context_project=conv.project,
            ),
        )
    except Exception as e:  # noqa: BLE001 - the explanation is best effort
        click.echo(f"(could not list what was left out: {safe(str(e), 120)})", err=True)
        err.flush()
        return
    floor = considered.floor
    below = [h for h in considered.below_floor if h.id not in used]
    over = [h for h in considered.used if h.id not in used]
    if below or over:
        click.echo("considered, left out:", err=True)
    for h in below:
        p = h.relevance if h.relevance is not None else 0.0
        click.echo(f"  {_row(h)}", err=True)
        click.echo(f"          below the relevance floor ({p:.3f} < {floor:.2f})", err=True)
    for h in over:
        click.echo(f"  {_row(h)}", err=True)
        click.echo("          did not fit the prompt's budget", err=True)
    err.flush()


def _row(h: RecallHit) -> str:
    label = h.memory.id[:8] if h.memory is not None else h.id[:8]
    section = "conversation" if h.kind == "message" else h.section
    return f"{h.score:6.3f}  {label}  [{section}] {safe(h.text, 90)}"


def _enqueue(store, end: TurnEnd) -> None:
    try:
        from tasks.api import enqueue_after_turn
    except ImportError:
        return
    try:
        enqueue_after_turn(store, end.conversation_id, end.extract_upto)
    except Exception as e:  # noqa: BLE001 - learning later must not fail the answer
        click.echo(
            f"memchat: warning: could not queue memory extraction ({safe(str(e), 120)})", err=True
        )


@click.command()
@click.argument("text", nargs=-1)
@click.option("--model", "-m", help="Model for this question (any litellm model string).")
@click.option("--no-memory", is_flag=True, help="Don't recall memories for this question.")
@click.option(
    "--conversation",
    "-c",
    "conversation_id",
    metavar="ID",
    help="Continue this conversation (id or unique prefix) instead of starting one.",
)
@click.option(
    "--show-memories",
    is_flag=True,
    help="List the memories used, with scores and sources (stderr).",
)
@click.option(
    "--incognito", is_flag=True, help="Read memory, keep nothing (no conversation, no learning)."
)
@click.option(
    "--project",
    metavar="NAME",
    help="Start the conversation in a project: memories scoped "
    "project:NAME are recalled only there.",
)
def ask(
    text: tuple[str, ...],
    model: str | None,
    no_memory: bool,
    conversation_id: str | None,
    show_memories: bool,
    incognito: bool,
    project: str | None,
) -> None:
    """Ask one question and stream the answer; piped stdin is appended to TEXT.

    \b
    memchat ask "what is my cat called?"
    git diff | memchat ask "write a commit message for this"
    memchat ask --conversation 1a2b3c4d "and what about the dog?"
    """
    if incognito and conversation_id:
        raise click.UsageError(
            "--incognito starts a fresh, throwaway conversation: drop --conversation"
        )
    question = _question(text)

    from assistant.assistant import Assistant

    with open_store() as store:
        assistant = Assistant(store, llm_titles=store.settings.ui.llm_titles)
        conv = store.get_conversation(conversation_id) if conversation_id else None
        if assistant.model_choice(conv.id if conv else None, model=model) is None:
            click.echo(f"memchat: {assistant.configuration_problem()}", err=True)
            sys.exit(EXIT_CONFIG)
        if conv is None:  # --model names the new conversation's model, as ctrl+o in the app
            conv = assistant.start_conversation(model=model, incognito=incognito, project=project)
            model = None
        cancel = threading.Event()
        hits: list[RecallHit] = []
        final: TurnEvent | None = None
        out = sys.stdout
        turn = assistant.turn(
            conv.id, question, model=model, use_memory=not no_memory, cancel=cancel
        )
        events = _events(turn, cancel)
        try:
            for ev in events:
                if ev.kind == "delta":
                    out.write(ev.text)
                    out.flush()
                elif ev.kind == "recalled":
                    hits = [*ev.always, *ev.hits]  # always-on notes (preferences, pins) first
                elif ev.kind in ("done", "error"):
                    final = ev
        except KeyboardInterrupt:
            # Ctrl-C may land here rather than in _events: stop the stream and let the turn
            # store its partial reply as cancelled before the end of the turn
            cancel.set()
            for ev in events:
                if ev.kind in ("done", "error"):
                    final = ev
            out.write("\n")
            click.echo("memchat: interrupted (the partial answer is kept)", err=True)
            _end(store, assistant, conv.id, final)
            sys.exit(130)
        _end(store, assistant, conv.id, final)
        if final is not None and final.message is not None and final.message.content:
            out.write("\n")
            out.flush()
        if show_memories and (final is None or final.kind == "done"):
            _show_memories(store, hits, final.message if final else None, question, conv)
        if final is None or final.kind == "error":
            error = final.error if final else "the reply ended without an answer"
            click.echo(f"memchat: {error}", err=True)
            sys.exit(_exit_code(final.error_type if final else None))
        if sys.stderr.isatty() and not incognito:
            click.echo(
                f"(conversation {conv.id[:8]}: continue with --conversation {conv.id[:8]})",
                err=True,
            )


def _end(store, assistant, conversation_id: str, final: TurnEvent | None) -> None:
    """The end of the turn, as in the chat app: title, then extraction when it is due."""
    end = assistant.finish_turn(conversation_id, final.message if final is not None else None)
    if end.extract_upto is not None:
        _enqueue(store, end)
    if end.llm_title:
        try:
            assistant.make_title(conversation_id)
        except Exception:  # noqa: BLE001 - the first-words title stays
            pass


def _exit_code(error_type: str | None) -> int:
    from assistant import errors

    cls = getattr(errors, error_type or "", None)
    code = getattr(cls, "exit_code", None)
    return code if isinstance(code, int) else errors.PROVIDER_EXIT


__all__ = ["ask", "EXIT_USAGE"]
