"""Culling: picking the keepers among results. A rating (1-5), a star, a reject, or clearing them.

One function for every front end (the CLI's `qwentui rate`, the TUI's keys), so a mark means the same
everywhere: starring a result takes back its reject and the other way round; a rating is kept alongside.
"""

from __future__ import annotations

from qwentui.core.errors import QwentuiError
from qwentui.core.store import Job, JobNotFound, Store

STAR = "star"
UNSTAR = "unstar"
REJECT = "reject"
UNREJECT = "unreject"
CLEAR = "clear"
ACTIONS = ("1", "2", "3", "4", "5", STAR, UNSTAR, REJECT, UNREJECT, CLEAR)


class MarkError(QwentuiError):
    """A mark that cannot be given; the message says what to use instead."""


def marks_after(job: Job, action: str) -> tuple[int | None, bool, bool]:
    """(rating, starred, rejected) once `action` is applied to the job's current marks."""
    action = action.strip().lower()
    rating, starred, rejected = job.rating, job.starred, job.rejected
    if action.isdigit() and 1 <= int(action) <= 5:
        return int(action), starred, rejected
    if action == STAR:
        return rating, True, False
    if action == UNSTAR:
        return rating, False, rejected
    if action == REJECT:
        return rating, False, True
    if action == UNREJECT:
        return rating, starred, False
    if action == CLEAR:
        return None, False, False
    raise MarkError(f"{action!r} is not a mark; use one of: {', '.join(ACTIONS)}")


def describe_marks(job: Job) -> str:
    """ "★★★★☆ starred", "rejected", "unmarked": the marks in a few characters."""
    parts = []
    if job.rating is not None:
        parts.append("★" * job.rating + "☆" * (5 - job.rating))
    if job.starred:
        parts.append("starred")
    if job.rejected:
        parts.append("rejected")
    return " ".join(parts) or "unmarked"


async def mark(store: Store, job_id: int, action: str) -> Job:
    """Apply a culling action to a job and return it as stored."""
    job = await store.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    rating, starred, rejected = marks_after(job, action)
    return await store.set_marks(
        job_id, rating=rating, starred=starred, rejected=rejected, detail=f"marked: {action.strip().lower()}"
    )
