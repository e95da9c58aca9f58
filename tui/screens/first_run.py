"""Shown when no model is configured: exactly how to set one. The app keeps working."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

HOW_TO = """\
Set it in the environment or in [b]{config}[/b], then restart memchat — or press [b]m[/b]
to name a model for this session's conversations now.

Until then you can browse and search conversations and manage memories."""


class FirstRunScreen(ModalScreen[str]):
    """Dismisses with "pick" (open the model picker) or "close"."""

    BINDINGS = [
        Binding("m", "choose('pick')", "Pick a model", id="first_run_pick"),
        Binding("escape,enter", "choose('close')", "Continue", id="first_run_close"),
    ]

    def __init__(self, problem: str, config_path: str = "config.toml") -> None:
        super().__init__(classes="dialog-screen")
        self.problem = problem
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="first-run"):
            yield Label("No model configured", classes="dialog-question")
            yield Static(self.problem, id="first-run-problem")
            yield Static(HOW_TO.format(config=self.config_path), id="first-run-howto")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Pick a model (m)", variant="primary", id="pick")
                yield Button("Continue (Esc)", id="close")

    def action_choose(self, what: str) -> None:
        self.dismiss(what)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "close")
