"""Screens that must fit the terminal, frozen at 80×24 and 160×45: the help screen (F1) with
whole binding ids, the inspector's help, the inspector table without a clipped last column,
and the chat footer with F1/F2 first and the status bar's task / review counts.

Regenerate after an intended UI change: pytest tests/tui/test_fit_snapshots.py --snapshot-update
(then look at the SVGs under __snapshots__/test_fit_snapshots/).
"""

from __future__ import annotations

import pytest
from pilot_helpers import workers_done
from test_app_snapshots import settle
from test_inspector_snapshots import fid, ready, seeded  # noqa: F401 - seeded is a fixture

from memory.store import MemoryStore
from tui.app import MemchatApp
from tui.screens.help import HelpScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 45), id="160x45")]


@pytest.fixture
def chat_app(redis_url, fake_llm, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    monkeypatch.setattr("tui.app.HEALTH_SECONDS", 3600.0)  # the shots set the health fields
    return MemchatApp(worker=False)


@pytest.fixture
def inspector_app(redis_url, fake_llm, monkeypatch) -> MemchatApp:
    monkeypatch.setenv("MEMCHAT_WORKER__EMBEDDED", "false")
    return MemchatApp(start="inspector", warm=False, worker=False)


@pytest.fixture
def long_memory(seeded):  # noqa: F811
    with MemoryStore() as s:
        s.add_memory(
            "Planning a two-week trip through Portugal in May: Lisbon, Porto and the Douro "
            "valley, travelling by train, staying in small guesthouses",
            id=fid(6),
            section="events",
            tags=["travel", "portugal"],
        )
        s.index_pending()
    return seeded


async def _help(pilot) -> None:
    await pilot.press("f1")
    while not isinstance(pilot.app.screen, HelpScreen):
        await pilot.pause(0.05)
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES)
def test_help_shows_whole_ids(chat_app, snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        await _help(pilot)

    assert snap_compare(chat_app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_inspector_help_shows_whole_ids(inspector_app, seeded, snap_compare, size):  # noqa: F811
    async def run_before(pilot):
        await ready(pilot, "longterm")
        await _help(pilot)

    assert snap_compare(inspector_app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_inspector_table_fits_its_width(inspector_app, long_memory, snap_compare, size):
    async def run_before(pilot):
        screen = await ready(pilot, "longterm")
        lt = screen.longterm
        lt.table.move_cursor(row=lt.table.ids.index(fid(6)))
        await pilot.pause(0.3)
        await workers_done(pilot.app)
        await pilot.pause(0.2)

    assert snap_compare(inspector_app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_chat_footer_and_status_bar(chat_app, snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        status = pilot.app.chat.status
        status.worker, status.tasks, status.to_review = "worker ok", 3, 2  # fixed health
        await pilot.pause(0.2)

    assert snap_compare(chat_app, terminal_size=size, run_before=run_before)
