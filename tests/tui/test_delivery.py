"""Worker results landing on a widget that was closed meanwhile are dropped; a widget still
shown that misses a child raises (a real bug is never hidden)."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Static

from tui.widgets.delivery import while_shown


class Tab(Vertical):
    def compose(self):
        yield Static("", id="body")

    @while_shown
    def show(self, text: str) -> str:
        self.query_one("#body", Static).update(text)
        return text


class Host(App):
    def compose(self):
        yield Tab()


async def test_results_reach_a_shown_widget_and_are_dropped_once_it_is_gone():
    app = Host()
    async with app.run_test():
        tab = app.query_one(Tab)
        assert tab.show("first") == "first"
        await tab.query_one("#body").remove()
        with pytest.raises(NoMatches):  # still shown: a missing child is a bug
            tab.show("second")
        await tab.remove()
        assert tab.show("third") is None  # closed while the worker ran
    assert tab.show("after exit") is None
