"""One token bucket shared by every task-query request, with a global pause after a 429.

DashScope allows about 20 task queries per second per account, shared by all its keys. Every GET /tasks and
GET /tasks/{id} of the process waits here, so no code path can exceed the rate; a 429 pauses everyone until
its Retry-After has passed (instead of each caller backing off on its own and stampeding together).

Submissions have no published rate: their limiter has no bucket (`rate=None`), only the pause. Without it, every
job queued behind a refused one was sent into the same refusal (1.4 answers of 429 per job sent at a 20/s
submit limit, bench/batch.py); with it, one 429 holds the sends until the Retry-After has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self, rate: float | None = 20.0, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`rate` tokens per second (None: no bucket, only the pause after a 429)."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1 (a bucket that never holds a whole token blocks forever)")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, (rate or 4.0) / 4)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.pauses = 0  # how many 429 pauses were taken (for the status bar and benchmarks)
        self.waited = 0.0  # seconds spent waiting for tokens

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        """Stop every caller for `seconds` (a 429's Retry-After); the bucket is emptied too."""
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1
        self._tokens = 0.0
        self._stamp = max(self._stamp, self._paused_until)  # no tokens accrue during the pause: no burst at its end

    async def acquire(self) -> None:
        """Wait for one token (callers are served in arrival order)."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                if self.rate is None:
                    return
                self._tokens = min(self.burst, self._tokens + max(0.0, now - self._stamp) * self.rate)
                self._stamp = max(self._stamp, now)
                if self._tokens >= 1.0 - 1e-9:  # float slack: an exact clock must not wait 1e-17 s forever
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
                self.waited += wait
                await asyncio.sleep(wait)
