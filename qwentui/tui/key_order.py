"""Keys typed faster than the app settles still land, in order, where the focus is.

Textual sends each key to the widget focused when the app reads it from the terminal, but what a key does (move
the focus: tab, `/`, escape; open a screen: `n`; pick in a list: enter) happens later, when the key has travelled
up to the app and its binding runs, and often a message after that (`focus()` is deferred). Keys read in one burst
(a fast typist, key repeat, `tmux send-keys`) all went to the widget focused before the burst: "/dragon" duplicated
a job (the `d` reached the main screen's bindings before the search box had the focus), `n` and a prompt lost the
first letters, "escape n" typed an n into the search box.

So keys go one at a time. The next key is sent when the one before it is done (a widget used it, or it came back
to the app and its binding ran), behind the focus changes it asked the app for; when it opened a screen (or went
back to one), also behind that screen's mount and resume, which set its focus. A key lost on its way (its widget
removed before reading it) holds the others back at most `STALL`. While what it waits on (the widget it was sent
to, a screen it opened and that is mounting) is still there, it waits on, up to `GIVE_UP`: under load a busy widget
or a mounting screen can take seconds, and the next key sent early would go astray.

A key the focused widget declares in place (`IN_PLACE_KEYS`: its own binding handles it, nothing before that
binding reads it, and the binding neither moves the focus nor opens a screen, such as the job table's cursor keys)
skips the hops: when no key is out, its binding runs as the app reads it, as Textual runs a burst of keys before
its next frame. A held Down key then costs no trip through the widget's, the screen's and the app's queues, which
under load let a frame (or other work) in between every two keys.

Keys typed while the app is still starting (the database opening, before the screen they are meant for exists)
wait: `hold_keys()` keeps them, but for the app's priority bindings (quit), until `let_keys_in()`.

What is left, a widget that moves the focus some messages after it used a key (Textual's Select commits a pick
that way), is caught at the app: a printable key that no widget used and no binding wants, arriving after the
focus moved away from the widget it was sent to, is sent on to the widget that has the focus now.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from textual import events
from textual.app import App, ScreenStackError
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget

STALL = 0.5  # seconds a key may stay out before the next one goes anyway (its widget went away with it)
GIVE_UP = 3.0  # seconds after which a key still out is let go even though what it waits on is still there


class TrackedKey(events.Key):
    """A key from the terminal as `InOrderKeys` sends it on: knows where it was sent and says when it was used."""

    __slots__ = ("_on_used", "screen", "sent_at", "sent_to")

    def __init__(
        self, key: events.Key, screen: Screen[Any], sent_to: Widget | None, on_used: Callable[[TrackedKey], None]
    ) -> None:
        super().__init__(key.key, key.character)
        self.time = key.time
        # No sender: a key sent by the app would be stopped by the screen on its way back up (Textual stops a
        # message at the sender's child), which would read here as a widget having used it.
        self._sender = None
        self.screen = screen
        self.sent_to = sent_to
        self.sent_at = asyncio.get_running_loop().time()
        self._on_used = on_used

    def stop(self, stop: bool = True) -> Message:
        super().stop(stop)
        if stop:  # a widget used the key: it goes no further
            self._on_used(self)
        return self


TrackedKey.handler_name = events.Key.handler_name  # handled as a Key: `on_key`, `key_…` methods, bindings


class InOrderKeys(App[None]):
    """App mixin: sends the terminal's keys on one at a time, each once the last one is done (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys_waiting: deque[events.Key] = deque()
        self._key_out: TrackedKey | None = None  # sent, and not yet released
        self._key_done = False  # the key out is done; its release is on its way through the queues
        self._stall: asyncio.TimerHandle | None = None
        self._hop_screen: Screen[Any] | None = None  # the screen whose queue the key out's release waits in
        self.keys_stalled = 0  # keys sent on by the stall timer: each one a key whose end was never seen
        self._keys_held = False  # start-up: keys wait for the screen they are meant for (module docstring)

    def hold_keys(self) -> None:
        self._keys_held = True

    async def let_keys_in(self) -> None:
        self._keys_held = False
        await self._send_next_key()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and not isinstance(event, TrackedKey):
            self._keys_waiting.append(event)
            if self._key_out is None:
                await self._send_next_key()
            return
        await super().on_event(event)

    async def _send_next_key(self) -> None:
        if self._keys_held:
            # only a priority binding of the app's own (quit) goes through; typed keys keep their order behind it
            quit_keys = [k for k in self._keys_waiting if self._is_app_priority_key(k)]
            for key in quit_keys:
                self._keys_waiting.remove(key)
                await super().on_event(key)
            return
        while self._key_out is None and self._keys_waiting and await self._ran_in_place(self._keys_waiting[0]):
            self._keys_waiting.popleft()
        if self._key_out is not None or not self._keys_waiting:
            return
        key = self._out(self._keys_waiting.popleft())
        await super().on_event(key)  # a priority binding takes it here, or it goes on to the focused widget
        if not key.is_forwarded:
            self._finished(key)

    def _is_app_priority_key(self, key: events.Key) -> bool:
        return any(binding.priority for binding in self._bindings.key_to_bindings.get(key.key, ()))

    async def _ran_in_place(self, key: events.Key) -> bool:
        """Run `key`'s binding here if the focused widget declares the key in place (module docstring): every key
        before it is done, so it would go to that widget and reach the same binding, only later."""
        focused = self.focused
        if focused is None or key.key not in getattr(focused, "IN_PLACE_KEYS", ()):
            return False
        try:
            if self.screen.maximized is not None:
                return False  # Textual's own key handling has a say first (escape minimizes)
        except ScreenStackError:
            return False
        if await self._check_bindings(key.key, priority=True):
            return True
        return await self._check_bindings(key.key)

    def _out(self, key: events.Key) -> TrackedKey:
        """`key` becomes the key out, tracked and guarded by the stall timer."""
        if self._stall is not None:
            self._stall.cancel()
        out = TrackedKey(key, self.screen, self.focused, self._finished)
        self._key_out, self._key_done, self._hop_screen = out, False, None
        self._stall = asyncio.get_running_loop().call_later(STALL, self._stalled, out)
        return out

    def _stalled(self, key: TrackedKey) -> None:
        """Every `STALL` while a key is out: it is lost only when what it waits on is gone (under load a busy
        widget or a mounting screen can take seconds, and sending the next key then would send it astray)."""
        if key is not self._key_out:
            return
        waiting_on = self._hop_screen if self._key_done else (key.sent_to or key.screen)
        loop = asyncio.get_running_loop()
        alive = waiting_on is not None and waiting_on.is_running and waiting_on.is_attached and not waiting_on.disabled
        if alive and loop.time() - key.sent_at < GIVE_UP:
            self._stall = loop.call_later(STALL, self._stalled, key)
            return
        self.keys_stalled += 1
        self.call_later(self._release, key)

    @property
    def keys_pending(self) -> bool:
        """A key is out, or waiting for the one out: what it will do has not happened yet."""
        return self._key_out is not None or bool(self._keys_waiting)

    def _finished(self, key: TrackedKey) -> None:
        """The key is done: release the next one behind what it queued for the screen and the app."""
        if key is not self._key_out or self._key_done:
            return
        self._key_done = True
        try:
            screen = self.screen
        except ScreenStackError:  # quitting
            return
        # A screen the key opened (or went back to) takes the focus when it has mounted and resumed: the release
        # waits behind that in its queue. On the same screen it only waits behind the focus changes the key's
        # binding asked the app for (not behind the screen's own work, such as a page read from the store).
        if screen is key.screen or not screen.call_later(self._release_via_app, key):
            self.call_later(self._release, key)
        else:  # not lost: the screen is mounting (a second or two under load); only its removal would lose it
            self._hop_screen = screen

    def _release_via_app(self, key: TrackedKey) -> None:
        self.call_later(self._release, key)  # behind the focus changes the screen asked the app for

    async def _release(self, key: TrackedKey) -> None:
        if key is not self._key_out:  # released already (by the stall timer, or the other way round)
            return
        if self._stall is not None:
            self._stall.cancel()
        self._key_out = None
        await self._send_next_key()

    async def _on_key(self, event: events.Key) -> None:
        event.prevent_default()  # App._on_key is called here, so the key is known to be done after its binding ran
        focused = self.focused
        if (
            isinstance(event, TrackedKey)
            and event.is_printable
            and event.sent_to is not None
            and focused is not None
            and focused is not event.sent_to
            and not self.screen.active_bindings.get(event.key)
        ):
            # Sent on as the key out: the next key waits until this one is used where it now goes (a space
            # typed after it would otherwise overtake it).
            if event is self._key_out:
                focused._forward_event(self._out(event))
            else:  # let go by the stall timer already: another key is out
                stray = events.Key(event.key, event.character)
                stray.set_sender(self)
                focused._forward_event(stray)
            return
        await super()._on_key(event)
        if isinstance(event, TrackedKey):
            self._finished(event)
