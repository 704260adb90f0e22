"""The footer of keys: quit and help always in sight, rebuilt only when the keys it shows change.

Textual's Footer lists keys left to right and cuts what does not fit, so at 80 columns the keys that matter most
to someone lost (quit, and the key list) were the ones cut. Here they sit at the right edge beside the command
palette key, and the screen's own keys fill the space before them (compact at narrow widths).

Textual's Footer also recomposes all its key widgets whenever the screen's bindings are refreshed, which happens
on every focus change: tabbing through the composer's fields rebuilt the footer on each press although the keys
shown stayed the same. This footer compares what it would show first.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalGroup
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

Shown = tuple[tuple[str, str, str, bool], ...]
PINNED = ("toggle_help", "quit")  # actions shown at the right edge whatever the width, in this order
COMPACT_BELOW = 110  # columns: narrower, the keys lose the spaces around them


class KeyBar(Footer):
    DEFAULT_CSS = """
    KeyBar #pinned-keys { dock: right; width: auto; height: 1; background: $footer-background; }
    KeyBar #pinned-keys FooterKey { margin-left: 1; }
    KeyBar #pinned-keys FooterKey.-command-palette { dock: none; }
    """

    _shown: Shown | None = None

    def _visible(self, screen: Screen[object]) -> Shown:
        return tuple(
            (binding.key, binding.description, binding.action, enabled)
            for _, binding, enabled, _ in screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = self._visible(screen)
        if shown == self._shown:
            return
        if screen.app.app_focus:  # Footer skips the rebuild while the terminal is unfocused: remember only a done one
            self._shown = shown
        super().bindings_changed(screen)

    def on_resize(self) -> None:
        self.compact = self.size.width < COMPACT_BELOW

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        first: dict[str, tuple[Binding, bool, str]] = {}  # one key per action, the first bound
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                first.setdefault(binding.action, (binding, enabled, tooltip))
        for action, (binding, enabled, tooltip) in first.items():
            if action not in PINNED:
                yield self._key(binding, enabled, tooltip)
        with HorizontalGroup(id="pinned-keys"):
            for action in PINNED:
                if action in first:
                    yield self._key(*first[action])
            palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette is not None:
                _, binding, enabled, tooltip = palette
                yield self._key(binding, enabled, tooltip or binding.tooltip, classes="-command-palette")

    def _key(self, binding: Binding, enabled: bool, tooltip: str, classes: str = "") -> FooterKey:
        return FooterKey(
            binding.key,
            self.app.get_key_display(binding),
            binding.description,
            binding.action,
            disabled=not enabled,
            tooltip=tooltip,
            classes=classes,
        ).data_bind(compact=Footer.compact)
