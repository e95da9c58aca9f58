"""Hostile text in messages and memories is drawn inertly by the Textual app.

Stored text can hold anything a person pasted or a model produced: ANSI colour codes, an
OSC 52 clipboard write, an OSC 8 hyperlink, clear-screen, CR/BS, NUL and other C0 bytes, a
one-byte C1 CSI, Rich/Textual markup lookalikes, Markdown images and links, a huge line.
These tests put it in the chat transcript (stored turns and a streamed reply, its memories
panel, an error note, the sidebar search) and in the memory inspector (table, detail, edit
dialog, review and short-term tabs), then check the bytes Textual would write to the
terminal: only its own colour codes and cursor moves, no other control character, every row
exactly the terminal's width, and the escapes visible as ␛ pictures (tui.widgets.safe_text).
"""

from __future__ import annotations

import io
import re

import pytest
from pilot_helpers import opened, steady_cursor, wait_for, workers_done
from rich.cells import cell_len
from rich.console import Console
from textual.widgets import Input

from memory.models import UsedMemory
from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.dialogs import TextDialog
from tui.screens.inspector import InspectorScreen
from tui.screens.inspector_dialogs import ForgetDialog
from tui.widgets.inspector.format import one_line
from tui.widgets.safe_text import for_markdown, visible

# Each a paragraph of its own: Markdown keeps it on its own lines, and a failure names it.
# The first one leads every one-line preview (tables, search hits, the forget dialog).
PARTS = [
    "csi \x1b[31mRED\x1b[0m [/x] [bold red]not markup[/] [link=http://evil.example]x[/link]",
    "osc52 \x1b]52;c;aGVsbG8=\x07 done",
    "osc8 \x1b]8;;http://evil.example/\x1b\\click me\x1b]8;;\x1b\\ done",
    "clear \x1b[2J\x1b[H done",
    "over\rwrite back\bspace",
    "nul\x00 soh\x01 vt\x0b del\x7f bel\x07 done",
    "c1 \x9b31mC1 done",
    "$variable [@click=app.quit]quit[/]",
    "![img](http://evil.example/i.png) and [a link](http://evil.example/)",
    "0123456789" * 40,  # one unbroken 400-character word (not one chunk repeated)
]
HOSTILE = "\n\n".join(PARTS)
# What a person sees instead (whitespace ignored: wrapping moves it)
SHOWN = [
    "csi ␛[31mRED␛[0m [/x] [bold red]not markup[/] [link=http://evil.example]x[/link]",
    "␛]52;c;aGVsbG8=␇",
    "␛]8;;http://evil.example/␛\\click me␛]8;;␛\\",
    "␛[2J␛[H",
    "nul␀ soh␁ vt␋ del␡ bel␇",
    "c1 ␛[31mC1",
    "$variable [@click=app.quit]quit[/]",
]
# Textual's own output: SGR colours and absolute cursor moves; nothing else may escape
LEGIT = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\d+;\d+H")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_output(app) -> str:
    """The characters Textual writes for a full redraw (what App._display hands the driver),
    for a truecolor terminal; dialogs include the screens under them."""
    console = Console(
        file=io.StringIO(),
        width=app.size.width,
        height=app.size.height,
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
        safe_box=False,
    )
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return update.render_segments(console)


def assert_inert(app) -> list[str]:
    """No control character but Textual's own reaches the terminal; rows keep their width."""
    rows = LEGIT.sub("", terminal_output(app)).split("\n")
    bad = sorted({f"U+{ord(c):04X}" for row in rows for c in CONTROL.findall(row)})
    assert not bad, f"control characters reach the terminal: {bad}"
    assert len(rows) == app.size.height
    widths = {cell_len(row) for row in rows}
    assert widths == {app.size.width}, f"rows of {widths} cells on a {app.size.width}-wide screen"
    return rows


def shown_in(app, widget) -> str:
    """The plain text the screen shows inside ``widget``'s visible area."""
    geo = app.screen.find_widget(widget)
    r = geo.region.intersection(geo.clip)
    strips = app.screen._compositor.render_strips()
    return "\n".join(s.crop(r.x, r.right).text for s in strips[r.y : r.bottom])


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_neutralised(text: str, where: str) -> None:
    flat = squash(text)
    for expected in SHOWN:
        assert squash(expected) in flat, f"{where} does not show {expected!r}"


# --------------------------------------------------------------------------- the helper
def test_visible_shows_every_control_character_and_keeps_text():
    assert visible("a\x1b[31mb") == "a␛[31mb"
    assert visible("\x00\x07\x08\x7f") == "␀␇␈␡"
    assert visible("\x9b2J \x9d52") == "␛[2J ␛]52"  # C1: its 7-bit equivalent
    assert visible("line\r\nnext\tcol\rx") == "line\nnext\tcol␍x"
    assert visible("a\nb\tc", keep="") == "a␊b␉c"
    assert for_markdown("a\r\nb\rc") == "a\nb\rc"  # the Markdown parser ends lines on CR
    assert visible("[b]ünïcode ✓ 😀 $x[/]") == "[b]ünïcode ✓ 😀 $x[/]"
    assert one_line("a\x1b[2J\r\nb\tc", 40) == "a␛[2J ⏎ b c"


# --------------------------------------------------------------------------- chat
CHAT_SIZE = (150, 60)


@pytest.fixture
def chat_app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(warm=False, worker=False)  # litellm loads with the first turn


def seed_chat() -> dict[str, str]:
    with MemoryStore() as s:
        mem = s.add_memory("The user's cat is called Miso\n\n" + HOSTILE, section="facts")
        conv = s.new_conversation("hostile \x1b[31mtitle [/x]")
        s.add_message(conv.id, "user", HOSTILE)
        s.add_message(
            conv.id,
            "assistant",
            HOSTILE,
            status="failed",
            model="evil\x1b[5mmodel[/x]",
            error="provider said \x1b]52;c;aGk=\x07 [/x] [bold]no",
            used_memories=[UsedMemory(id=mem.id, kind="memory", score=0.5)],
        )
        return {"conversation": conv.id, "memory": mem.id}


async def test_transcript_draws_stored_and_streamed_hostile_text_inertly(chat_app, fake_llm):
    app = chat_app
    ids = seed_chat()
    fake_llm.script(HOSTILE, chunk_size=7)  # escapes split across chunks
    async with app.run_test(size=CHAT_SIZE) as pilot:
        await opened(app, pilot)
        chat = app.chat
        # a stored conversation: user turn, failed assistant turn with an error note
        await chat.open_conversation(ids["conversation"])
        await pilot.pause(0.2)
        user, reply = chat.transcript.views()
        for view in (user, reply):
            view.scroll_visible(animate=False, immediate=True)
            await pilot.pause()
            assert_inert(app)
            assert_neutralised(shown_in(app, view.body), f"the stored {view.role} message")
        note = shown_in(app, reply.query_one(".message-note"))
        assert "⚠ provider said ␛]52;c;aGk=␇ [/x] [bold]no" in note
        assert "evil␛[5mmodel[/x]" in shown_in(app, reply.query_one(".message-header"))
        # the memories panel of the stored reply loads the memory's text on expansion
        reply.focus()
        await pilot.press("m")
        await wait_for(
            pilot,
            lambda: reply.memories.rows() and reply.memories.rows()[0].item.resolved,
            what="memory rows",
        )
        row = reply.memories.rows()[0]
        row.scroll_visible(animate=False, immediate=True)
        await pilot.pause(0.1)
        assert_inert(app)
        assert "␛[31mRED␛[0m" in shown_in(app, row)

        # a new turn: the hostile prompt, a streamed hostile reply that recalls the memory
        await chat.open_conversation(None)
        chat.prompt.focus()
        chat.prompt.insert("what is my cat Miso called? " + PARTS[0])
        await pilot.press("enter")

        def replies() -> list:  # the new chat was empty: its one reply shows the turn ran
            return [v for v in chat.transcript.views() if v.role == "assistant"]

        await wait_for(pilot, lambda: replies() and not chat.streaming, what="the reply")
        (streamed,) = replies()
        await pilot.pause(0.1)
        assert streamed.status == "complete", app.store.messages(chat.conversation_id)[-1].error
        assert streamed.text == HOSTILE  # the widget keeps the raw text (copy gives it back)
        stored = app.store.messages(chat.conversation_id)
        assert [m.content for m in stored][-1] == HOSTILE  # drawing never changes what is kept
        assert "\x1b[31m" in stored[0].content
        streamed.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        assert_inert(app)
        assert_neutralised(shown_in(app, streamed.body), "the streamed reply")
        body = shown_in(app, streamed.body)
        assert "🖼" in body and "a link" in body and "](http" not in body  # Markdown, no fetch
        assert chat.transcript.max_scroll_x == 0  # the 400-character line wraps
        assert streamed.body.region.width <= chat.transcript.region.width
        panel = streamed.memories
        assert panel.display and ids["memory"] in [it.id for it in panel.items]

        # the sidebar's search results quote the messages
        chat.sidebar.query_one(Input).value = "variable"
        await wait_for(pilot, lambda: any(it.snippet for it in chat.sidebar.items), what="hits")
        await pilot.pause(0.1)
        assert_inert(app)
        assert "␛[31mRED␛[0m" in shown_in(app, chat.sidebar)


# --------------------------------------------------------------------------- inspector
INSPECTOR_SIZE = (150, 50)
MEMORY_ID = f"{7:032x}"


@pytest.fixture
def inspector_app(redis_url, fake_llm, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(start="inspector", warm=False, worker=False)


def seed_memory() -> str:
    with MemoryStore() as s:
        conv = s.new_conversation("hostile \x1b[31mtitle [/x]")
        u = s.add_message(conv.id, "user", HOSTILE)
        s.add_memory(
            HOSTILE,
            id=MEMORY_ID,
            section="facts",
            tags=["[b]tag\x1b[1m", "[/x]"],
            key="k\x1b]52;c;aGk=\x07",
            value="[red]v[/x]",
            entity_type="person",
            entity_id="[@click=app.quit]e",
            confidence=0.3,  # also in the review tab's low-confidence queue
            source_conversation_id=conv.id,
            source_message_ids=[u.id],
        )
        s.update_memory(MEMORY_ID, importance=0.9, reason="why \x1b[2J [/] [bold]")
        s.set_temporary("k\x1b[2J", HOSTILE, 3600)
        s.set_session_state(conv.id, mood="\x1b]52;c;aGk=\x07[/x]")
    return conv.id


async def inspector_ready(app, pilot) -> InspectorScreen:
    await wait_for(
        pilot,
        lambda: (
            app.store is not None
            and isinstance(app.screen, InspectorScreen)
            and app.screen.longterm.table.row_count
        ),
        what="the inspector's rows",
    )
    tab = app.screen.longterm
    tab.table.focus()
    await wait_for(pilot, lambda: tab.detail.detail is not None, what="the detail pane")
    await pilot.pause(0.2)
    return app.screen


async def test_a_paste_into_the_prompt_loses_its_escapes_and_keeps_its_text(chat_app, fake_llm):
    """Colour codes copied from a terminal, an OSC 52 clipboard write and a clear-screen in a
    paste never reach the terminal; the words survive, other controls show as symbols."""
    from textual import events

    app = chat_app
    async with app.run_test(size=CHAT_SIZE) as pilot:
        await opened(app, pilot)
        prompt = app.chat.prompt
        prompt.focus()
        app.post_message(  # as the terminal driver delivers a paste
            events.Paste(
                "ls output: \x1b[1;34mdocs\x1b[0m \x1b]52;c;aGk=\x07\x1b[2J\x1b[Hnotes.txt\r\n"
                "nul\x00here\rsent as CR by the terminal"
            )
        )
        await wait_for(pilot, lambda: "notes.txt" in prompt.text, what="the paste")
        assert prompt.text == "ls output: docs notes.txt\nnul\u2400here\nsent as CR by the terminal"
        assert_inert(app)
        await pilot.press("ctrl+f")  # any other input too: the sidebar's search
        search = app.focused
        assert isinstance(search, Input)
        app.post_message(events.Paste("\x1b[31mmiso\x1b[0m\x1b]52;c;aGk=\x07"))
        await wait_for(pilot, lambda: "miso" in search.value, what="the paste in the search")
        assert search.value == "miso"
        assert_inert(app)


async def test_inspector_draws_a_hostile_memory_inertly(inspector_app):
    app = inspector_app
    seed_memory()
    async with app.run_test(size=INSPECTOR_SIZE) as pilot:
        screen = await inspector_ready(app, pilot)
        tab = screen.longterm
        assert_inert(app)
        table = shown_in(app, tab.table)
        assert "csi ␛[31mRED␛[0m [/x] [bold red]not markup…" in table  # one line, no markup
        assert "[/x],[b]t…" in table
        body = tab.detail.query_one("#detail-body")
        detail = shown_in(app, body)
        assert_neutralised(detail, "the detail pane")
        for expected in (
            "over␍write back␈space",
            "![img](http://evil.example/i.png)",  # no Markdown here: stored text as it is
            "[/x], [b]tag␛[1m",
            "k␛]52;c;aGk=␇ = [red]v[/x]",
            "person [@click=app.quit]e",
        ):
            assert squash(expected) in squash(detail), expected
        tab.detail.scroll_end(animate=False, immediate=True)  # provenance and history
        await pilot.pause(0.1)
        assert_inert(app)
        detail = shown_in(app, body)
        for expected in (
            "hostile ␛[31mtitle [/x]",
            "user csi ␛[31mRED␛[0m [/x] [bold red]not markup[/] [link=http",
            "why ␛[2J [/] [bold]",
        ):
            assert squash(expected) in squash(detail), expected

        # the review queue (low confidence) and the short-term tab quote it too
        for name, expected in (
            ("review", ["csi ␛[31mRED␛[0m [/x] [bold red]not markup[/]"]),
            ("shortterm", ["k␛[2J", "csi ␛[31mRED␛[0m [/x] [bold red]", "␛]52;c;aGk=␇[/x]"]),
        ):
            screen.action_show_tab(name)
            await wait_for(pilot, lambda n=name: screen.tab(n).region, what=f"the {name} tab")
            await workers_done(app)
            await pilot.pause(0.2)
            assert_inert(app)
            shown = shown_in(app, screen.tab(name))
            assert all(e in shown for e in expected), (name, shown)

        # the forget dialog quotes it
        screen.action_show_tab("longterm")
        await pilot.pause(0.1)
        await pilot.press("F")
        await wait_for(pilot, lambda: isinstance(app.screen, ForgetDialog), what="forget dialog")
        await pilot.pause(0.1)
        assert_inert(app)
        preview = shown_in(app, app.screen.query_one("#forget-preview"))
        assert "“csi ␛[31mRED␛[0m [/x] [bold red]not markup[/] [link=http" in preview
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen), what="the close")

        # the edit dialog shows the same pictures; saved unchanged, the raw text stays
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the editor")
        await pilot.pause(0.1)
        assert_inert(app)
        editor = app.screen.query_one("#value")
        assert editor.text == visible(HOSTILE)
        assert "␛]52;c;aGVsbG8=␇" in shown_in(app, editor)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen), what="the close")
        await pilot.pause(0.1)
        assert app.store.get_memory(MEMORY_ID).content == HOSTILE
        assert [h.action for h in app.store.memory_history(MEMORY_ID)] == ["added", "updated"]

        # changed, it saves what the person saw: the pictures, not the raw escapes
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the editor")
        editor = app.screen.query_one("#value")
        editor.insert(" (checked)", editor.document.end)
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: app.store.get_memory(MEMORY_ID).content.endswith("(checked)"),
            what="the edit to be stored",
        )
        assert app.store.get_memory(MEMORY_ID).content == visible(HOSTILE) + " (checked)"


# --------------------------------------------------------------------------- snapshots
def test_snapshot_transcript_with_hostile_messages(chat_app, fake_llm, snap_compare):
    ids = seed_chat()

    async def run_before(pilot):
        app = pilot.app
        await opened(app, pilot)  # warm=False: no "loading…" notice comes or goes
        await app.chat.open_conversation(ids["conversation"])
        steady_cursor(app.chat.prompt)  # a blinking cursor makes screenshots differ
        await pilot.pause(0.3)
        app.chat.transcript.scroll_home(animate=False, immediate=True)
        await pilot.pause(0.2)

    assert snap_compare(chat_app, terminal_size=(110, 40), run_before=run_before)


def test_snapshot_inspector_with_a_hostile_memory(inspector_app, snap_compare):
    seed_memory()

    async def run_before(pilot):
        screen = await inspector_ready(pilot.app, pilot)
        screen.live = False
        await workers_done(pilot.app)
        await pilot.pause(0.2)

    assert snap_compare(inspector_app, terminal_size=(130, 40), run_before=run_before)
