"""What the job list shows: states, modes, models, culling marks, one batch, one job's family and a full-text
search, as one immutable value.

The store does the filtering (SQL and FTS5). `matches_fields` repeats the cheap part in Python, so a changed
job can be placed in or out of the visible window without a query; the text part never changes for a job
(prompts are fixed once written), which is what lets the table avoid re-running the search on every tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from qwentui.core.states import ACTIVE, JobState
from qwentui.core.store import Job, MarkFilter, Store

# The state choices of the filter bar: a few groups people think in, then every single state.
STATE_GROUPS: dict[str, frozenset[JobState]] = {
    "active": ACTIVE,
    "needs you": frozenset({JobState.NEEDS_USER}),
    "finished": frozenset({JobState.DONE}),
    "failed": frozenset({JobState.FAILED, JobState.REJECTED, JobState.EXPIRED}),
    "canceled": frozenset({JobState.CANCELED}),
}

# The marks choices of the filter bar: value -> (label, the store's filter)
MARK_CHOICES: dict[str, tuple[str, MarkFilter]] = {
    "starred": ("★ starred", MarkFilter(starred=True)),
    **{f"rating:{n}": (f"{'★' * n} {n}+" if n < 5 else "★★★★★ 5", MarkFilter(min_rating=n)) for n in (5, 4, 3, 2, 1)},
    "kept": ("not rejected", MarkFilter(rejected=False)),
    "rejected": ("✗ rejected", MarkFilter(rejected=True)),
}


@dataclass(frozen=True)
class JobFilter:
    states: frozenset[JobState] | None = None
    modes: frozenset[str] | None = None
    models: frozenset[str] | None = None
    text: str = ""
    marks: MarkFilter | None = None
    batch_id: int | None = None  # only the jobs of this batch (qwentui batch)
    family_of: int | None = None  # the job whose family `ids` is (for the description)
    ids: frozenset[int] | None = None  # only these jobs (a family: a few, never a page's worth)

    @property
    def is_empty(self) -> bool:
        return (
            self.states is None
            and self.modes is None
            and self.models is None
            and self.marks is None
            and self.ids is None
            and self.batch_id is None
            and not self.text.strip()
        )

    def matches_fields(self, job: Job) -> bool:
        """Every condition but the text search."""
        return (
            (self.states is None or job.state in self.states)
            and (self.modes is None or job.mode in self.modes)
            and (self.models is None or job.model in self.models)
            and (self.ids is None or job.id in self.ids)
            and (self.batch_id is None or job.batch_id == self.batch_id)
            and (self.marks is None or _marked(job, self.marks))
        )

    async def query(self, store: Store, *, limit: int, before_id: int | None = None) -> list[Job]:
        """The matching jobs, newest first, below `before_id`: what the table and the gallery page through."""
        if self.ids is not None:
            # a family is small: read its jobs one by one, and search their prompts here
            found: list[Job] = []
            words = self.text.strip().casefold().split()
            for job_id in sorted(self.ids, reverse=True):
                if before_id is not None and job_id >= before_id:
                    continue
                job = await store.get_job(job_id)
                if job is None or job.deleted or not self.matches_fields(job):
                    continue
                if all(w in job.prompt.casefold() for w in words):
                    found.append(job)
                if len(found) >= limit:
                    break
            return found
        return await store.list_jobs(
            states=self.states,
            modes=self.modes,
            models=self.models,
            text=self.text or None,
            limit=limit,
            before_id=before_id,
            marks=self.marks,
            batch_id=self.batch_id,
        )

    async def window_changes(
        self, store: Store, changed: Iterable[Job], shown: Mapping[int, Job], floor: int
    ) -> WindowChanges:
        """How jobs that changed meet a window of `shown` jobs that holds every match with an id above `floor`
        (0: every match): which shown ones to update or remove, which new ones arrive.

        The text part is asked of the store (FTS5): every matching job from the window's oldest up to the newest
        arrival is either shown or arriving, so a query bounded by their count returns them all."""
        out = WindowChanges()
        for job in changed:
            old = shown.get(job.id)
            if old is not None:
                if job.updated_at < old.updated_at:
                    continue  # older news than the window has (a page read after the change)
                if job.deleted or not self.matches_fields(job):
                    out.removals.append(job.id)
                else:
                    out.updates.append(job)
            elif not job.deleted and job.id > floor and self.matches_fields(job):
                out.arrivals[job.id] = job
        if out.arrivals and self.text:
            arrivals = out.arrivals
            found = await self.query(store, before_id=max(arrivals) + 1, limit=len(shown) + len(arrivals))
            out.arrivals = {j.id: arrivals[j.id] for j in found if j.id in arrivals}
        return out

    def describe(self) -> str:
        parts = []
        if self.states is not None:
            parts.append("state " + "/".join(sorted(s.value for s in self.states)))
        if self.modes is not None:
            parts.append("mode " + "/".join(sorted(self.modes)))
        if self.models is not None:
            parts.append("model " + "/".join(sorted(self.models)))
        if self.marks is not None:
            parts.append(next((label for label, m in MARK_CHOICES.values() if m == self.marks), "marked"))
        if self.batch_id is not None:
            parts.append(f"batch {self.batch_id}")
        if self.family_of is not None:
            parts.append(f"family of job {self.family_of}")
        if self.text.strip():
            parts.append(f"text {self.text.strip()!r}")
        return ", ".join(parts) or "all jobs"


def _marked(job: Job, marks: MarkFilter) -> bool:
    return (
        (marks.min_rating is None or (job.rating is not None and job.rating >= marks.min_rating))
        and (marks.starred is None or job.starred == marks.starred)
        and (marks.rejected is None or job.rejected == marks.rejected)
    )


@dataclass
class WindowChanges:
    """What `JobFilter.window_changes` found: rows to update, ids to remove, jobs that now belong."""

    updates: list[Job] = field(default_factory=list)
    removals: list[int] = field(default_factory=list)
    arrivals: dict[int, Job] = field(default_factory=dict)
