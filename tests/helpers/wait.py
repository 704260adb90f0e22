"""The one way a test waits: on a condition, never for a fixed time, and never asserting a duration.

A check that raises `LookupError` (a `KeyError` for a row that has not arrived yet, an `IndexError` for an empty
list) means "not there yet", not a failure; on timeout the last such error is chained to the failure.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

NOT_YET: tuple[type[BaseException], ...] = (LookupError,)


async def poll_until(
    check: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    nap: Callable[[float], Awaitable[object]] = asyncio.sleep,
    not_yet: tuple[type[BaseException], ...] = NOT_YET,
) -> None:
    """Poll `check` (sync or async) until it holds, napping `interval` between looks; fail naming `what` after
    `timeout`. `nap` is `pilot.pause` in TUI tests, so the app keeps running while the test waits."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except not_yet as exc:
            result, last = False, exc
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from last
        await nap(interval)


def wait_for(
    check: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    not_yet: tuple[type[BaseException], ...] = NOT_YET,
) -> None:
    """`poll_until` for code outside an event loop (threads, subprocesses): blocks the calling thread."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
        except not_yet as exc:
            result, last = False, exc
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from last
        time.sleep(interval)
