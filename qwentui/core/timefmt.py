"""Durations as people read them: one formatter for the CLI and the TUI, in four styles.

- "coarse": 5s, 3m, 2h, 4d, whole units rounded down: a table column whose text changes rarely (repaints little).
- "decimal": 45s, 3m, 1.5h, 2.0d: the CLI's ages, a tenth of an hour or day where that still says something.
- "two_units": 45s, 3m 05s, 1h 02m, 2d 3h: a wait a person reads (a pause, a retry).
- "clock": 0:42, 3:05, 1:02:03: an elapsed time watched while it runs.
A negative duration (a clock set back) reads as zero.
"""

from __future__ import annotations

from typing import Literal

Style = Literal["coarse", "decimal", "two_units", "clock"]

MINUTE, HOUR, DAY = 60, 3600, 86400


def duration(seconds: float, style: Style = "coarse") -> str:
    if style == "decimal":
        return _decimal(max(0.0, seconds))
    if style == "two_units":
        s = max(0, round(seconds))
        if s < MINUTE:
            return f"{s}s"
        if s < HOUR:
            return f"{s // MINUTE}m {s % MINUTE:02d}s"
        if s < DAY:
            return f"{s // HOUR}h {s % HOUR // MINUTE:02d}m"
        return f"{s // DAY}d {s % DAY // HOUR}h"
    s = max(0, int(seconds))
    if style == "clock":
        h, rest = divmod(s, HOUR)
        m, sec = divmod(rest, MINUTE)
        return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
    for unit, name in ((DAY, "d"), (HOUR, "h"), (MINUTE, "m")):
        if s >= unit:
            return f"{s // unit}{name}"
    return f"{s}s"


def _decimal(seconds: float) -> str:
    if seconds < MINUTE:
        return f"{seconds:.0f}s"
    if seconds < HOUR:
        return f"{seconds / MINUTE:.0f}m"
    if seconds < DAY:
        return f"{seconds / HOUR:.1f}h"
    return f"{seconds / DAY:.1f}d"
