"""Tasks and their life cycle, computed from the clock on demand (no background loop).

A task is fixed at submission: when it leaves PENDING, when it ends, whether it fails. Its status at any
moment follows from the clock, so a fake clock that jumps forward moves every task at once, and 10,000
tasks cost nothing while nobody asks about them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from qwentui.sim.faults import Failure
from qwentui.sim.validate import Job


class Status(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.SUCCEEDED, Status.FAILED, Status.CANCELED, Status.UNKNOWN)


@dataclass
class Task:
    task_id: str
    request_id: str  # of the submit request (the task list reports it)
    job: Job
    submitted: float
    pending_s: float
    running_s: float
    seed: int  # the seed the files are rendered from (the request's, else drawn)
    key_id: str  # a fingerprint of the API key, never the key
    failure: Failure | None = None
    failed_items: frozenset[int] = frozenset()  # sub-images that failed in a SUCCEEDED multi-image task
    canceled_at: float | None = None
    listed: bool = True  # sync calls make no queryable task
    seq: int = 0  # submission order, to sort tasks submitted in the same millisecond
    body: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> str:
        return self.job.row.model

    @property
    def scheduled_at(self) -> float:
        return self.submitted + self.pending_s

    @property
    def ends_at(self) -> float:
        return self.submitted + self.pending_s + self.running_s

    def status(self, now: float, ttl: float) -> Status:
        if now - self.submitted >= ttl or not self.listed:
            return Status.UNKNOWN
        if self.canceled_at is not None:
            return Status.CANCELED
        if now < self.scheduled_at:
            return Status.PENDING
        if now < self.ends_at:
            return Status.RUNNING
        return Status.FAILED if self.failure else Status.SUCCEEDED

    def ended_at(self, now: float, ttl: float) -> float | None:
        """When the task reached its terminal state, or None while it runs."""
        if self.canceled_at is not None:
            return self.canceled_at
        return self.ends_at if now >= self.ends_at else None

    def ok_items(self) -> list[int]:
        """Indexes of the images (or the one video) that exist once the task succeeded."""
        count = self.job.n if not self.job.is_video else 1
        return [i for i in range(count) if i not in self.failed_items]


class TaskStore:
    """Every task by id; forgets tasks once both the task and its result URLs have expired.

    In memory only; `task_file.TaskFile` keeps them in a file as well (a service that outlives a process).
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._seq = 0
        self.secret = secrets.token_bytes(16)  # signs result URLs: it must live as long as the tasks do

    def __len__(self) -> int:
        return len(self._tasks)

    def add(self, task: Task) -> Task:
        self._seq += 1
        task.seq = self._seq
        self._tasks[task.task_id] = task
        return task

    def cancel(self, task: Task, at: float) -> None:
        task.canceled_at = at

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def all(self) -> list[Task]:
        return list(self._tasks.values())

    def prune(self, now: float, task_ttl: float, url_ttl: float) -> list[str]:
        """Drop tasks nobody can ask about any more (keeps memory flat over long demo runs); their ids."""
        keep_for = max(task_ttl, url_ttl)
        dead = [tid for tid, t in self._tasks.items() if now - t.ends_at > keep_for and now - t.submitted > keep_for]
        for tid in dead:
            del self._tasks[tid]
        return dead
