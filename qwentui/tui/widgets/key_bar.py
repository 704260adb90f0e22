"""The footer of keys, rebuilt only when the keys it shows change.

Textual's Footer recomposes all its key widgets whenever the screen's bindings are refreshed, which happens on
every focus change: tabbing through the composer's fields rebuilt the footer (and re-styled every key) on each
press although the keys shown stayed the same. This footer compares what it would show first.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

Shown = tuple[tuple[str, str, str, bool], ...]


class KeyBar(Footer):
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
