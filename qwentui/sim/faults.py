"""Deliberate trouble: rate limits, 429/5xx storms, dropped connections, failed tasks.

All decisions come from the simulator's one seeded `random.Random` and its clock, and read the config at
the moment they are made, so a test can turn a knob between two requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from qwentui.sim.config import SimConfig
from qwentui.sim.errors import MSG_RATE, ApiError

# Failure answers of finished tasks, worded like the real ones (moderation is by far the most common).
TASK_FAILURES: tuple[tuple[str, str], ...] = (
    ("DataInspectionFailed", "Output data may contain inappropriate content."),
    ("DataInspectionFailed", "Input data may contain inappropriate content."),
    ("InternalError.Algo", "An internal error occurred during algorithm processing, please try again later."),
)
FAILURE_MESSAGES = dict(reversed(TASK_FAILURES))  # first message wins for a forced failure_code


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


class TokenBucket:
    """`rate` tokens per second, bursts up to max(1, rate). The rate is passed on every call so a knob
    change applies at once."""

    def __init__(self) -> None:
        self._tokens: float | None = None
        self._stamp = 0.0

    def take(self, rate: float | None, now: float) -> float | None:
        """None when a token was taken, else the seconds until one will be available."""
        if rate is None or rate <= 0:
            return None
        capacity = max(1.0, rate)
        if self._tokens is None:
            self._tokens, self._stamp = capacity, now
        self._tokens = min(capacity, self._tokens + max(0.0, now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate


class Faults:
    def __init__(self, config: SimConfig, rng: random.Random, started_at: float) -> None:
        self.config = config
        self.rng = rng
        self.started_at = started_at
        self.query_bucket = TokenBucket()
        self.submit_bucket = TokenBucket()

    def roll(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    def storm(self, now: float) -> ApiError | None:
        """A storm answer for this request, or None."""
        cfg = self.config
        since = now - self.started_at
        in_window = any(start <= since < end for start, end in cfg.storm_windows)
        if not (in_window or self.roll(cfg.storm_rate)) or not cfg.storm_statuses:
            return None
        status = self.rng.choice(cfg.storm_statuses)
        return ApiError.for_status(status, retry_after=cfg.storm_retry_after)

    def throttle_query(self, now: float) -> ApiError | None:
        wait = self.query_bucket.take(self.config.task_query_qps, now)
        return None if wait is None else ApiError(429, "Throttling.RateQuota", MSG_RATE, retry_after=wait)

    def throttle_submit(self, now: float) -> ApiError | None:
        wait = self.submit_bucket.take(self.config.submit_qps, now)
        return None if wait is None else ApiError(429, "Throttling.RateQuota", MSG_RATE, retry_after=wait)

    def task_failure(self) -> Failure | None:
        """Whether a new task will fail, and how."""
        if not self.roll(self.config.failure_rate):
            return None
        code = self.config.failure_code
        if code:
            return Failure(code, FAILURE_MESSAGES.get(code, "The task failed (simulated)."))
        return Failure(*self.rng.choice(TASK_FAILURES))
