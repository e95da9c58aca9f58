"""Pick a model: detected ones (config, API keys, local Ollama) or any litellm model string."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList


class ModelPicker(ModalScreen[str | None]):
    """Dismisses with the model string ("" = back to the default) or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker_cancel")]

    def __init__(self, assistant, current: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.assistant = assistant
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Model for this conversation", classes="dialog-question")
            yield Input(
                self.current,
                placeholder="any litellm model, e.g. anthropic/claude-haiku-4-5",
                id="model",
            )
            yield Label(
                "Detected models (Enter picks; an empty field means the default):", classes="dim"
            )
            yield OptionList(id="models")

    def on_mount(self) -> None:
        self.query_one("#model", Input).focus()
        self._detect()

    @work(thread=True, exclusive=True)
    def _detect(self) -> None:
        try:
            models = self.assistant.available_models()
        except Exception:  # noqa: BLE001 - detection is best effort
            models = []
        self.app.call_from_thread(self._show, models)

    def _show(self, models: list[str]) -> None:
        ol = self.query_one("#models", OptionList)
        ol.clear_options()
        ol.add_options(models or ["(none detected: type a model string above)"])
        ol.disabled = not models

    @on(OptionList.OptionSelected, "#models")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.prompt))

    @on(Input.Submitted, "#model")
    def _typed(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
