"""What the job list shows: states, modes, models and a full-text search, as one immutable value.

The store does the filtering (SQL and FTS5). `matches_fields` repeats the cheap part in Python, so a changed
job can be placed in or out of the visible window without a query; the text part never changes for a job
(prompts are fixed once written), which is what lets the table avoid re-running the search on every tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwentui.core.states import ACTIVE, JobState
from qwentui.core.store import Job

# The state choices of the filter bar: a few groups people think in, then every single state.
STATE_GROUPS: dict[str, frozenset[JobState]] = {
    "active": ACTIVE,
    "needs you": frozenset({JobState.NEEDS_USER}),
    "finished": frozenset({JobState.DONE}),
    "failed": frozenset({JobState.FAILED, JobState.REJECTED, JobState.EXPIRED}),
    "canceled": frozenset({JobState.CANCELED}),
}


@dataclass(frozen=True)
class JobFilter:
    states: frozenset[JobState] | None = None
    modes: frozenset[str] | None = None
    models: frozenset[str] | None = None
    text: str = ""

    @property
    def is_empty(self) -> bool:
        return self.states is None and self.modes is None and self.models is None and not self.text.strip()

    def matches_fields(self, job: Job) -> bool:
        """Every condition but the text search."""
        return (
            (self.states is None or job.state in self.states)
            and (self.modes is None or job.mode in self.modes)
            and (self.models is None or job.model in self.models)
        )

    def describe(self) -> str:
        parts = []
        if self.states is not None:
            parts.append("state " + "/".join(sorted(s.value for s in self.states)))
        if self.modes is not None:
            parts.append("mode " + "/".join(sorted(self.modes)))
        if self.models is not None:
            parts.append("model " + "/".join(sorted(self.models)))
        if self.text.strip():
            parts.append(f"text {self.text.strip()!r}")
        return ", ".join(parts) or "all jobs"
