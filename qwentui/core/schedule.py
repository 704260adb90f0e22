"""When to look at a task next: a pure policy, so it can be tested and stored (next_check_at).

A task is not asked about before it could plausibly be done (a fraction of its model's shortest typical
time), then often while it is within its typical time (so finish-to-known lag stays low), then less and less
often once it runs late. Batched listing makes the frequent phase cheap: one list request answers for up to
a page of tasks, so a sweep costs one request per window it lists, whatever the tasks in it. The interval
therefore grows with the windows a sweep needs (`sweep_interval`): a sweep of one window (a hundred tasks in
flight) is cheap and comes every `interval`; a sweep of many (a thousand tasks, one window per model and page)
comes less often, up to `max_sweep_stretch` times the interval, which keeps lists under one per task while the
finish-to-known lag stays near the interval.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchedulePolicy:
    interval: float = 2.0  # seconds between checks while a task is inside its typical time
    max_interval: float = 30.0  # cap for tasks that run long
    first_fraction: float = 0.6  # first check at this fraction of the shortest typical time
    time_scale: float = 1.0  # scales the catalog's typical durations (the simulator runs faster)
    sweep_stretch: float = 0.04  # the interval grows by this fraction per window a sweep lists beyond the first
    max_sweep_stretch: float = 1.3  # ... up to this factor (2.6 s: lag p95 stays near 3 s at 1,000 in flight)

    def sweep_interval(self, windows: int) -> float:
        """The interval between looks at a task inside its typical time, when a sweep lists `windows` windows."""
        stretch = min(self.max_sweep_stretch, 1.0 + self.sweep_stretch * max(0, windows - 1))
        return self.interval * max(1.0, stretch)

    def first_check(self, submitted_at: float, typical: tuple[float, float]) -> float:
        lo = typical[0] * self.time_scale
        return submitted_at + max(self.interval / 2, lo * self.first_fraction)

    def next_check(
        self, now: float, submitted_at: float, typical: tuple[float, float], interval: float | None = None
    ) -> float:
        """The next look; `interval` (default: `interval`) is the one of the sweep the task is in."""
        step = self.interval if interval is None else interval
        lo, hi = typical[0] * self.time_scale, typical[1] * self.time_scale
        elapsed = now - submitted_at
        if elapsed < 0:  # the wall clock went back past the send: wait as if it had just been sent
            return now + max(self.interval / 2, lo * self.first_fraction)
        if elapsed < lo * self.first_fraction:
            return submitted_at + lo * self.first_fraction
        late_by = elapsed - hi * 1.5
        if late_by <= 0:
            return now + step
        # overdue: stretch the interval in proportion to how late it is, up to the cap
        stretch = 1.0 + late_by / max(hi, step)
        return now + min(self.max_interval, step * stretch)

    def retry_delay(self, attempt: int, base: float | None = None) -> float:
        """Backoff for retries of failed steps (uploads, downloads, submissions refused with 429/5xx)."""
        b = base if base is not None else self.interval
        return min(self.max_interval * 4, b * 2 ** max(0, attempt - 1))
