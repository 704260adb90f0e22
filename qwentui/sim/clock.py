"""Time for the simulator: a settable clock for tests and the service's timestamp formats.

The real service stamps tasks in its own zone (UTC+8 for Beijing and Singapore), as
`YYYY-MM-DD HH:MM:SS.mmm` in task queries, epoch milliseconds in the task list, and takes list filters as
`YYYYMMDDhhmmss` in that same zone. Clients that assume UTC get an 8-hour error; the simulator keeps it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

DEFAULT_START = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: a fixed, readable start for fake clocks


class FakeClock:
    """A clock that only moves when told to: `SimConfig(clock=FakeClock())`, then `clock.advance(5)`."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.now += seconds
        return self.now


def zone(offset_hours: float) -> timezone:
    return timezone(timedelta(hours=offset_hours))


def task_time(ts: float, offset_hours: float) -> str:
    """'2026-01-01 08:00:00.123' in the service zone (task query fields)."""
    ms = epoch_ms(ts)  # via whole milliseconds, so it always agrees with the task list's numbers
    dt = datetime.fromtimestamp(ms // 1000, zone(offset_hours))
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def epoch_ms(ts: float) -> int:
    return math.floor(ts * 1000)


def parse_list_time(value: str, offset_hours: float) -> float:
    """`YYYYMMDDhhmmss` in the service zone -> epoch seconds; ValueError when malformed."""
    if len(value) != 14 or not value.isdigit():
        raise ValueError(value)
    dt = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=zone(offset_hours))
    return dt.timestamp()


def list_time(ts: float, offset_hours: float) -> str:
    """The inverse of parse_list_time (for tests and clients building filters)."""
    return datetime.fromtimestamp(ts, zone(offset_hours)).strftime("%Y%m%d%H%M%S")
