"""The job state machine as data: the states, their groups, and which moves are allowed.

The store refuses any transition this table does not list, so a bug in the engine shows up as a
`StaleTransition` instead of a job that silently skips a step (a SUBMITTING job jumping to DONE would hide a
billed task whose results were never downloaded). See `docs/architecture.md` §2.
Display concerns (glyphs, colours) belong to the TUI; only plain words live here.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"  # waiting to be sent
    UPLOADING = "uploading"  # local files -> oss:// temporary URLs
    SUBMITTING = "submitting"  # intent committed; the POST may or may not have reached the server
    UNCERTAIN = "uncertain"  # the POST's outcome is unknown; reconcile against the task list, never resend
    PENDING = "pending"  # the remote task is queued
    RUNNING = "running"  # the remote task is running
    SUCCEEDED = "succeeded"  # remote success; results not downloaded yet
    DOWNLOADING = "downloading"
    DONE = "done"  # results are on disk
    REJECTED = "rejected"  # the service refused the request (4xx); nothing was created
    FAILED = "failed"  # the remote task failed
    CANCELED = "canceled"
    EXPIRED = "expired"  # the task or its result URLs expired before we had the results
    NEEDS_USER = "needs_user"  # reconcile could not decide; only the user can (resubmit, give a task id, cancel)


S = JobState

TERMINAL: frozenset[JobState] = frozenset({S.DONE, S.REJECTED, S.FAILED, S.CANCELED, S.EXPIRED})
REMOTE_ACTIVE: frozenset[JobState] = frozenset({S.PENDING, S.RUNNING})
# Everything the engine has to act on by itself; NEEDS_USER waits for a person instead.
ACTIVE: frozenset[JobState] = frozenset(JobState) - TERMINAL - {S.NEEDS_USER}

ALLOWED: dict[JobState, frozenset[JobState]] = {
    # REJECTED: a stored request that no longer passes validation (written by hand or by an older version):
    # refused before anything is sent, or the submit loop would meet it again on every pass
    S.QUEUED: frozenset({S.UPLOADING, S.SUBMITTING, S.REJECTED, S.CANCELED}),
    # back to QUEUED when an upload fails for a reason that may go away (network, 5xx); NEEDS_USER after
    # too many such tries
    S.UPLOADING: frozenset({S.SUBMITTING, S.QUEUED, S.REJECTED, S.CANCELED, S.NEEDS_USER}),
    # SUCCEEDED directly: sync routes answer with the results; QUEUED: 429 or a connect error (never sent);
    # NEEDS_USER: a sync call that ended ambiguously (no task id to reconcile), or too many tries never sent
    S.SUBMITTING: frozenset({S.PENDING, S.RUNNING, S.SUCCEEDED, S.REJECTED, S.QUEUED, S.UNCERTAIN, S.NEEDS_USER}),
    # QUEUED only when reconcile proved the POST never created a task
    S.UNCERTAIN: frozenset({S.PENDING, S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELED, S.NEEDS_USER, S.QUEUED}),
    # PENDING/RUNNING -> UNCERTAIN: the database has no task id for it (another tool wrote it): find the task
    S.PENDING: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED, S.UNCERTAIN}),
    # RUNNING -> PENDING: docs/architecture.md §2 draws PENDING <-> RUNNING (the service may report a task queued again)
    S.RUNNING: frozenset({S.PENDING, S.SUCCEEDED, S.FAILED, S.EXPIRED, S.CANCELED, S.UNCERTAIN}),
    # DONE directly: a result with nothing to download (text-only parts)
    S.SUCCEEDED: frozenset({S.DOWNLOADING, S.DONE, S.EXPIRED}),
    # back to SUCCEEDED to retry the download later, until the URLs expire
    S.DOWNLOADING: frozenset({S.DONE, S.SUCCEEDED, S.EXPIRED}),
    # the user decides: resubmit (QUEUED), "this is the task" (PENDING), or give up
    S.NEEDS_USER: frozenset({S.QUEUED, S.PENDING, S.CANCELED}),
    **{t: frozenset() for t in TERMINAL},
}

DESCRIPTIONS: dict[JobState, str] = {
    S.QUEUED: "waiting to be sent",
    S.UPLOADING: "uploading local files",
    S.SUBMITTING: "sending the request",
    S.UNCERTAIN: "sent, outcome unknown; checking the task list",
    S.PENDING: "queued by the service",
    S.RUNNING: "generating",
    S.SUCCEEDED: "finished; results not downloaded yet",
    S.DOWNLOADING: "downloading results",
    S.DONE: "done",
    S.REJECTED: "refused by the service",
    S.FAILED: "failed",
    S.CANCELED: "canceled",
    S.EXPIRED: "expired before the results were saved",
    S.NEEDS_USER: "needs your decision",
}


def can_move(src: JobState, dst: JobState) -> bool:
    """True when the table allows `src -> dst`."""
    return dst in ALLOWED[src]


def describe(state: JobState | str) -> str:
    """A few plain words for a state (no markup, no glyphs)."""
    return DESCRIPTIONS[JobState(state)]
