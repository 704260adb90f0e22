"""Keys typed faster than the app settles still land, in order, where the focus is.

Textual sends each key to the widget that has the focus when the key is read, but a tab (or an enter that picks
in a list) only moves the focus once that key has travelled up to the app, which checks the bindings. Keys read
in the same burst (a fast typist, a terminal's key repeat, `tmux send-keys`) were all sent to the widget focused
before the burst, so the text typed after "tab tab" reached a list or a select and was lost. Here a printable key
that no widget used and no binding wants, arriving at the app after the focus moved away from the widget it was
sent to, is sent on to the widget that has the focus now. Keys travel up in the order they were read, so the
text keeps its order.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from textual import events
from textual.app import App
from textual.widget import Widget

MAX_TRACKED = 256  # keys in flight remembered (a priority binding consumes a key that never comes back)


class InOrderKeys(App[None]):
    """App mixin: remembers where each key was sent and re-sends stray printable keys to the focused widget."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent_to: OrderedDict[int, Widget | None] = OrderedDict()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._sent_to[id(event)] = self.focused
            while len(self._sent_to) > MAX_TRACKED:
                self._sent_to.popitem(last=False)
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        sent_to = self._sent_to.pop(id(event), None)
        focused = self.focused
        if (
            event.is_printable
            and sent_to is not None
            and focused is not None
            and focused is not sent_to
            and not self.screen.active_bindings.get(event.key)
        ):
            event.prevent_default()  # not Textual's own handler: the key is not lost at the app
            stray = events.Key(event.key, event.character)
            stray.set_sender(self)
            focused._forward_event(stray)
