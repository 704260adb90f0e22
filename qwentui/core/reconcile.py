"""Settle UNCERTAIN jobs: did the POST create a task or not? Ask the account's task list.

A job whose submission ended ambiguously (crash, timeout, dropped connection, 5xx) is matched against the
tasks of its model created around its submit time that no other job owns:
- exactly one candidate, which no other uncertain job could also claim -> adopt it (follow that task id);
- no candidate, seen in two list reads at least `settle` seconds after the submit -> it never arrived: QUEUED;
- anything else (several candidates, or one shared by several jobs) -> NEEDS_USER, with the candidate ids.
A job is never resubmitted on a guess: a duplicate costs the user money.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from qwentui.core.api import SUBMIT_TIMEOUT, DashScopeClient
from qwentui.core.catalog import Mode, lookup
from qwentui.core.errors import ApiError, AuthError, MalformedResponse, TransportError
from qwentui.core.results import TaskStatus, TaskSummary
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store

log = logging.getLogger(__name__)

_STATE_OF = {
    TaskStatus.PENDING: JobState.PENDING,
    TaskStatus.RUNNING: JobState.RUNNING,
    TaskStatus.SUSPENDED: JobState.RUNNING,
    TaskStatus.SUCCEEDED: JobState.RUNNING,  # the tracker fetches results at once (next check = now)
    TaskStatus.FAILED: JobState.RUNNING,
    TaskStatus.CANCELED: JobState.RUNNING,
    TaskStatus.UNKNOWN: JobState.PENDING,
}


@dataclass(frozen=True)
class ReconcileOutcome:
    adopted: int = 0
    requeued: int = 0
    needs_user: int = 0
    waiting: int = 0


def _eliminate(candidates: dict[int, list[TaskSummary]]) -> tuple[dict[int, TaskSummary], dict[int, list[TaskSummary]]]:
    """Assign tasks to jobs while some job has exactly one candidate left that no assigned job took.

    Sound because the submitter sends one POST per model at a time: a task created after a job's POST ended
    cannot be that job's, so a job whose window holds a single unowned task owns it, and removing that task
    from the other windows can leave them with one candidate in turn. Whatever stays ambiguous is left out.
    """
    left = {job_id: list(found) for job_id, found in candidates.items()}
    assigned: dict[int, TaskSummary] = {}
    progress = True
    while progress:
        progress = False
        for job_id, found in list(left.items()):
            if len(found) != 1:
                continue
            task = found[0]
            if sum(1 for other in left.values() if len(other) == 1 and other[0].task_id == task.task_id) > 1:
                continue  # two jobs each see only this task: which one owns it is unknowable
            assigned[job_id] = task
            del left[job_id]
            for other in left.values():
                other[:] = [t for t in other if t.task_id != task.task_id]
            progress = True
    return assigned, left


class Reconciler:
    def __init__(
        self,
        store: Store,
        client: DashScopeClient,
        policy: SchedulePolicy,
        clock: Callable[[], float],
        settle: float = 10.0,
        skew: float = 1.0,
        model_locks: dict[str, asyncio.Lock] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy
        self.clock = clock
        self.settle = settle  # seconds after the submit before "absent from the list" counts as proof
        self.skew = skew  # tolerated error of the measured offset between our clock and the server's
        self._absent_reads: dict[int, int] = defaultdict(int)
        # The submitter's one-POST-per-model locks: a model is reconciled while none of its POSTs is in
        # flight, so the list never shows a task whose job has not had the chance to commit it yet.
        self._model_locks = model_locks if model_locks is not None else {}
        # Set by the engine when the wall clock jumped: the list's time windows may then be off from where the
        # service's clock put a task, so neither an absence nor a lone candidate proves anything any more.
        self.clock_jumped = False
        self._probed = False

    async def round(self) -> ReconcileOutcome:
        now = self.clock()
        jobs = await self.store.due_jobs(now, {JobState.UNCERTAIN}, 500)
        if not jobs:
            return ReconcileOutcome()
        by_model: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_model[job.model].append(job)
        totals = [0, 0, 0, 0]
        for model, group in by_model.items():
            try:
                async with self._model_locks.setdefault(model, asyncio.Lock()):
                    outcome = await self._reconcile_model(model, group)
            except AuthError:
                raise  # the engine pauses everything once
            except (ApiError, TransportError, MalformedResponse) as exc:
                log.info("reconcile of %s postponed: %s", model, exc)
                for job in group:
                    await self.store.update_fields(job.id, next_check_at=now + self.policy.interval * 5)
                continue
            for i, n in enumerate((outcome.adopted, outcome.requeued, outcome.needs_user, outcome.waiting)):
                totals[i] += n
        return ReconcileOutcome(*totals)

    def _window(self, job: Job) -> tuple[float, float]:
        """Where the job's task, if any, was created: on the service's clock, as the task list filters.
        The offset measured when the POST was sent wins over today's: our clock may have been set since."""
        sent = self.client.server_clock.to_server(job.submitted_at or job.created_at, job.clock_offset)
        return sent - self.skew, sent + SUBMIT_TIMEOUT + self.skew

    async def _measure_server_clock(self, model: str) -> None:
        """Before the first window is drawn, one cheap answer tells the service's clock (its Date header)."""
        if self.client.server_clock.samples == 0 and not self._probed:
            self._probed = True  # a service that sends no Date header is asked once, then trusted to agree
            await self.client.list_tasks(page_size=1, model=model)

    async def _reconcile_model(self, model: str, jobs: list[Job]) -> ReconcileOutcome:
        await self._measure_server_clock(model)
        start = min(self._window(j)[0] for j in jobs)
        end = max(self._window(j)[1] for j in jobs)
        server_now = self.client.server_clock.to_server(self.clock())
        listed = await self._list(model, start, min(end, server_now + self.skew))
        orphans: list[TaskSummary] = []
        owned: list[tuple[float, float]] = []  # (owner's send time, task creation time)
        for task in listed:
            owner = await self.store.get_by_task_id(task.task_id)
            if owner is None:
                orphans.append(task)
            elif owner.submitted_at is not None and task.created_ms is not None:
                owned.append((owner.submitted_at, task.created_ms / 1000))
        # Other jobs whose POST of this model may have made one of these tasks (uncertain but not due now, or
        # waiting for the user) take part in the matching, so a task one of them may own is never adopted
        # by a guess; only the due jobs are acted on.
        due = {job.id for job in jobs}
        others = [
            j
            for j in await self.store.jobs_in_states({JobState.UNCERTAIN, JobState.NEEDS_USER})
            if j.model == model
            and j.id not in due
            and j.submitted_at is not None
            and self._window(j)[1] >= start
            and self._window(j)[0] <= end
        ]
        candidates = {job.id: self._candidates(job, orphans, owned) for job in [*jobs, *others]}
        assigned, left = _eliminate(candidates)
        adopted = requeued = needs_user = waiting = 0
        now = self.clock()
        for job in jobs:
            found = left.get(job.id, [])
            if self.clock_jumped:
                needs_user += await self._after_clock_jump(job, candidates[job.id])
                continue
            if job.id in assigned:
                await self._adopt(job, assigned[job.id])
                adopted += 1
            elif not found:
                if now - (job.submitted_at or job.created_at) < self.settle:
                    await self.store.update_fields(job.id, next_check_at=now + self.policy.interval)
                    waiting += 1
                    continue
                self._absent_reads[job.id] += 1
                if self._absent_reads[job.id] >= 2:
                    self._absent_reads.pop(job.id, None)
                    await self.store.transition(
                        job.id,
                        JobState.QUEUED,
                        expect=JobState.UNCERTAIN,
                        detail="reconciled: the service has no task for this request; sending again",
                        next_check_at=now,
                    )
                    requeued += 1
                else:
                    await self.store.update_fields(job.id, next_check_at=now + self.policy.interval)
                    waiting += 1
            else:
                ids = ", ".join(t.task_id for t in found[:5])
                await self.store.transition(
                    job.id,
                    JobState.NEEDS_USER,
                    expect=JobState.UNCERTAIN,
                    detail="ambiguous reconcile",
                    error_code="Ambiguous",
                    error_message=f"the submission may have created one of these tasks: {ids}. Adopt the right "
                    "task id, or resubmit if none of them is this job",
                )
                needs_user += 1
        return ReconcileOutcome(adopted, requeued, needs_user, waiting)

    async def _after_clock_jump(self, job: Job, found: list[TaskSummary]) -> int:
        self._absent_reads[job.id] += 1
        if self._absent_reads[job.id] < 2:  # a second look, in case the list was late
            await self.store.update_fields(job.id, next_check_at=self.clock() + self.policy.interval)
            return 0
        self._absent_reads.pop(job.id, None)
        ids = ", ".join(t.task_id for t in found[:5]) or "none found"
        await self.store.transition(
            job.id,
            JobState.NEEDS_USER,
            expect=JobState.UNCERTAIN,
            detail="clock jumped: cannot reconcile",
            error_code="Uncertain",
            error_message="the computer's clock jumped, so the task list cannot show whether this request "
            f"arrived (candidate tasks: {ids}); it was not sent again to avoid paying twice. Check the console's "
            "task list, then adopt the task or resubmit",
        )
        return 1

    def _candidates(self, job: Job, orphans: list[TaskSummary], owned: list[tuple[float, float]]) -> list[TaskSummary]:
        lo, hi = self._window(job)
        sent = job.submitted_at or job.created_at  # local: only compared with other local send times
        # POSTs of one model are sent one at a time: a task of a job sent after this one was created after
        # this job's POST ended, so it bounds this job's window from above
        later = [created for owner_sent, created in owned if owner_sent > sent]
        if later:
            hi = min(hi, min(later) + self.skew)
        return [t for t in orphans if t.created_ms is None or lo <= t.created_ms / 1000 <= hi]

    async def _list(self, model: str, start: float, end: float) -> list[TaskSummary]:
        out: list[TaskSummary] = []
        page_no = 1
        while True:
            page = await self.client.list_tasks(
                page_no=page_no,
                page_size=100,
                model=model,
                start=datetime.fromtimestamp(start, UTC),
                end=datetime.fromtimestamp(end + 1, UTC),
            )
            out.extend(page.tasks)
            if page_no >= page.total_page or not page.tasks:
                return out
            page_no += 1

    async def _adopt(self, job: Job, task: TaskSummary) -> None:
        row = lookup(job.model, Mode(job.mode))
        now = self.clock()
        state = _STATE_OF.get(task.status, JobState.PENDING)
        next_at = now if task.status.is_final else self.policy.first_check(job.submitted_at or now, row.typical_seconds)
        await self.store.transition(
            job.id,
            state,
            expect=JobState.UNCERTAIN,
            detail=f"reconciled: adopted task {task.task_id}",
            task_id=task.task_id,
            next_check_at=next_at,
        )
