"""The footer: the keys that matter first, compact, so F1 (every key) and F2 (memory) show
even at 80 columns. Everything else stays reachable through F1 and the command palette."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Binding ids that come first; the rest follow in Textual's order (the focused widget's keys,
# then the screen's, then the app's).
FIRST = ("help", "inspector", "inspector_close", "memory_restore")


def _rank(binding_id: str | None, index: int) -> tuple[int, int]:
    return (FIRST.index(binding_id) if binding_id in FIRST else len(FIRST), index)


class KeyFooter(Footer):
    """A compact :class:`Footer` that lists the bindings in :data:`FIRST` order."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("compact", True)
        super().__init__(**kwargs)

    def on_resize(self) -> None:
        self.refresh(recompose=True)  # what fits changes with the width

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        seen: set[str] = set()
        shown = []
        for n, (_, binding, enabled, tooltip) in enumerate(active.values()):
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                shown.append((_rank(binding.id, n), binding, enabled, tooltip))
        shown.sort(key=lambda item: item[0])
        palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        # Born with the class its compact binding would add once mounted: adding it then
        # restyled every key a second time before the first paint (~1 ms a key).
        compact = "-compact" if self.compact else ""
        room = self.size.width - (len("^p palette") + 3 if palette else 0)
        for _, binding, enabled, tooltip in shown:
            cells = len(self.app.get_key_display(binding)) + len(binding.description) + 2
            if self.size.width and cells > room:
                break  # a cut-off key helps no one: the rest are in F1 and the palette
            room -= cells
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
                classes=compact,
            ).data_bind(compact=Footer.compact)
        if palette:
            entry = active.get(self.app.COMMAND_PALETTE_BINDING)
            if entry is not None:
                _, binding, enabled, tooltip = entry
                yield FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    classes="-command-palette -compact",  # (its compact is always on)
                    disabled=not enabled,
                    tooltip=binding.tooltip or binding.description,
                )
