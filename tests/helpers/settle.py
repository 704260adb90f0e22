"""Pilot waits for the app to settle, not for the process to look idle.

Textual's Pilot waits after every key and `pause()` with `wait_for_idle`: it sleeps in 20 ms steps until a step
passes with almost no CPU used, for up to a second. Beside a live engine and simulator the process is rarely that
quiet, so each key cost ~150 ms and most of a TUI test's time went into those naps (335 of them, 49.5 s of the
composer's 67 s test). `settle` waits on what the nap stands for instead: the queues of the app and of every
widget on the current screen hold nothing, queued or in hand, for a couple of turns of the event loop. Pilot's
other wait, a callback queued through every widget after each key, is read from the same queues (`settled_screen`).

Anything that finishes outside the message queues (a thread worker, the engine, a timer) is not covered by
either wait; tests wait on those with `wait_until`, as they already must.
"""

from __future__ import annotations

import asyncio

from textual._context import active_app
from textual._queue import Queue
from textual.app import App
from textual.message_pump import MessagePump
from textual.pilot import Pilot

MAX_TURNS = 500  # a pump that keeps posting to itself would otherwise hold the test forever
QUIET_TURNS = 2  # a message handled on one turn may post the next one at that turn's end


def _pumps(app: App[object]) -> list[MessagePump]:
    try:
        screen = app.screen
    except Exception:  # no screen yet, or the app is closing
        return [app]
    return [app, *screen.walk_children(with_self=True)]


def _busy(pump: MessagePump) -> bool:
    """Whether `pump` has a message queued or in hand, or a callback waiting for its next idle moment. Textual's
    queue keeps no count of messages in hand, but a pump with nothing in hand is parked in the queue's `get`,
    waiting on its ready event: no waiter there means a handler is still running."""
    if not pump.is_running or pump._closed:
        return False
    queue: Queue[object] = pump._message_queue
    return bool(queue.values or pump._next_callbacks or not queue.ready_event._waiters)


def _frame_due(app: App[object]) -> bool:
    """A layout the last key asked for, or callbacks waiting for the next frame (`call_after_refresh`: a Select
    opening its list sets the highlight that way)."""
    try:
        screen = app.screen
    except Exception:
        return False
    return bool(screen.is_current and (screen._layout_required or screen._scroll_required or screen._callbacks))


async def settle(min_sleep: float = 0.0, max_sleep: float = 1.0) -> None:
    """Stands in for `textual._wait.wait_for_idle` (same signature): returns once no pump of the app and its
    screen has had anything queued or in hand for `QUIET_TURNS` turns of the event loop."""
    del min_sleep, max_sleep
    try:
        app = active_app.get()
    except LookupError:
        await asyncio.sleep(0)
        return
    # The widget tree rarely changes while it settles: walked once, and again only to confirm the quiet.
    pumps = _pumps(app)
    quiet = turns = 0
    while turns < MAX_TURNS:
        if getattr(app, "keys_pending", False):
            # The app holds a key back until the one before it is done (tui/key_order.py), which may wait on a
            # store read in a thread: the key pressed has not been sent yet, whatever the queues show. Not a
            # turn: a held key is let go within key_order.STALL.
            quiet = 0
            await asyncio.sleep(0.001)
            continue
        turns += 1
        await asyncio.sleep(0)
        if any(_busy(pump) for pump in pumps):
            quiet = 0
            continue
        quiet += 1
        if quiet < QUIET_TURNS:
            continue
        if _frame_due(app):
            # Keys typed at a person's pace have a frame between them (Textual lays out and draws at most every
            # 1/60 s, and the old nap let that timer run): the layout and the after-refresh callbacks the last
            # key asked for run now, so the next key meets them. (Mere repaints wait for the timer: they change
            # nothing a key acts on.)
            screen = app.screen
            screen._on_timer_update()
            await screen._invoke_and_clear_callbacks()
            quiet = 0
            continue
        confirmed = _pumps(app)
        if len(confirmed) == len(pumps) and not any(_busy(pump) for pump in confirmed):
            return
        pumps, quiet = confirmed, 0


async def settled_screen(pilot: Pilot[object], timeout: float = 30.0) -> bool:
    """Stands in for `Pilot._wait_for_screen`, which queues a callback on every widget of the screen and waits
    for each to run (a few hundred message round trips for the composer): the same guarantee, read from the
    queues. False when the app has failed, as there."""
    del timeout
    await settle()
    return not pilot.app._exception_event.is_set()
