"""Whether the service is failing right now, for the one request that must not be sent into it.

A synchronous POST whose answer is lost (a dropped connection, a 500) may have been processed and billed, and it
leaves no task to look for: its job then asks the user. Trouble often comes in spells (a gateway restarting, an
overload): while the latest exchange failed, a sync POST sent now would likely meet the same. So a sync POST
waits until a cheap request that changes nothing (one row of the task list) succeeds again. Async submits do not
wait: the task list settles their lost answers. A 429 says we are sending too fast, not that the service fails;
a 4xx other than that is the service reading and judging a request: it works. An answer tells how the service
was when its request went out: a long exchange (a sync call takes seconds) that succeeds after a later one
failed does not say the trouble is over; only one sent after the latest failure's request does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

HOLD_LIMIT = 15.0  # seconds a sync POST waits at most; then it is sent and its own answer decides, as before
PAUSES = (0.25, 0.5, 1.0, 2.0)  # between probes, then the last one again


class ServiceHealth:
    def __init__(self) -> None:
        self.failing = False  # no exchange sent after the latest failed one has succeeded yet
        self._failed_sent = float("-inf")  # when the latest failed exchange was sent (time.monotonic)
        self.holds = 0  # sync POSTs that waited for a probe to succeed
        self.held_seconds = 0.0

    def answered(self, status: int, sent: float) -> None:
        """An answer with this HTTP status to a request sent at `sent` (time.monotonic)."""
        if status >= 500:
            self.lost(sent)
        elif status != 429 and sent > self._failed_sent:
            self.failing = False

    def lost(self, sent: float) -> None:
        """An exchange sent at `sent` met a 5xx, or its request went out and its answer did not come back."""
        self.failing = True
        self._failed_sent = max(self._failed_sent, sent)

    async def wait(self, probe: Callable[[], Awaitable[object]], limit: float = HOLD_LIMIT) -> float:
        """Hold while failing: probe (whose outcome comes back through `answered` / `lost`), pause, probe again,
        up to `limit` seconds. Returns the seconds held. A probe's own errors are its outcome, not ours: only
        those the caller lets through (a rejected key) end the wait early."""
        if not self.failing:
            return 0.0
        started = time.monotonic()
        self.holds += 1
        for i in range(10_000):
            await probe()
            if not self.failing or time.monotonic() - started >= limit:
                break
            await asyncio.sleep(PAUSES[min(i, len(PAUSES) - 1)])
        held = time.monotonic() - started
        self.held_seconds += held
        return held
