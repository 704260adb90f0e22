"""Settle UNCERTAIN jobs: did the POST create a task or not? Ask the account's task list, then the tasks.

A job whose submission ended ambiguously (crash, timeout, dropped connection, 5xx) is matched against the
tasks of its model that no other job owns, created between its send and the end of its POST: when it was
seen to fail, or the restart after a crash, or the next send of that model (POSTs of one model go one at a
time, so a task created after the next POST began is not this job's), or the task of a job sent later:
- the content of a finished candidate decides first: a task that echoes another prompt (`orig_prompt`) is not
  this job's; one that echoes this job's prompt is, and jobs with identical requests are interchangeable,
  so either assignment is right;
- then elimination: a job left with exactly one candidate, which no other uncertain job could also claim,
  adopts it (follows that task id) once it has finished, when its answer can no longer contradict that;
- then order: jobs that share as many candidates as they are, the i-th sent owns the i-th created;
- no candidate, seen in two list reads at least `settle` seconds after the submit -> it never arrived: QUEUED;
- candidates still running -> wait for them to finish (their answers may decide);
- anything else -> NEEDS_USER, saying for each candidate why nothing could decide it.
A job is never resubmitted on a guess: a duplicate costs the user money.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeGuard

from qwentui.core.api import SUBMIT_TIMEOUT, DashScopeClient
from qwentui.core.catalog import Mode, lookup, parse_size
from qwentui.core.errors import ApiError, AuthError, MalformedResponse, TransportError
from qwentui.core.results import TaskResult, TaskStatus, TaskSummary
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from qwentui.core.tracker import list_window

log = logging.getLogger(__name__)

# Added to the measured uncertainty of the clock offset (serverclock.py): the `Date` header that measured it
# and the task's creation stamp may come from different machines of the service, which NTP keeps within
# milliseconds of each other, and the stamps are whole milliseconds. Far below the fraction of a second
# between two POSTs of a model that the fixed tolerance of a second confused.
STAMP_SLACK = 0.05

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


class Fit(Enum):
    """What a finished task's answer says about one uncertain job."""

    MATCH = "match"  # it echoes the prompt this job sent
    MISMATCH = "mismatch"  # it echoes another prompt: not this job's task
    OPEN = "open"  # nothing to compare: still running, failed, or a route whose answer does not echo the prompt


def sent_prompt(job: Job) -> str:
    """The prompt as sent (what the service echoes as `orig_prompt`): the wire body's, else the request's."""
    wire = job.wire if isinstance(job.wire, dict) else {}
    given = wire.get("input")
    if isinstance(given, dict) and isinstance(given.get("prompt"), str):
        return str(given["prompt"])
    return job.prompt


def content_fit(job: Job, answer: TaskResult | None) -> Fit:
    """Compare a finished task's echoed prompt with the job's: exact text, so a match is proof, not a guess."""
    if answer is None or answer.orig_prompt is None:
        return Fit.OPEN
    return Fit.MATCH if answer.orig_prompt == sent_prompt(job) else Fit.MISMATCH


def params_agree(job: Job, answer: TaskResult) -> bool:
    """Whether what the answer's `usage` shows (W*H size, video duration, image count) agrees with the job's
    wire parameters. Only used to choose among jobs that share a prompt; never to rule out a job's own task
    (a service that rounds a size would then prove an absence that is not real)."""
    wire = job.wire if isinstance(job.wire, dict) else {}
    params = wire.get("parameters")
    if not isinstance(params, dict):
        return True
    usage = answer.usage
    size = params.get("size")
    wanted = parse_size(size) if isinstance(size, str) else None
    ratio = usage.get("video_ratio")
    shown = (answer.width, answer.height) if answer.width and answer.height else None
    shown = shown or (parse_size(ratio) if isinstance(ratio, str) else None)
    if wanted and shown and wanted != shown:
        return False
    duration, seconds = params.get("duration"), usage.get("video_duration", usage.get("output_video_duration"))
    if _number(duration) and _number(seconds) and float(duration) != float(seconds):
        return False
    n, count = params.get("n"), usage.get("image_count")
    return not (_number(n) and _number(count) and count > n)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def request_key(job: Job) -> str:
    """Jobs with equal keys asked for exactly the same thing: either may take either's task."""
    return json.dumps([job.model, job.request], sort_keys=True, ensure_ascii=False)


def _why_open(task: TaskSummary, answer: TaskResult | None) -> str:
    """Why one candidate's content cannot settle whose task it is."""
    if not task.status.is_final:
        return f"task {task.task_id} is still {task.status.value.lower()}"
    if answer is None or answer.status is TaskStatus.FAILED or task.status is TaskStatus.FAILED:
        return f"task {task.task_id} failed, and a failed task does not echo its prompt"
    if answer.status is TaskStatus.CANCELED:
        return f"task {task.task_id} was canceled, and a canceled task does not echo its prompt"
    return f"task {task.task_id} finished, but its answer does not echo the prompt (this route returns only results)"


def decide(
    jobs: Mapping[int, Job], candidates: Mapping[int, list[TaskSummary]], answers: Mapping[str, TaskResult]
) -> tuple[dict[int, TaskSummary], dict[int, list[TaskSummary]], dict[str, str], set[int]]:
    """Content first, then elimination: (assigned task per job, the candidates left of the other jobs, why a
    task whose content was known still decided nothing, the jobs given a task picked among interchangeable
    jobs: right for the user, but not proof of which POST made it, so no bound for other windows).

    A finished task that echoes a prompt belongs to a job that sent that prompt. The jobs that sent it with
    identical requests are interchangeable: the earliest sent of them that could have created the task takes
    it (one still uncertain before one already waiting for the user). Jobs that share the prompt but not the
    request are told apart by the parameters the answer shows, or not at all. Tasks that echo another prompt
    are dropped from a job's candidates; what is left is settled by elimination (`_eliminate`)."""
    edges = {
        job_id: [t for t in found if content_fit(jobs[job_id], answers.get(t.task_id)) is not Fit.MISMATCH]
        for job_id, found in candidates.items()
    }
    assigned: dict[int, TaskSummary] = {}
    why: dict[str, str] = {}
    picked: set[int] = set()
    tasks = {t.task_id: t for found in edges.values() for t in found}
    for task in sorted(tasks.values(), key=lambda t: (t.created_ms or 0, t.task_id)):
        answer = answers.get(task.task_id)
        if answer is None or answer.orig_prompt is None:
            continue
        claimants = [
            jobs[job_id]
            for job_id, found in edges.items()
            if job_id not in assigned and any(t.task_id == task.task_id for t in found)
        ]
        if len({request_key(job) for job in claimants}) > 1:
            agreeing = [job for job in claimants if params_agree(job, answer)]
            if not agreeing or len({request_key(job) for job in agreeing}) > 1:
                ids = ", ".join(str(job.id) for job in claimants)
                why[task.task_id] = (
                    f"task {task.task_id} echoes the prompt of jobs {ids}, whose requests differ only in what its "
                    "answer does not show"
                )
                continue
            claimants = agreeing
        if not claimants:
            continue
        # a job already waiting for the user is not acted on: it takes the task only if no uncertain twin can
        # (else the twin, finding nothing left, would be sent again next to a task made for it)
        owner = min(
            claimants,
            key=lambda job: (job.state is JobState.NEEDS_USER, job.submitted_at or job.created_at, job.id),
        )
        assigned[owner.id] = task
        if len(claimants) > 1:
            picked.add(owner.id)
        del edges[owner.id]
        for found in edges.values():
            found[:] = [t for t in found if t.task_id != task.task_id]
    more, left = _eliminate(edges)
    assigned.update(more)
    ordered, left = _by_order(left, jobs)
    assigned.update(ordered)
    return assigned, left, why, picked


def ambiguity_message(
    job_id: int,
    found: list[TaskSummary],
    left: Mapping[int, list[TaskSummary]],
    answers: Mapping[str, TaskResult],
    why: Mapping[str, str],
) -> str:
    """For the user: each remaining candidate, why its content did not decide, and who else could own it."""
    parts = []
    for task in found[:5]:
        part = why.get(task.task_id) or _why_open(task, answers.get(task.task_id))
        rivals = sorted(other for other, tasks in left.items() if other != job_id and task in tasks)
        if len(rivals) == 1:
            part += f"; job {rivals[0]} was sent in the same seconds and could own it too"
        elif rivals:
            part += f"; jobs {', '.join(map(str, rivals))} were sent in the same seconds and could own it too"
        parts.append(part)
    return (
        "could not tell which task, if any, this submission created: " + "; ".join(parts) + ". Adopt the right "
        "task id, or resubmit if none of them is this job's"
    )


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


def _by_order(
    left: dict[int, list[TaskSummary]], jobs: Mapping[int, Job]
) -> tuple[dict[int, TaskSummary], dict[int, list[TaskSummary]]]:
    """Settle a group of jobs that share their candidates when there are as many tasks as jobs: the i-th sent
    owns the i-th created.

    Under elimination's premises (a task in the windows was made by a job whose window holds it, a POST makes
    one task at most, and POSTs of one model go one at a time, so tasks are made in the order the POSTs were
    sent), n jobs and n tasks means each job made one, and the only pairing that keeps both orders is this one.
    It decides what content cannot (failed tasks, routes that echo no prompt) when the windows overlap by the
    clock tolerance. Fewer tasks than jobs stays open: one of the jobs made nothing, and order cannot say which.
    """
    assigned: dict[int, TaskSummary] = {}
    rest = dict(left)
    for group in _groups(left):
        tasks = sorted({t.task_id: t for j in group for t in left[j]}.values(), key=lambda t: t.created_ms or 0)
        sent = sorted(group, key=lambda j: jobs[j].submitted_at or 0.0)
        created = [t.created_ms for t in tasks]
        sends = [jobs[j].submitted_at for j in sent]
        if (
            len(tasks) != len(sent)
            or None in created
            or None in sends
            or len(set(created)) < len(created)  # a tie: the order is unknown
            or len(set(sends)) < len(sends)
            or any(task not in left[job_id] for job_id, task in zip(sent, tasks, strict=True))
        ):
            continue
        for job_id, task in zip(sent, tasks, strict=True):
            assigned[job_id] = task
            del rest[job_id]
    return assigned, rest


def _groups(left: Mapping[int, list[TaskSummary]]) -> list[set[int]]:
    """The jobs linked by a shared candidate, transitively."""
    groups: list[set[int]] = []
    for job_id, found in left.items():
        ids = {t.task_id for t in found}
        linked = [g for g in groups if any(ids & {t.task_id for t in left[other]} for other in g)]
        merged = {job_id}.union(*linked)
        groups = [g for g in groups if g not in linked] + [merged]
    return groups


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
        self._finished: dict[str, TaskResult] = {}  # task id -> its final answer, asked once
        self._ended: dict[tuple[int, float | None], float | None] = {}  # (job, its send) -> when its POST ended

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
        tolerance = self._tolerance(job.clock_offset, job.clock_uncertainty)
        return sent - tolerance, sent + SUBMIT_TIMEOUT + tolerance

    def _tolerance(self, offset: float | None, uncertainty: float | None) -> float:
        """How far a local moment, put on the service's clock by the offset stored with a send, may be from
        where the service's clock was: what the measurement proved at that send (its uncertainty), else the
        fixed `skew` (a job sent before the offset was measured, or before this was stored)."""
        if offset is None or uncertainty is None or not math.isfinite(uncertainty):
            return self.skew
        return min(self.skew, uncertainty + STAMP_SLACK)

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
        listed, _ = await list_window(self.client, start, min(end, server_now + self.skew), model)
        orphans: list[TaskSummary] = []
        owned: list[tuple[float, float]] = []  # (owner's send time, task creation time)
        for task in listed.values():
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
        everyone = {job.id: job for job in [*jobs, *others]}
        sent = [job.submitted_at or job.created_at for job in everyone.values()]
        sends = await self.store.send_times(model, min(sent), max(sent) + SUBMIT_TIMEOUT)
        ended = {job.id: await self._post_ended(job) for job in everyone.values()}
        # Tasks of one model are created in the order their POSTs were sent: a task settled this round (by its
        # content, or as a lone candidate) bounds the windows of the jobs sent before and after its job, which
        # can settle more; a few passes reach what can be settled
        anchors = list(owned)
        for _ in range(4):
            candidates = {
                job.id: self._candidates(job, orphans, anchors, sends, ended[job.id]) for job in everyone.values()
            }
            answers = await self._answers([t for found in candidates.values() for t in found])
            assigned, left, why, picked = decide(everyone, candidates, answers)
            settled = {
                (sent_at, task.created_ms / 1000)
                for job_id, task in assigned.items()
                if job_id not in picked
                and (sent_at := everyone[job_id].submitted_at) is not None
                and task.created_ms is not None
            }
            if settled <= set(anchors):
                break
            anchors = [*owned, *settled]
        adopted = requeued = needs_user = waiting = 0
        now = self.clock()
        for job in jobs:
            found = left.get(job.id, [])
            if self.clock_jumped:
                needs_user += await self._after_clock_jump(job, candidates[job.id])
                continue
            if job.id in assigned and assigned[job.id].status.is_final:
                await self._adopt(job, assigned[job.id])
                adopted += 1
            elif job.id in assigned or any(not task.status.is_final for task in found):
                # a candidate still running may echo another prompt once it finishes: adopt only what has
                # finished, so a task is never followed on a guess its own answer would have contradicted
                self._absent_reads.pop(job.id, None)
                await self.store.update_fields(job.id, next_check_at=now + self.policy.interval)
                waiting += 1
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
                self._absent_reads.pop(job.id, None)
                await self.store.transition(
                    job.id,
                    JobState.NEEDS_USER,
                    expect=JobState.UNCERTAIN,
                    detail="ambiguous reconcile",
                    error_code="Ambiguous",
                    error_message=ambiguity_message(job.id, found, left, answers, why),
                )
                needs_user += 1
        return ReconcileOutcome(adopted, requeued, needs_user, waiting)

    async def _post_ended(self, job: Job) -> float | None:
        """When the job's last POST was over at the latest (local time): when it was found UNCERTAIN, because
        its answer failed, or because the process sending it was gone (a restart, a sweep)."""
        key = (job.id, job.submitted_at)
        if key not in self._ended:
            sent = job.submitted_at or job.created_at
            ends = [
                e.at
                for e in await self.store.events(job.id)
                if e.from_state is JobState.SUBMITTING and e.to_state is JobState.UNCERTAIN and e.at >= sent
            ]
            self._ended[key] = ends[-1] if ends else None
        return self._ended[key]

    async def _answers(self, tasks: list[TaskSummary]) -> dict[str, TaskResult]:
        """The answer of every finished candidate: one GET each, once (a finished task does not change)."""
        if len(self._finished) > 5000:
            self._finished.clear()
            self._ended.clear()
        for task in {t.task_id: t for t in tasks}.values():
            if task.status.is_final and task.task_id not in self._finished:
                self._finished[task.task_id] = await self.client.get_task(task.task_id)
        return {t.task_id: self._finished[t.task_id] for t in tasks if t.task_id in self._finished}

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

    def _candidates(
        self,
        job: Job,
        orphans: list[TaskSummary],
        anchors: list[tuple[float, float]],
        sends: list[tuple[float, float | None, float | None]],
        ended: float | None = None,
    ) -> list[TaskSummary]:
        """The unowned tasks this job's POST may have created. POSTs of one model go one at a time, so its task
        was created after its send and after the task of any job sent before it; before the next send of the
        model and before the task of any job sent after it, and before its POST was seen to end (`ended`, local).
        Anchors are (owner's send time, task creation)."""
        lo, hi = self._window(job)
        sent = job.submitted_at or job.created_at  # local: only compared with other local send times
        earlier = [created for owner_sent, created in anchors if owner_sent < sent]
        if earlier:  # both on the service's clock: no tolerance needed
            lo = max(lo, max(earlier))
        later = [created for owner_sent, created in anchors if owner_sent > sent]
        if later:
            hi = min(hi, min(later))
        to_server = self.client.server_clock.to_server
        after = [to_server(at, offset) + self._tolerance(offset, unc) for at, offset, unc in sends if at > sent]
        if ended is not None:
            after.append(to_server(ended, job.clock_offset) + self._tolerance(job.clock_offset, job.clock_uncertainty))
        if after:
            hi = min(hi, min(after))
        return [t for t in orphans if t.created_ms is None or lo <= t.created_ms / 1000 <= hi]

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
