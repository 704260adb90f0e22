"""What the drop-folder panel shows: per rule, watching or paused, counts, and the last thing that happened.

Plain data, no markup: file names are untrusted text and the UI escapes them. The totals (taken, done,
failed, duplicates) count every run (`counts.CountKeeper` keeps them in the store); waiting, in flight and
needs-user are what is true now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass
class RuleStatus:
    name: str
    folder: Path
    mode: str
    model: str
    state: str = "watching"  # watching | paused | disabled | waiting (another process runs the engine)
    waiting: int = 0  # files seen but not complete yet (or waiting for their kf2v partner)
    in_flight: int = 0  # claimed, their job not finished
    needs_user: int = 0  # in flight, but their job waits for the user's decision
    held: int = 0  # in flight, but a spending cap keeps their job from being sent (core/budget.py)
    taken: int = 0
    done: int = 0
    failed: int = 0
    duplicates: int = 0
    last_event: str = ""
    last_event_at: float | None = None


@dataclass
class DropStatus:
    running: bool = False
    polling: bool = False
    watcher_error: str | None = None
    rules: list[RuleStatus] = field(default_factory=list)

    def rule(self, name: str) -> RuleStatus | None:
        return next((r for r in self.rules if r.name == name), None)


class StatusBoard:
    """The live status; `snapshot()` hands out copies so a UI never sees one half-updated."""

    def __init__(self, rules: list[RuleStatus], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.status = DropStatus(rules=rules)
        self.listeners: list[Callable[[str], None]] = []
        self.count_listeners: list[Callable[[str, dict[str, int]], None]] = []  # (rule, counts added by event)

    def get(self, name: str) -> RuleStatus:
        found = self.status.rule(name)
        if found is None:
            raise KeyError(f"no drop rule named {name!r}")
        return found

    def event(self, name: str, text: str, **counts: int) -> None:
        """Record what happened (`text`) and add `counts` (e.g. done=1, in_flight=-1)."""
        rule = self.get(name)
        rule.last_event, rule.last_event_at = text, self.clock()
        for key, delta in counts.items():
            setattr(rule, key, getattr(rule, key) + delta)
        for listener in self.count_listeners:
            listener(name, counts)
        self._notify(name)

    def set(self, name: str, **values: object) -> None:
        rule = self.get(name)
        changed = any(getattr(rule, k) != v for k, v in values.items())
        for key, value in values.items():
            setattr(rule, key, value)
        if changed:
            self._notify(name)

    def snapshot(self) -> DropStatus:
        s = self.status
        return DropStatus(s.running, s.polling, s.watcher_error, [replace(r) for r in s.rules])

    def _notify(self, name: str) -> None:
        for listener in self.listeners:
            listener(name)
