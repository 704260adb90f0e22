"""Follow remote tasks in batch: one `GET /tasks` page answers for many tasks at once.

Each round takes the jobs whose next check is due, groups them by (estimated) server creation time into
windows, and lists each window. The list gives every task's status, so one request answers for up to a page
of tasks; `GET /tasks/{id}` is asked only for tasks that finished (their results or error) and for due tasks
the list did not show (imported ones, or when the list endpoint is unavailable). Statuses of jobs that were
not due but came back in a window are applied too: that information was free.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode, lookup, rows_for_mode
from qwentui.core.crashpoints import crashpoint
from qwentui.core.errors import ApiError, AuthError, MalformedResponse, RateLimited, TransportError
from qwentui.core.results import TaskResult, TaskStatus, TaskSummary
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, StaleTransition, Store
from qwentui.core.submitter import results_to_json

log = logging.getLogger(__name__)

TASK_TTL = 24 * 3600  # task ids and result URLs live 24 h
TASK_UNKNOWN = "TaskUnknown"  # error_code of a job in flight whose task the service says it does not know
T = TypeVar("T")
PARALLEL_GETS = 8  # task GETs in flight at once (the limiter sets the pace; this bounds the waiting ones)
LIST_SLACK = 3.0  # seconds added on both sides of an estimated creation time (1 s filter resolution, clocks drift)
SAME_ROUND = 0.1  # looks due within this fraction of the interval are due now (a round lists them together)
LIST_DISABLE_SECONDS = 300.0  # after the list endpoint fails for real, follow tasks one by one this long


def typical_seconds(job: Job) -> tuple[int, int]:
    try:
        return lookup(job.model, Mode(job.mode)).typical_seconds
    except (LookupError, ValueError):
        rows = rows_for_mode(Mode(job.mode)) if job.mode in Mode._value2member_map_ else []
        return rows[0].typical_seconds if rows else (5, 300)


async def list_window(
    client: DashScopeClient, start: float, end: float, model: str | None, page_size: int = 100
) -> tuple[dict[str, TaskSummary], int]:
    """Every task of the account (of `model`, if given) created in [start, end] on the service's clock, by task
    id (a task that moves between pages while they are read is counted once), and how many pages that took.
    The filter has whole seconds: the end is widened by one."""
    seen: dict[str, TaskSummary] = {}
    page_no = 1
    while True:
        page = await client.list_tasks(
            page_no=page_no,
            page_size=page_size,
            model=model,
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end + 1, UTC),
        )
        for task in page.tasks:
            seen[task.task_id] = task
        if page_no >= page.total_page or not page.tasks:
            return seen, page_no
        page_no += 1


@dataclass
class TrackerStats:
    rounds: int = 0
    list_requests: int = 0
    task_requests: int = 0
    answered_by_list: int = 0
    joined_next_sweep: int = 0  # first looks moved to their model's next sweep (no list of their own)


class Tracker:
    def __init__(
        self,
        store: Store,
        client: DashScopeClient,
        policy: SchedulePolicy,
        clock: Callable[[], float],
        page_size: int = 100,
        batch: bool = True,
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy
        self.clock = clock
        self.page_size = page_size
        self.batch = batch
        self.stats = TrackerStats()
        self._created: dict[str, float] = {}  # task id -> server creation time (s), learnt from lists
        # windows listed over the last sweep interval: what one sweep of every task in flight needs (a round lists
        # only the windows that are due, a few at a time once their looks drift apart); the interval grows with it
        self.sweep_windows = 1
        self._listed: deque[tuple[float, int]] = deque()  # (when, windows listed) per round
        self._model_listed: dict[str, float] = {}  # model -> when its windows were last listed
        self._waited: set[int] = set()  # jobs that waited once for their model's sweep (never twice: no starving)
        self._list_off_until = 0.0
        # every task a list showed (any state, any owner: they all take room on a page), by model: creation times,
        # sorted, so a window is cut where its span would overflow a page
        self._rows: dict[str, list[float]] = {}
        self._row_ids: set[str] = set()

    def _server_created(self, job: Job) -> float:
        """When the service created the job's task, on its clock: learnt from a list, else the send time
        moved by the service's clock offset (the same measure the reconciler uses, see serverclock.py)."""
        if job.task_id and job.task_id in self._created:
            return self._created[job.task_id]
        return self.client.server_clock.to_server(job.submitted_at or job.created_at, job.clock_offset)

    # ---- one round ----------------------------------------------------------------------------------------

    async def round(self, limit: int = 5000) -> int:
        """Check every due job once; returns how many jobs were checked."""
        now = self.clock()
        batched = self.batch and now >= self._list_off_until
        # A round that lists takes the looks due within half an interval too, so it lists whole windows and their
        # tasks stay in step. Taking only what is due, windows listed one after another in a round came due a few
        # ms apart in the next, were taken in parts, and each part was listed again (a round a second at 1,000 in
        # flight, twice the interval).
        ahead = self.policy.sweep_interval(self.sweep_windows) / 2 if batched else 0.0
        due = await self.store.due_jobs(now + ahead, {JobState.PENDING, JobState.RUNNING}, limit)
        if lost := [job for job in due if not job.task_id]:
            due = [job for job in due if job.task_id]
            for job in lost:
                await self._lost_task_id(job)
        if not any(job.next_check_at is None or job.next_check_at <= now for job in due):
            return 0  # nothing due yet: the ones ahead wait for the round that one of them starts
        if batched:
            due = await self._join_next_sweep(due, now)
            if not any(job.next_check_at is None or job.next_check_at <= now for job in due):
                return 0  # every look due now joined its model's next sweep
        self.stats.rounds += 1
        unanswered: list[Job] = [job for job in due if job.next_check_at is None or job.next_check_at <= now]
        checked = len(unanswered)
        if batched and len(due) > 1:
            unanswered, checked = await self._by_list(due, now)
        await self._each(unanswered, self._by_get)
        crashpoint("while_following")
        return checked

    async def _lost_task_id(self, job: Job) -> None:
        """A job the database says the service has, but without its task id (a database written by another tool,
        or damaged): it was sent, so it is never sent again; the reconciler looks for its task as it does for a
        POST whose answer was lost, and asks the user when it cannot tell."""
        try:
            await self.store.transition(
                job.id,
                JobState.UNCERTAIN,
                expect=job.state,
                detail="no task id in the database: looking for its task in the service's list",
                next_check_at=self.clock(),
            )
        except StaleTransition as exc:  # moved meanwhile: that move stands
            log.info("a job changed while being checked: %s", exc)

    async def _join_next_sweep(self, due: list[Job], now: float) -> list[Job]:
        """A task not looked at yet, of a model whose windows were listed less than a sweep interval ago, waits for
        that model's next sweep and comes in its lists. While jobs are being sent, a task comes due every few
        moments, and each would otherwise list its window again on its own (most lists were spent so at 1,000
        in flight). Its first look is before it could plausibly be done, so waiting costs no lag."""
        interval = self.policy.sweep_interval(self.sweep_windows)
        later: list[tuple[int, float | None]] = []
        ready: list[Job] = []
        for job in due:
            last = self._model_listed.get(job.model)
            # 0 <= ...: after the wall clock went back, a list "in the future" must not park the job until then
            if (
                job.poll_count == 0
                and (job.next_check_at is None or job.next_check_at <= now)  # a look ahead keeps its own time
                and job.id not in self._waited
                and last is not None
                and 0 <= now - last < interval
            ):
                later.append((job.id, last + interval))
                self._waited.add(job.id)
            else:
                self._waited.discard(job.id)
                ready.append(job)
        if later:
            await self.store.set_next_checks(later)
            self.stats.joined_next_sweep += len(later)
        return ready

    def _windows(self, jobs: list[Job]) -> list[list[Job]]:
        """Groups of one model's jobs, consecutive by creation, of at most ~a page within a bounded time span.
        Unless all fit in one group, one model per group: the list is then filtered by model, so tasks of other
        models created in the same seconds (images and videos sent side by side) do not spill onto a second
        page. A group of several models is listed unfiltered. A page holds every task created in the span (finished
        ones too), so a group also ends where the tasks lists have shown in its span would overflow a page; and
        never inside one second (the filter has whole seconds: a second split between two windows is listed twice)."""
        cap = max(1, int(self.page_size * 0.8))  # due looks, while some creation times are estimates (slack)
        by_time = sorted(jobs, key=self._server_created)
        first, last = self._server_created(by_time[0]), self._server_created(by_time[-1])
        if (
            len(by_time) <= cap
            and last - first < 600
            and self._rows_between(None, *self._span(by_time)) <= self.page_size
        ):
            return [by_time]  # few enough for one page: one list of every model beats one list per model
        ordered = sorted(jobs, key=lambda job: (job.model, self._server_created(job)))
        groups: list[list[Job]] = []
        estimated = False  # does the last group hold an estimated creation time
        for job in ordered:
            created = self._server_created(job)
            if groups and groups[-1][0].model == job.model:
                head, tail = self._server_created(groups[-1][0]), self._server_created(groups[-1][-1])
                room = len(groups[-1]) < (cap if estimated else self.page_size)
                if int(created) == int(tail) or (
                    room and created - head < 600 and self._rows_between(job.model, head, created) <= self.page_size
                ):
                    groups[-1].append(job)
                    estimated = estimated or job.task_id not in self._created
                    continue
            groups.append([job])
            estimated = job.task_id not in self._created
        return groups

    def _span(self, group: list[Job]) -> tuple[float, float]:
        """The creation times a window lists: exact where a list told them, widened by the slack where estimated."""
        edges = []
        for job in group:
            created = self._server_created(job)
            slack = 0.0 if job.task_id in self._created else LIST_SLACK
            edges.append((created - slack, created + slack))
        return min(lo for lo, _ in edges), max(hi for _, hi in edges)

    def _round_windows(self, now: float, due: list[Job]) -> list[tuple[list[Job], tuple[float, float], str | None]]:
        """The windows to list: cut from the looks due now; a look due a little later joins only a window whose
        span holds it (that list answers it anyway), so no window is listed for looks not due yet. Spans of
        one model's windows never overlap: the filter has whole seconds, and a second listed twice is paid twice."""
        # "now" within a tenth of an interval: a look that joined its model's sweep may be due a few ms before that
        # sweep's tasks (the interval moved by a window meanwhile), and must not get a round of its own
        soon = now + self.policy.interval * SAME_ROUND
        due_now = [job for job in due if job.next_check_at is None or job.next_check_at <= soon]
        ahead = [job for job in due if not (job.next_check_at is None or job.next_check_at <= soon)]
        windows: list[tuple[list[Job], tuple[float, float], str | None]] = []
        last_end: dict[str | None, float] = {}
        for group in self._windows(due_now):
            models = {job.model for job in group}
            model = next(iter(models)) if len(models) == 1 else None
            start, end = self._span(group)
            if model in last_end:  # the previous window of this model listed up to that second already
                start = max(start, float(int(last_end[model]) + 1))
            end = max(end, start)
            if len(group) > 1:  # a single look is asked by itself, unless a look ahead joins it (then listed whole)
                last_end[model] = end
            windows.append((group, (start, end), model))
        for job in ahead:
            created = self._server_created(job)
            for group, (start, end), model in windows:
                if len(group) > 1 and model in (None, job.model) and int(start) <= created < int(end) + 1:
                    group.append(job)
                    break
        return windows

    def _rows_between(self, model: str | None, start: float, end: float) -> int:
        """Tasks lists have shown created in the seconds [start, end] (of `model`, or of all)."""
        lo, hi = float(int(start)), float(int(end) + 1)
        rows = [self._rows.get(model, [])] if model is not None else list(self._rows.values())
        return sum(bisect.bisect_right(times, hi) - bisect.bisect_left(times, lo) for times in rows)

    def _remember_rows(self, seen: dict[str, TaskSummary]) -> None:
        for task_id, summary in seen.items():
            if task_id in self._row_ids or summary.created_ms is None:
                continue
            self._row_ids.add(task_id)
            times = self._rows.setdefault(summary.model_name, [])
            bisect.insort(times, summary.created_ms / 1000)
            if times[0] < times[-1] - TASK_TTL:  # no list reaches back past a task's life
                del times[: bisect.bisect_left(times, times[-1] - TASK_TTL)]

    async def _by_list(self, due: list[Job], now: float | None = None) -> tuple[list[Job], int]:
        """Lists the windows of the due looks; returns the looks no list answered, and how many looks were taken."""
        left: list[Job] = []
        started = self.clock() if now is None else now
        windows = self._round_windows(started, due)
        self._count_sweep(sum(1 for group, _, _ in windows if len(group) > 1))
        listed: list[Job] = []
        answered: set[str] = set()  # task ids the round's lists showed (a window's edge may be in the one before)
        later: list[tuple[int, float]] = []  # next looks of the round's unchanged tasks, written together
        due_ids = {job.id for group, _, _ in windows if len(group) > 1 for job in group}  # each counted once
        try:
            for group, (start, end), model in windows:
                if len(group) == 1:
                    left.append(group[0])
                    continue
                try:
                    seen = await self._list_window(start, end, model)
                except (AuthError, RateLimited, TransportError):
                    left.extend(group)  # a passing problem: the per-task path below meets it again
                    continue
                except (ApiError, MalformedResponse) as exc:
                    log.warning("task list unavailable (%s); following tasks one by one for a while", exc)
                    self._list_off_until = self.clock() + LIST_DISABLE_SECONDS
                    left.extend(group)
                    continue
                self._remember_rows(seen)
                answered.update(seen)
                later.extend(await self._apply_list(seen, due_ids, started))
                listed.extend(group)
        finally:  # a round cut short (a revoked key) keeps the looks its lists answered
            # From the round's start for every window: the windows of one round come due together in the next, and
            # are listed in the same order in it, so each is listed once an interval (from each list's own moment,
            # the later ones came due a few ms after the first, and a round was run for each part; from the round's
            # end, every interval was longer by a round's time)
            for job in listed:  # a first look of these models joins their next sweep: the one of this round's tasks
                self._model_listed[job.model] = started
            await self.store.set_next_checks([(job_id, at + started) for job_id, at in later], polled=True)
        left.extend(job for job in listed if job.task_id not in answered)
        return left, sum(len(group) for group, _, _ in windows)

    def _count_sweep(self, listed: int) -> None:
        now = self.clock()
        horizon = now - self.policy.sweep_interval(self.sweep_windows)
        if self._listed and self._listed[-1][0] > now:  # the wall clock went back: what came before is moot
            self._listed.clear()
        self._listed.append((now, listed))
        while self._listed and self._listed[0][0] < horizon:
            self._listed.popleft()
        self.sweep_windows = max(1, sum(count for _, count in self._listed))

    async def _list_window(self, start: float, end: float, model: str | None) -> dict[str, TaskSummary]:
        seen, pages = await list_window(self.client, start, end, model, self.page_size)
        self.stats.list_requests += pages
        return seen

    async def _apply_list(
        self, seen: dict[str, TaskSummary], due_ids: set[int], base: float | None = None
    ) -> list[tuple[int, float]]:
        """Applies the finished and started ones; returns the unchanged ones' next looks, relative to now. The
        jobs of `due_ids` it answers are counted (and taken out: a task shown twice is one answer). A task that
        started gets its next look from `base` (the round's start), so it stays in step with its window."""
        owners = await self.store.jobs_by_task_ids(seen)  # one read per page, not one per task
        now = self.clock()
        unchanged: list[tuple[int, float]] = []
        changed: list[tuple[Job, TaskStatus]] = []
        for task_id, summary in seen.items():
            job = owners.get(task_id)
            if job is None or job.state not in (JobState.PENDING, JobState.RUNNING):
                continue
            self._waited.discard(job.id)  # looked at now: its wait is over
            if summary.created_ms is not None:
                self._created[task_id] = summary.created_ms / 1000
            if job.id in due_ids:
                due_ids.discard(job.id)
                self.stats.answered_by_list += 1
            if not summary.status.is_final and not (
                summary.status is TaskStatus.RUNNING and job.state is JobState.PENDING
            ):
                # nothing to record but the next look: batched into one write for the whole page
                unchanged.append((job.id, self._next_check(now, job) - now))
                continue
            changed.append((job, summary.status))
        # Finished tasks each need a GET (results): several at once, paced by the shared limiter, so a burst
        # of finishes waits for the rate limit, not for one round trip after another.
        await self._each(changed, lambda item: self._apply_status(item[0], item[1], from_list=True, base=base))
        return unchanged

    async def _each(self, items: Sequence[T], step: Callable[[T], Awaitable[None]]) -> None:
        """`step` for every item, a few at once; the first unexpected error (a revoked key, say) stops the
        ones not started yet and is raised, as a one-at-a-time loop would."""
        gate = asyncio.Semaphore(PARALLEL_GETS)
        failed: list[Exception] = []

        async def one(item: T) -> None:
            async with gate:
                if failed:
                    return
                try:
                    await step(item)
                except StaleTransition as exc:  # a user or another step moved the job meanwhile: theirs stands
                    log.info("a job changed while being checked: %s", exc)
                except Exception as exc:
                    failed.append(exc)

        await asyncio.gather(*(one(item) for item in items))
        if failed:
            raise failed[0]

    def _next_check(self, now: float, job: Job) -> float:
        interval = self.policy.sweep_interval(self.sweep_windows) if self.batch else None
        return self.policy.next_check(now, job.submitted_at or job.created_at, typical_seconds(job), interval)

    async def _by_get(self, job: Job) -> None:
        assert job.task_id
        try:
            result = await self.client.get_task(job.task_id)
        except AuthError:
            raise  # not this job's problem: the engine pauses everything once (no per-job retries and logs)
        except (ApiError, TransportError, MalformedResponse) as exc:
            # the client already retried; try again at the next interval
            log.info("status of job %s not known this round: %s", job.id, exc)
            await self.store.update_fields(job.id, next_check_at=self.clock() + self.policy.interval * 2)
            return
        finally:
            self.stats.task_requests += 1
        await self._apply_result(job, result)

    async def _apply_status(self, job: Job, status: TaskStatus, from_list: bool, base: float | None = None) -> None:
        """A status seen in a list: finished tasks still need their own GET (results or error text)."""
        if status.is_final:
            try:
                result = await self.client.get_task(job.task_id or "")
            except AuthError:
                raise
            except (ApiError, TransportError, MalformedResponse):
                await self.store.update_fields(job.id, next_check_at=self.clock())
                return
            finally:
                self.stats.task_requests += 1
            await self._apply_result(job, result)
            return
        await self._still_active(job, status, base)

    async def _still_active(self, job: Job, status: TaskStatus, base: float | None = None) -> None:
        now = self.clock()
        # from the round's start if given (a task listed with others), else from now; from its moment in the round,
        # a task that started drifted from its window and was listed in a round of its own
        next_at = self._next_check(now, job) - now + (now if base is None else base)
        if status is TaskStatus.RUNNING and job.state is JobState.PENDING:
            await self.store.transition(
                job.id,
                JobState.RUNNING,
                expect=JobState.PENDING,
                detail="running",
                next_check_at=next_at,
                poll_count=job.poll_count + 1,
            )
        else:
            await self.store.update_fields(job.id, next_check_at=next_at, poll_count=job.poll_count + 1)

    async def _apply_result(self, job: Job, result: TaskResult) -> None:
        now = self.clock()
        expect = {JobState.PENDING, JobState.RUNNING}
        if job.error_code == TASK_UNKNOWN and result.status is not TaskStatus.UNKNOWN:  # the service knows it again
            job = await self.store.update_fields(job.id, error_code=None, error_message=None)
        if result.status is TaskStatus.SUCCEEDED:
            if not result.urls and not result.text:
                await self.store.transition(
                    job.id,
                    JobState.FAILED,
                    expect=expect,
                    detail="no results",
                    error_code="NoResults",
                    finished_at=now,
                    error_message="the task succeeded but returned no files",
                )
                return
            await self.store.transition(
                job.id,
                JobState.SUCCEEDED,
                expect=expect,
                detail="succeeded",
                results_json=json.dumps(results_to_json(result)),
                usage_json=json.dumps(result.usage),
                image_count=result.image_count,
                video_seconds=result.video_seconds,
                results_expire_at=now + TASK_TTL,
                next_check_at=now,
                poll_count=job.poll_count + 1,
            )
        elif result.status is TaskStatus.FAILED:
            await self.store.transition(
                job.id,
                JobState.FAILED,
                expect=expect,
                detail=result.code or "failed",
                error_code=result.code or "Failed",
                finished_at=now,
                poll_count=job.poll_count + 1,
                error_message=result.message or "the task failed without a message",
            )
        elif result.status is TaskStatus.CANCELED:
            await self.store.transition(
                job.id,
                JobState.CANCELED,
                expect=expect,
                detail="canceled",
                finished_at=now,
                poll_count=job.poll_count + 1,
            )
        elif result.status is TaskStatus.UNKNOWN:
            age = now - (job.submitted_at or job.created_at)
            if age >= TASK_TTL:
                await self.store.transition(
                    job.id,
                    JobState.EXPIRED,
                    expect=expect,
                    detail="unknown after expiry",
                    finished_at=now,
                    error_code="Expired",
                    error_message="the task id expired (24 h) before its result was fetched",
                )
            else:
                # a young task the service does not know (yet): look again later, less and less often, and
                # say so once (the job must not look as if it were simply running late)
                if job.error_code != TASK_UNKNOWN:
                    await self.store.note(job.id, "the service answered UNKNOWN for this task")
                    await self.store.update_fields(
                        job.id,
                        error_code=TASK_UNKNOWN,
                        error_message="the service does not know this task; qwentui keeps asking until it "
                        "expires, 24 h after it was sent",
                    )
                delay = min(self.policy.max_interval * 4, self.policy.interval * 2 ** min(job.poll_count, 8))
                await self.store.update_fields(job.id, next_check_at=now + delay, poll_count=job.poll_count + 1)
        else:
            await self._still_active(job, result.status)
