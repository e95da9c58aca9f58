"""The chat app and inspector show always-on notes apart from recalled memories, and make and
count down temporary memories: Pilot keys against the real store, Valkey and the fake LLM."""

from __future__ import annotations

import time

import pytest
from pilot_helpers import opened, send, wait_for

from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.dialogs import TextDialog
from tui.screens.inspector import InspectorScreen

SIZE = (140, 40)


@pytest.fixture
def app(redis_url, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(worker=False)


def seed(fn):
    with MemoryStore() as store:
        out = fn(store)
        store.index_pending()
    return out


async def test_status_line_counts_always_apart_and_the_stats_tab_lists_them(app, fake_llm):
    ids = seed(
        lambda s: {
            "pref": s.add_memory("Prefers short answers", section="preferences").id,
            "cat": s.add_memory("The user's cat is called Miso").id,
        }
    )
    fake_llm.script("Miso.")
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        # the model library loads behind the first screen (slow on a busy machine)
        await wait_for(pilot, lambda: app.assistant.ready, timeout=90, what="litellm")
        reply = await send(app, pilot, "what is my cat called?")
        assert reply.status == "complete"
        status = str(app.chat.status.render())
        assert "memory 1 always + 1 recalled · " in status, status
        assert [it.id for it in reply.memories.items] == [ids["pref"], ids["cat"]]

        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        await pilot.press("6")  # Stats
        stats = app.screen.tab("stats").query_one("#inspector-stats")
        await wait_for(
            pilot, lambda: "always in every prompt" in _text(stats), what="the always table"
        )
        text = _text(stats)
        assert "always in every prompt: 1 note · ≈6 of 300 tokens" in text, text
        assert "Prefers short answers" in text and "cat is called Miso" not in text


async def test_a_key_in_the_short_term_tab_makes_a_temporary_memory_with_a_countdown(app, fake_llm):
    async with app.run_test(size=SIZE) as pilot:
        await opened(app, pilot)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InspectorScreen))
        inspector = app.screen
        await pilot.press("3")  # Short-term
        tab = inspector.tab("shortterm")
        body = tab.query_one("#st-body")
        await wait_for(pilot, lambda: "no temporary memories" in _text(body), what="the tab")
        tab.focus()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, TextDialog), what="the text dialog")
        await pilot.press(*"parking spot 17")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, TextDialog) and "how long" in app.screen.title_text,
            what="the duration dialog",
        )
        app.screen.query_one("#value").value = "3h"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.store.expiring_memories(), what="the memory")
        m = app.store.expiring_memories()[0]
        assert (m.content, m.section, m.persistence) == (
            "parking spot 17",
            "temporary",
            "temporary",
        )
        assert 3 * 3600 - 30 < m.expires_at - time.time() <= 3 * 3600
        await wait_for(pilot, lambda: m.id[:8] in _text(body), what="the row")
        assert "2h 59m" in _text(body)
        assert m.id in [h.id for h in app.store.recall("where is the parking spot?")]


def _text(widget) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()


def test_ask_show_memories_lists_the_always_on_notes(redis_url, fake_llm, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from tui.cli import cli

    monkeypatch.setenv("MEMCHAT_EMBEDDING_MODEL", str(tmp_path / "no-model"))  # lexical: fast
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    pref = seed(lambda s: s.add_memory("Prefers metric units", section="preferences"))
    fake_llm.script(reply="A haiku.")
    r = CliRunner().invoke(cli, ["ask", "--show-memories", "Write a haiku"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert "Prefers metric units" in fake_llm.last_messages()[0]["content"]
    assert "memories used (1):" in r.stderr
    assert f"{pref.id[:8]}  [preferences] Prefers metric units" in r.stderr
