"""Small modal dialogs: a yes/no confirmation, a text editor (rename, persona) and the
profile picker."""

from __future__ import annotations

import re
from typing import cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from tui.widgets.safe_text import visible


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True on y/Enter-on-yes, False on n/Esc."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm_no"),
    ]

    SHOWN = 8  # detail lines listed before "… and N more"

    def __init__(
        self,
        question: str,
        *,
        yes: str = "Delete",
        no: str = "Cancel",
        details: list[str] | None = None,
        more: int = 0,
    ) -> None:
        """``details``: one line per thing the action affects (shown, up to SHOWN of them);
        ``more``: how many others it affects that are not in ``details``."""
        super().__init__(classes="dialog-screen")
        self.question = question
        self.yes, self.no = yes, no
        self.details = list(details or [])
        self.more = more

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.question, classes="dialog-question")
            if self.details:
                lines = [f"• {visible(d)}" for d in self.details[: self.SHOWN]]
                hidden = len(self.details) - len(lines) + self.more
                if hidden > 0:
                    lines.append(f"… and {hidden:,} more")
                yield Label("\n".join(lines), id="confirm-details", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TextDialog(ModalScreen[str | None]):
    """Edit one value. ``multiline`` uses a TextArea (ctrl+s saves) else an Input (Enter saves).

    Both editors would draw control characters raw (ESC reaching the terminal), so the value is
    shown with them made visible; saved unchanged, the original value comes back as it was.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog_cancel"),
        Binding("ctrl+s", "save", "Save", id="dialog_save"),
    ]

    def __init__(
        self, title: str, value: str = "", *, multiline: bool = False, hint: str = ""
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.value = value
        self.multiline = multiline
        self.hint = hint
        self.shown = visible(value) if multiline else visible(value, keep="")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide" if self.multiline else "dialog"):
            yield Label(self.title_text, classes="dialog-question")
            if self.multiline:
                yield TextArea(self.shown, id="value", soft_wrap=True)
            else:
                yield Input(self.shown, id="value")
            hint = self.hint or (
                "ctrl+s saves · Esc cancels" if self.multiline else "Enter saves · Esc cancels"
            )
            yield Label(hint, classes="dim")

    def on_mount(self) -> None:
        self.query_one("#value").focus()

    def _current(self) -> str:
        w = self.query_one("#value")
        return self._result(w.text if isinstance(w, TextArea) else cast(Input, w).value)

    def _result(self, text: str) -> str:
        return self.value if text == self.shown else text

    def action_save(self) -> None:
        self.dismiss(self._current())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self._result(event.value))


PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # the rule memory.config applies
NEW_PROFILE = "__new__"


def clean_profile_name(text: str) -> str | None:
    """The profile name typed by a person (lowercased), or None when it is not valid."""
    name = text.strip().lower()
    return name if PROFILE_RE.match(name) else None


class ProfilePicker(ModalScreen[str | None]):
    """Pick a profile, or type a new one. Dismisses with the name, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="profile_cancel")]

    def __init__(
        self, profiles: list[str], current: str, counts: dict[str, tuple[int, int]] | None = None
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.profiles = profiles
        self.current = current
        self.counts = counts or {}  # profile -> (memories, conversations)

    def label(self, profile: str) -> str:
        mark = "● " if profile == self.current else "  "
        mems, convs = self.counts.get(profile, (0, 0))
        return f"{mark}{profile:<16} {_n(mems, 'memory', 'memories'):>14} · {_n(convs, 'chat', 'chats')}"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Switch profile", classes="dialog-question")
            yield Label("Each profile has its own memories and conversations.", classes="dim")
            options = [Option(self.label(p), id=p) for p in self.profiles]
            options.append(Option("  new profile…", id=NEW_PROFILE))
            yield OptionList(*options, id="profiles")
            yield Input(placeholder="new profile name (a-z, 0-9, - and _)", id="new-profile")
            yield Label("Enter switches · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        ol = self.query_one("#profiles", OptionList)
        ol.highlighted = self.profiles.index(self.current) if self.current in self.profiles else 0
        ol.focus()

    @on(OptionList.OptionSelected, "#profiles")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == NEW_PROFILE:
            self.query_one("#new-profile", Input).focus()
        else:
            self.dismiss(event.option.id)

    @on(Input.Submitted, "#new-profile")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        name = clean_profile_name(event.value)
        if name is None:
            self.notify(
                "Profile names are 1-32 characters: a-z, 0-9, '-' and '_'.", severity="error"
            )
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _n(n: int, one: str, many: str) -> str:
    return f"1 {one}" if n == 1 else f"{n:,} {many}"
