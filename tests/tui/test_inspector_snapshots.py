"""Snapshots of each inspector tab. Deterministic: fixed memory ids, relative times, the live
poll switched off, and the few clock- or path-dependent values masked before the shot.

Regenerate after an intended UI change: pytest tests/tui/test_inspector_snapshots.py --snapshot-update
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from pilot_helpers import workers_done

from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.inspector import InspectorScreen

SIZE = (130, 34)
FROZEN = 1_700_000_000.0


@pytest.fixture
def app(redis_url, fake_llm, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(start="inspector", warm=False, worker=False)


def fid(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture
def seeded(redis_url):
    day = 86400
    with MemoryStore() as s:
        conv = s.new_conversation(
            "Pets and plans",
        )
        u = s.add_message(conv.id, "user", "My cat is called Miso and she is 3")
        s.add_message(
            conv.id, "assistant", "Miso is a lovely name!", memory_tokens=120, prompt_tokens=900
        )
        s.add_memory(
            "The user's cat is called Miso",
            id=fid(1),
            section="facts",
            tags=["pets"],
            source_conversation_id=conv.id,
            source_message_ids=[u.id],
            importance=0.8,
        )
        s.add_memory("Prefers short answers", id=fid(2), section="preferences", pinned=True)
        s.add_memory(
            "Trip to Lisbon in May", id=fid(3), section="events", tags=["travel"], confidence=0.3
        )
        s.add_memory("Used to play chess on Sundays", id=fid(4), created_at=time.time() - 200 * day)
        s.add_memory("trip to Lisbon in May!", id=fid(5), section="events")
        s.update_memory(
            fid(1), content="The user's cat is called Miso; she is three", reason="added her age"
        )
        s.set_temporary("reminder", "call the vet", 3600)
        s.set_session_state(conv.id, mood="curious", topic="pets")
        s.index_pending()
    return conv.id


async def ready(pilot, tab: str) -> InspectorScreen:
    app = pilot.app
    deadline = time.monotonic() + 30
    while (
        app.store is None
        or not isinstance(app.screen, InspectorScreen)
        or not app.screen.longterm.table.row_count
    ):
        assert time.monotonic() < deadline, "the inspector did not open"
        await pilot.pause(0.05)
    screen = app.screen
    screen.live = False
    # a focus event still queued from the first load can switch back to the table's
    # tab once (TabbedContent follows focus): ask again, as a user would press the key again
    while screen.active != tab:
        assert time.monotonic() < deadline, f"the {tab} tab did not open"
        screen.action_show_tab(tab)
        await pilot.pause(0.5)
    await workers_done(app)
    await pilot.pause(0.3)
    return screen


def test_longterm_tab_with_detail(app, seeded, snap_compare):
    async def run_before(pilot):
        screen = await ready(pilot, "longterm")
        lt = screen.longterm
        lt.table.move_cursor(row=lt.table.ids.index(fid(1)))
        lt.table.set_marked({fid(2), fid(3)})
        await pilot.pause(0.3)
        await workers_done(pilot.app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_longterm_tab_searching(app, seeded, snap_compare):
    async def run_before(pilot):
        screen = await ready(pilot, "longterm")
        await pilot.press("slash", *"miso section:facts")
        lt = screen.longterm
        lt.search.cursor_blink = False
        # the search runs once typing pauses (a debounce): wait for its rows, however busy
        deadline = time.monotonic() + 30
        while not (
            lt.query_state.text == "miso"
            and lt.query_state.section == "facts"
            and lt.shown_serial == lt.serial
        ):
            assert time.monotonic() < deadline, "the search did not run"
            await pilot.pause(0.05)
        await workers_done(pilot.app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_review_tab(app, seeded, snap_compare):
    async def run_before(pilot):
        await ready(pilot, "review")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_shortterm_tab_with_ttl_countdown(app, seeded, snap_compare):
    async def run_before(pilot):
        screen = await ready(pilot, "shortterm")
        tab = screen.tab("shortterm")
        tab.frozen_now = FROZEN  # mask the clock: TTLs and "active" times
        tab.data["temps"] = [(k, v, FROZEN + 3599) for k, v, _ in tab.data["temps"]]
        for s in tab.data["sessions"]:
            s["last"], s["ttl"] = FROZEN, None
        tab._draw()
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_vectors_tab(app, seeded, snap_compare):
    async def run_before(pilot):
        screen = await ready(pilot, "vectors")
        tab = screen.tab("vectors")
        deadline = time.monotonic() + 30
        while tab.health is None or tab.health.actual is None:
            assert time.monotonic() < deadline
            await pilot.pause(0.1)
        tab._show(replace(tab.health, where="$MEMCHAT_HOME/chroma"))  # a temp path
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_pipeline_tab(app, seeded, snap_compare):
    async def run_before(pilot):
        await ready(pilot, "pipeline")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_stats_tab(app, seeded, snap_compare):
    async def run_before(pilot):
        await ready(pilot, "stats")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
