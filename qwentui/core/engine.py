"""The job engine: recovers at start-up, then submits, follows, reconciles and downloads, all in the background.

Every job row is the source of truth and every non-terminal state has a start-up action:
QUEUED -> submit; UPLOADING -> QUEUED (an upload costs nothing); SUBMITTING -> UNCERTAIN (the POST may have
landed); UNCERTAIN -> reconcile; PENDING/RUNNING -> follow from the stored next check; SUCCEEDED -> download;
DOWNLOADING -> SUCCEEDED (resume the download); NEEDS_USER -> wait for the user.

Only the process holding the lease acts on jobs; another process on the same database only reads (and may add
jobs, which the lease holder picks up). The engine knows nothing of Textual: the TUI and the headless
`qwentui run` share it. What changed is told by one change feed (`Engine.subscribe`, see feed.py), which
hears every committed job change: this engine's loops, the user's actions and other processes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from qwentui.core.api import DashScopeClient
from qwentui.core.budget import Budget, BudgetGuard
from qwentui.core.catalog import Mode, modes_of
from qwentui.core.download import make_download_client
from qwentui.core.errors import ApiError, AuthError, QwentuiError, TransportError, UnsupportedOperation
from qwentui.core.feed import ChangeFeed, Subscription
from qwentui.core.fetcher import Fetcher
from qwentui.core.pricing import Pricing, estimate_fields
from qwentui.core.reconcile import Reconciler
from qwentui.core.requests import GenerationRequest, InvalidRequest, validate
from qwentui.core.results import TaskStatus
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import ACTIVE, TERMINAL, JobState
from qwentui.core.store import Job, StaleTransition, Store
from qwentui.core.submitter import Pause, Submitter, key_rejected, sync_call_lost
from qwentui.core.sync_call import SUPPORTED as SYNC_CALLS_OUTLIVE
from qwentui.core.sync_call import SyncCalls
from qwentui.core.tracker import Tracker, typical_seconds

log = logging.getLogger(__name__)

LEASE_TTL = 15.0
CLOCK_JUMP = 5.0  # the wall clock moving this much more or less than the monotonic clock is a jump
# What each kind of loop works on. A loop with nothing due sleeps until the earliest next check among its states,
# or until a change of a job in them (the change feed: this process or another) or `wake()` says there is more.
_WORK: dict[str, frozenset[JobState]] = {
    "submit": frozenset({JobState.QUEUED}),
    "download": frozenset({JobState.SUCCEEDED}),
    "track": frozenset({JobState.PENDING, JobState.RUNNING}),
    "reconcile": frozenset({JobState.UNCERTAIN}),
}
HOST = socket.gethostname()


@dataclass(frozen=True)
class EngineReport:
    """What the engine is doing, for a status line: nobody needs to reach into its parts."""

    leader: bool  # False: another process holds the lease, this one only reads
    pause_reason: str | None = None  # sending (or everything) is paused until `pause_until`
    pause_until: float | None = None
    pause_everything: bool = False  # also no status checks (a rejected key), not only no submissions
    rate_pauses: int = 0  # 429 answers that paused the shared limiter
    rate_paused_for: float = 0.0  # seconds the limiter still waits
    errors: tuple[str, ...] = ()  # unexpected errors of the loops, newest last
    held: int = 0  # queued jobs a spending cap keeps from being sent (core/budget.py)

    @property
    def paused(self) -> bool:
        return self.pause_reason is not None


class EngineError(QwentuiError):
    """An action on a job that cannot be done, with the reason (unknown id, wrong state, ...)."""


@dataclass
class EngineConfig:
    output_dir: Path
    policy: SchedulePolicy = field(default_factory=SchedulePolicy)
    submit_workers: int = 4
    download_workers: int = 4
    tick: float = 0.25  # the least time between two tracking rounds (and a loop's first breath after an error)
    idle_look: float = 5.0  # the longest a loop sleeps with nothing due (a safety net; wake-ups do the work)
    reconcile_settle: float = 10.0
    batch_tracking: bool = True
    page_size: int = 100
    prices: Pricing | None = None  # each new job records its estimate with these (None: no estimates)
    budget: Budget | None = None  # spending caps as given (else the settings file's [budget], read as it changes)
    settings: Path | None = None  # the settings file


class Engine:
    def __init__(
        self,
        store: Store,
        client: DashScopeClient,
        config: EngineConfig,
        *,
        download_http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.client = client
        self.config = config
        self.clock = clock
        client.server_clock.local = clock  # the service's clock is measured against the one we stamp with
        # the host name lets a restart on this machine see that a lease holder was killed (_take_lease)
        self.owner = f"{HOST}:{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._http = download_http or make_download_client()
        self._own_http = download_http is None
        policy = config.policy
        if SYNC_CALLS_OUTLIVE and not client.in_process:  # a crash no longer loses a sync call (sync_call.py)
            client.calls = SyncCalls(Path(store.path).parent / "calls")
        self.submitter = Submitter(store, client, policy, clock, self._pause)
        self.tracker = Tracker(store, client, policy, clock, page_size=config.page_size, batch=config.batch_tracking)
        self.reconciler = Reconciler(
            store, client, policy, clock, settle=config.reconcile_settle, model_locks=self.submitter.model_locks
        )
        self.fetcher = Fetcher(store, self._http, config.output_dir, policy, clock)
        self.pause: Pause | None = None
        self.leader = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._wakes = {kind: asyncio.Event() for kind in _WORK}
        self._until = dict.fromkeys(_WORK, 0.0)  # kind -> the wall time its loops sleep until
        self.looks = 0  # how many times a loop looked for due work (tests: none while nothing changes)
        self._orphan_hint = False  # the feed showed a job in a half-done step that no worker holds
        self._busy: set[int] = set()  # jobs a worker is handling right now
        self.feed = ChangeFeed(store)
        self._stopping = False
        self.errors: list[str] = []  # unexpected errors of the loops, kept for the status bar
        self._clock_ref: tuple[float, float] | None = None  # (wall, monotonic) at the last look, for jumps
        currency = config.prices.table.currency(config.prices.region) if config.prices else None
        self.budget = BudgetGuard(store, config.settings, currency, clock, config.budget)
        self._held: dict[int, str] = {}  # job id -> why a cap holds it (said once in its history)

    # ---- life cycle ---------------------------------------------------------------------------------------

    async def start(self) -> bool:
        """Take the lease and start working; returns False (read-only) when another process has it."""
        await self.feed.start()  # leader or not: a read-only process follows the jobs through the feed
        self.leader = await self._take_lease()
        self._tasks.append(asyncio.create_task(self._lease_loop(), name="lease"))
        if self.leader:
            await self.recover()
            self._start_workers()
        return self.leader

    def _start_workers(self) -> None:
        loops: list[tuple[str, Callable[[], Any]]] = [("track", self._track_loop), ("reconcile", self._reconcile_loop)]
        loops += [("work-feed", self._watch_feed)]
        loops += [(f"submit{i}", self._submit_loop) for i in range(self.config.submit_workers)]
        loops += [(f"download{i}", self._download_loop) for i in range(self.config.download_workers)]
        for name, loop in loops:
            self._tasks.append(asyncio.create_task(self._guard(name, loop), name=name))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded: a loop stuck in a slow request must not keep the app from quitting
            await asyncio.wait(self._tasks, timeout=5.0)
        self._tasks.clear()
        if self.leader:
            with contextlib.suppress(Exception):
                await self.store.release_lease(self.owner)
            self.leader = False
        await self.feed.stop()
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def wake(self) -> None:
        """Every loop looks for due work now (new jobs, a lifted pause, a recovery)."""
        for event in self._wakes.values():
            event.set()

    def subscribe(self) -> Subscription:
        """Batches of every job changed from now on, whoever changed it (see feed.py); `close()` it after."""
        return self.feed.subscribe()

    def status(self) -> EngineReport:
        now = self.clock()
        pause = self.pause if self.pause is not None and self.pause.until > now else None
        limiter = self.client.limiter
        return EngineReport(
            leader=self.leader,
            pause_reason=pause.reason if pause else None,
            pause_until=pause.until if pause else None,
            pause_everything=pause.everything if pause else False,
            rate_pauses=limiter.pauses,
            rate_paused_for=limiter.paused_for,
            errors=tuple(self.errors),
            held=len(self._held),
        )

    def _pause(self, pause: Pause) -> None:
        if self.pause is None or pause.until > self.pause.until:
            if self.pause is None or (pause.everything and not self.pause.everything):
                log.warning("pausing: %s", pause.reason)  # once per pause, not once per job that meets it
            self.pause = pause

    def _key_rejected(self, exc: AuthError) -> None:
        """A status check or reconcile met a rejected key: pause everything, as a refused submission does."""
        self._pause(key_rejected(exc, self.clock()))

    def resume(self) -> None:
        """Lift a pause (after the user fixed the key or topped up)."""
        self.pause = None
        self.wake()

    def _paused(self, everything: bool = False) -> bool:
        if self.pause is None:
            return False
        if self.clock() >= self.pause.until:
            self.pause = None
            return False
        return self.pause.everything or not everything

    # ---- start-up recovery --------------------------------------------------------------------------------

    async def recover(self) -> dict[str, int]:
        """The start-up action of every non-terminal state; returns how many jobs each action touched."""
        now = self.clock()
        counts: dict[str, int] = {}
        for job in await self.store.jobs_in_states(set(_TAKEN_UP)):
            if self.submitter.can_resume(job):
                if job.id not in self._busy:  # else this process's own worker waits for it (a lease taken back)
                    self._resume_call(job)
                counts["resumed"] = counts.get("resumed", 0) + 1
                continue
            to_state, fields = _take_up(job, "qwentui restarted")
            await self.store.transition(job.id, to_state, expect=job.state, next_check_at=now, **fields)
            counts[to_state.value] = counts.get(to_state.value, 0) + 1
        for job in await self.store.jobs_in_states({JobState.UNCERTAIN}):
            if job.wire_json and not _is_async_job(job):  # left UNCERTAIN by a version that did not ask at once
                await self.store.transition(
                    job.id, JobState.NEEDS_USER, expect=JobState.UNCERTAIN, **sync_call_lost("qwentui restarted")
                )
                counts[JobState.NEEDS_USER.value] = counts.get(JobState.NEEDS_USER.value, 0) + 1
        # A queued job waits only for a spending cap's next look (`_hold`): the cap may have been raised while no
        # engine ran, so a new one looks at once rather than when the last one planned to.
        waiting = [
            (j.id, now) for j in await self.store.jobs_in_states({JobState.QUEUED}) if (j.next_check_at or 0) > now
        ]
        await self.store.set_next_checks(waiting)
        following = await self.store.jobs_in_states({JobState.PENDING, JobState.RUNNING})
        counts["following"] = len(following)
        self.wake()
        return counts

    def _resume_call(self, job: Job) -> None:
        """A sync call that a crash left to its helper: hear its answer in the background, as if never stopped."""
        self._busy.add(job.id)

        async def resume() -> None:
            try:
                await self.submitter.resume(job)
            except Exception:  # left SUBMITTING: the orphan sweep asks the user
                log.exception("the sync call of job %s could not be resumed", job.id)
                self._orphan_hint = True
            finally:
                self._busy.discard(job.id)
                self.wake()

        self._tasks.append(asyncio.create_task(resume(), name=f"resume{job.id}"))

    # ---- loops --------------------------------------------------------------------------------------------

    async def _guard(self, name: str, loop: Callable[[], Any]) -> None:
        """Run a loop forever; an unexpected error is logged and the loop restarts after a breath."""
        while not self._stopping:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop the engine; it is logged and shown
                log.exception("engine loop %s failed", name)
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                del self.errors[:-20]
                await asyncio.sleep(1.0)

    async def _idle(self, kind: str, least: float = 0.0, *, paused: bool = False) -> None:
        """Sleep until this kind of loop may have work: woken (see _watch_feed, wake()), or the earliest next
        check of its states comes (not while `paused`: then the pause's end), at least `least`, at most
        `idle_look` seconds."""
        event = self._wakes[kind]
        # Cleared before the look: a wake-up set until now is for a commit the look below sees.
        event.clear()
        now = self.clock()
        until = now + self.config.idle_look
        if self.leader and not (paused and self.pause is not None):  # a pause lifted meanwhile counts as none
            first = await self._next_check(_WORK[kind])
            if first is not None:
                until = min(until, first)
            if kind == "reconcile" and self._orphan_hint:
                until = now
        if self.pause is not None:
            until = min(until, self.pause.until)
        self._until[kind] = until
        if least:
            await asyncio.sleep(least)
        delay = until - self.clock()
        if delay > 0:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation and keep a loop alive
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await event.wait()

    async def _next_check(self, states: frozenset[JobState]) -> float | None:
        """When the earliest job in `states` that no worker holds is due (now when it has no next check)."""
        self.looks += 1
        for job in await self.store.due_jobs(float("inf"), set(states), len(self._busy) + 1):
            if job.id not in self._busy:
                return job.next_check_at if job.next_check_at is not None else self.clock()
        return None

    async def _watch_feed(self) -> None:
        """Wake the loops a changed job concerns: one in their states, not held by a worker, due before they
        planned to look (a new job from the TUI, a CLI in another process, a retry scheduled sooner)."""
        with self.feed.subscribe() as changes:
            async for batch in changes:
                for kind, states in _WORK.items():
                    until, event = self._until[kind], self._wakes[kind]
                    if not event.is_set() and any(_due_before(job, states, until, self._busy) for job in batch):
                        event.set()
                if any(job.state in _TAKEN_UP and job.id not in self._busy for job in batch):
                    self._orphan_hint = True  # a step that may have stopped half-way: the orphan sweep
                    self._wakes["reconcile"].set()

    async def _claim(self, states: set[JobState], limit: int = 20) -> Job | None:
        for job in await self.store.due_jobs(self.clock(), states, limit):
            if job.id not in self._busy:
                self._busy.add(job.id)
                # read again once held: the list may be older than another worker's step that ended meanwhile (a
                # job it sent and let go while the list was read: its stale copy's step would fail, stopping the loop)
                fresh = await self.store.get_job(job.id)
                if fresh is not None and fresh.state in states:
                    return fresh
                self._busy.discard(job.id)
        return None

    async def _submit_loop(self) -> None:
        while not self._stopping:
            if not self.leader or self._paused():
                await self._idle("submit", paused=True)
                continue
            job = await self._claim({JobState.QUEUED})
            if job is None:
                await self._idle("submit")
                continue
            try:
                if await self._hold(job):
                    continue
                after = await self.submitter.submit(job)
                if after.state in (JobState.SUCCEEDED, JobState.UNCERTAIN):
                    self.wake()
            finally:
                self._busy.discard(job.id)

    async def _download_loop(self) -> None:
        while not self._stopping:
            job = await self._claim({JobState.SUCCEEDED}) if self.leader else None
            if job is None:
                await self._idle("download")
                continue
            try:
                await self.fetcher.fetch(job)
            finally:
                self._busy.discard(job.id)

    async def _watch_clock(self) -> None:
        """Notice a jump of the wall clock (NTP step, suspend/resume, a user's change) against the monotonic
        clock. Backward, the stored next checks are moved back by as much (else every task would wait out the
        jump); either way the task list's time windows can no longer prove that a POST never arrived, so the
        reconciler hands uncertain submissions to the user instead of resending them."""
        wall, mono = self.clock(), time.monotonic()
        ref, self._clock_ref = self._clock_ref, (wall, mono)
        if ref is None:
            return
        jump = (wall - ref[0]) - (mono - ref[1])
        if abs(jump) < CLOCK_JUMP:
            return
        log.warning("the wall clock jumped %+.0f s; following on, uncertain submissions are left to you", jump)
        self.reconciler.clock_jumped = True
        if self.pause is not None:
            self.pause = Pause(self.pause.reason, self.pause.until + jump, self.pause.everything)
        if jump < 0:
            moved = [
                (j.id, max(wall, j.next_check_at + jump))
                for j in await self.store.jobs_in_states(ACTIVE)
                if j.next_check_at is not None and j.next_check_at > wall
            ]
            await self.store.set_next_checks(moved)

    async def _track_loop(self) -> None:
        while not self._stopping:
            await self._watch_clock()
            paused = self._paused(everything=True)
            if self.leader and not paused:
                try:
                    checked = await self.tracker.round()
                except AuthError as exc:
                    self._key_rejected(exc)
                    checked = 0
                if checked:
                    self._wakes["download"].set()  # finished tasks may be waiting for a downloader
            await self._idle("track", least=self.config.tick, paused=paused)

    async def _sweep_orphans(self) -> None:
        """A step whose last write failed (a full disk, a locked database) leaves its job UPLOADING, SUBMITTING
        or DOWNLOADING with no worker on it: give it that state's start-up action now, not at the next start."""
        self._orphan_hint = False
        for job in await self.store.jobs_in_states(set(_TAKEN_UP)):
            if job.id in self._busy:
                continue
            to_state, fields = _take_up(job, "its step stopped half-way")
            with contextlib.suppress(StaleTransition):  # a worker finished it meanwhile
                await self.store.transition(job.id, to_state, expect=job.state, next_check_at=self.clock(), **fields)
                self.wake()

    async def _reconcile_loop(self) -> None:
        while not self._stopping:
            await self._watch_clock()  # a jump must be known before a list's time window settles anything
            paused = self._paused(everything=True)
            if self.leader and not paused:
                await self._sweep_orphans()
                try:
                    outcome = await self.reconciler.round()
                except AuthError as exc:
                    self._key_rejected(exc)
                else:
                    if outcome.adopted or outcome.requeued:
                        self.wake()
            await self._idle("reconcile", least=max(self.config.tick, 1.0), paused=paused)

    async def _lease_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(LEASE_TTL / 3)
            now = self.clock()
            if self.leader:
                if not await self.store.renew_lease(self.owner, now):
                    log.warning("lost the engine lease; this process now only reads")
                    self.leader = False
            elif await self._take_lease():
                log.info("took over the engine lease")
                self.leader = True
                await self.recover()
                if not any(t.get_name().startswith("submit") for t in self._tasks):
                    self._start_workers()

    async def _take_lease(self) -> bool:
        """Take the lease if it is free or expired; a lease whose holder was a process of this machine that no
        longer exists (killed with -9) is broken at once instead of after LEASE_TTL: meanwhile nothing would
        send jobs, and a `submit` would be told another process sends them."""
        if await self.store.acquire_lease(self.owner, os.getpid(), self.clock(), LEASE_TTL):
            return True
        held = await self.store.lease()
        if held is None or not held.owner.startswith(f"{HOST}:") or _process_alive(held.pid):
            return False
        log.warning("the engine lease of process %s is stale (that process is gone); taking over", held.pid)
        await self.store.release_lease(held.owner)
        return await self.store.acquire_lease(self.owner, os.getpid(), self.clock(), LEASE_TTL)

    # ---- actions ------------------------------------------------------------------------------------------

    async def add(
        self,
        request: GenerationRequest,
        *,
        source: str = "cli",
        source_path: str | None = None,
        parent_id: int | None = None,
        output_dir: Path | None = None,
    ) -> Job:
        """Validate and queue a request (InvalidRequest lists every problem; nothing is queued then)."""
        # validation may decode local images with Pillow: off the event loop, so the UI stays responsive
        problems = await asyncio.to_thread(validate, request)
        if problems:
            raise InvalidRequest(problems)
        row = request.row
        job = await self.store.add_job(
            request.to_dict(),
            mode=row.mode.value,
            model=row.model,
            prompt=request.prompt,
            source=source,
            source_path=source_path,
            parent_id=parent_id,
            output_dir=str(output_dir) if output_dir else None,
            expected_seconds=float(sum(row.typical_seconds)) / 2 * self.config.policy.time_scale,
            **estimate_fields(self.config.prices, request),
        )
        self.wake()
        return job

    async def _job(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise EngineError(f"there is no job {job_id}; `qwentui jobs` lists them")
        return job

    async def cancel(self, job_id: int) -> Job:
        """Cancel a job that has not started on the service (QUEUED locally, or PENDING remotely)."""
        job = await self._job(job_id)
        if job.state in (JobState.QUEUED, JobState.NEEDS_USER):
            job = await self.store.transition(
                job.id, JobState.CANCELED, expect=job.state, detail="canceled by the user", finished_at=self.clock()
            )
        elif job.state is JobState.PENDING and job.task_id:
            try:
                await self.client.cancel(job.task_id)
            except UnsupportedOperation:
                raise EngineError(
                    f"job {job_id} has already started on the service and can no longer be "
                    "canceled (only PENDING tasks can)"
                ) from None
            except (ApiError, TransportError) as exc:
                raise EngineError(f"could not cancel job {job_id}: {exc}") from None
            job = await self.store.transition(
                job.id,
                JobState.CANCELED,
                expect=JobState.PENDING,
                detail="canceled by the user",
                finished_at=self.clock(),
            )
        elif job.state in TERMINAL:
            raise EngineError(f"job {job_id} is already {job.state.value.lower()}")
        else:
            raise EngineError(
                f"job {job_id} is {job.state.value} and can no longer be canceled (only queued or PENDING jobs can)"
            )
        return job

    async def retry(self, job_id: int) -> Job:
        """A new job with the same request (the old one stays as it was)."""
        job = await self._job(job_id)
        return await self.duplicate(job.id, source="retry")

    async def duplicate(self, job_id: int, *, source: str = "duplicate", **edits: Any) -> Job:
        """A new job from another's request, with `edits` applied (field names of GenerationRequest)."""
        job = await self._job(job_id)
        if job.mode.is_local:  # an assembled film: nothing to send (issue 16)
            raise EngineError(f"job {job.id} was made on this machine, not by a model; make it again the same way")
        data = dict(job.request)
        data.update({k: v for k, v in edits.items()})
        request = GenerationRequest.from_dict(data)
        return await self.add(
            request, source=source, parent_id=job.id, output_dir=Path(job.output_dir) if job.output_dir else None
        )

    async def resubmit(self, job_id: int) -> Job:
        """The user's answer to NEEDS_USER: send it again (they accept the risk of a duplicate)."""
        job = await self._job(job_id)
        if job.state is not JobState.NEEDS_USER:
            raise EngineError(f"job {job_id} is {job.state.value}; only jobs that need you can be resubmitted")
        job = await self.store.transition(
            job.id,
            JobState.QUEUED,
            expect=JobState.NEEDS_USER,
            detail="resubmitted by the user",
            next_check_at=self.clock(),
            attempts=0,
        )
        self.wake()
        return job

    async def adopt(self, job_id: int, task_id: str) -> Job:
        """The user's answer to NEEDS_USER: this task id is the job's task."""
        job = await self._job(job_id)
        if job.state is not JobState.NEEDS_USER:
            raise EngineError(f"job {job_id} is {job.state.value}; only jobs that need you can adopt a task")
        if await self.store.get_by_task_id(task_id):
            raise EngineError(f"task {task_id} already belongs to another job")
        job = await self.store.transition(
            job.id,
            JobState.PENDING,
            expect=JobState.NEEDS_USER,
            detail=f"adopted task {task_id}",
            task_id=task_id,
            next_check_at=self.clock(),
        )
        return job

    async def import_task(self, task_id: str, model: str | None = None, prompt: str = "") -> Job:
        """Follow a task created elsewhere (e.g. by a skill script's --submit-only)."""
        existing = await self.store.get_by_task_id(task_id)
        if existing is not None:
            raise EngineError(f"task {task_id} is already job {existing.id}")
        try:
            result = await self.client.get_task(task_id)
        except (ApiError, TransportError) as exc:
            raise EngineError(f"cannot look up task {task_id}: {exc}") from None
        if result.status is TaskStatus.UNKNOWN:
            raise EngineError(
                f"the service does not know task {task_id} (wrong id, another region or account, or older than 24 h)"
            )
        if model is None:
            model = await self._model_of(task_id, result.submit_time)
        mode = _guess_mode(model, result)
        now = self.clock()
        request = {"mode": mode.value, "model": model or "unknown", "prompt": prompt or result.actual_prompt or ""}
        job = await self.store.add_job(
            request,
            mode=mode.value,
            model=model or "unknown",
            prompt=request["prompt"],
            source="import",
            state=JobState.PENDING,
            # in the same write: a pending job without its task id is one whose id was lost (the tracker looks for it)
            task_id=task_id,
            submitted_at=now,
            next_check_at=now,
        )
        self.wake()
        return job

    async def _model_of(self, task_id: str, submit_time: str | None) -> str | None:
        """The task list names the model; look around the task's submit time."""
        from datetime import datetime, timedelta

        from qwentui.core.api import SERVER_TZ

        try:
            when = datetime.strptime(submit_time or "", "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=SERVER_TZ)
        except ValueError:
            return None
        with contextlib.suppress(ApiError, TransportError):
            page = await self.client.list_tasks(
                start=when - timedelta(days=1), end=when + timedelta(days=1), page_size=100
            )
            for task in page.tasks:
                if task.task_id == task_id:
                    return task.model_name or None
        return None

    async def delete(self, job_id: int) -> None:
        job = await self._job(job_id)
        if job.state not in TERMINAL and job.state is not JobState.NEEDS_USER:
            raise EngineError(f"job {job_id} is still {job.state.value}; cancel it or wait until it ends")
        await self.store.delete_job(job.id)

    # ---- waiting (CLI --wait, tests) ----------------------------------------------------------------------

    async def wait_for(
        self, job_ids: list[int], timeout: float | None = None, on_change: Callable[[Job], None] | None = None
    ) -> list[Job]:
        """Until every job is terminal or needs the user; returns them. Follows the change feed, so it works as
        well when another process runs the engine (this one only reads the database then)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        await self.feed.start()
        seen: dict[int, JobState] = {}
        with self.feed.subscribe() as changes:  # before the first read: a change in between is not lost
            latest = {i: await self._job(i) for i in job_ids}
            while True:
                jobs = [latest[i] for i in job_ids]
                for job in jobs:
                    if on_change and seen.get(job.id) is not job.state:
                        on_change(job)
                    seen[job.id] = job.state
                if all(j.state in TERMINAL or j.state is JobState.NEEDS_USER for j in jobs):
                    return jobs
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{sum(j.state not in TERMINAL for j in jobs)} job(s) still running")
                for job in await changes.get(timeout=left):
                    if job.id in latest:
                        latest[job.id] = job

    def expected_seconds(self, job: Job) -> float:
        lo, hi = typical_seconds(job)
        return (lo + hi) / 2 * self.config.policy.time_scale

    # ---- spending caps (core/budget.py) --------------------------------------------------------------------

    def held(self) -> dict[int, str]:
        """The jobs a spending cap keeps queued now, and which cap ("held: the daily budget is 5.00 USD")."""
        return dict(self._held)

    async def _hold(self, job: Job) -> bool:
        """True when a cap keeps `job` from being sent now: it stays queued, looked at again later, and its
        history says why (once per reason)."""
        reason = await self.budget.hold_reason(job)
        if reason is None:
            if self._held.pop(job.id, None) is not None:
                await self.store.note(job.id, "released: within the budget now")
            return False
        await self.store.set_next_checks([(job.id, self.budget.next_look())])
        if self._held.get(job.id) != (which := reason.split(",")[0]):  # the cap, not the amounts
            self._held[job.id] = which
            await self.store.note(job.id, reason)
        return True

    # ---- batches (qwentui batch): many jobs queued, canceled or retried as one -----------------------------

    async def add_batch(
        self,
        requests: list[GenerationRequest],
        *,
        name: str,
        source: str = "batch",
        source_path: str | None = None,
        max_cost: float | None = None,
        currency: str | None = None,
    ) -> tuple[int, list[int]]:
        """Queue validated requests as one batch, in one transaction; (batch id, job ids). Validate first
        (qwentui.cli.batch does, line by line): nothing here checks the requests again."""
        scale = self.config.policy.time_scale

        def rows() -> list[dict[str, Any]]:  # in a worker thread: thousands of requests take a while
            return [
                {
                    "request": request.to_dict(),
                    "mode": request.row.mode.value,
                    "model": request.row.model,
                    "prompt": request.prompt,
                    "source": source,
                    "source_path": source_path,
                    "expected_seconds": float(sum(request.row.typical_seconds)) / 2 * scale,
                    **estimate_fields(self.config.prices, request),
                }
                for request in requests
            ]

        batch_id, ids = await self.store.add_jobs(
            await asyncio.to_thread(rows),
            batch_name=name,
            batch_source=source_path,
            max_cost=max_cost,
            currency=currency,
        )
        assert batch_id is not None
        self.wake()
        return batch_id, ids

    async def cancel_batch(self, batch_id: int) -> tuple[list[int], list[str]]:
        """Cancel what can still be canceled: the jobs not sent yet (at once), then those the service has
        not started (PENDING). Returns (canceled ids, why the others could not be)."""
        if await self.store.get_batch(batch_id) is None:
            raise EngineError(f"there is no batch {batch_id}; `qwentui batch --list` lists them")
        canceled = await self.store.cancel_waiting(batch_id)
        refused: list[str] = []
        for job in await self.store.batch_jobs(batch_id, ACTIVE - {JobState.QUEUED}):
            try:
                canceled.append((await self.cancel(job.id)).id)
            except (EngineError, StaleTransition) as exc:
                refused.append(str(exc))
        return canceled, refused

    async def retry_batch(self, batch_id: int) -> list[int]:
        """New jobs, in the same batch, for every job of it that failed, was refused, canceled or expired (once:
        a job already retried is not retried again; its retry is, if that ended badly too)."""
        if await self.store.get_batch(batch_id) is None:
            raise EngineError(f"there is no batch {batch_id}; `qwentui batch --list` lists them")
        ended = {JobState.FAILED, JobState.REJECTED, JobState.CANCELED, JobState.EXPIRED}
        jobs = await self.store.batch_jobs(batch_id)
        retried = {job.parent_id for job in jobs}
        rows = []
        for job in (j for j in jobs if j.state in ended and j.id not in retried):
            request = GenerationRequest.from_dict(job.request)
            rows.append(
                {
                    "request": job.request,
                    "mode": job.mode.value,
                    "model": job.model,
                    "prompt": job.prompt,
                    "source": "retry",
                    "parent_id": job.id,
                    "output_dir": job.output_dir,
                    "expected_seconds": job.expected_seconds,
                    "batch_id": batch_id,
                    **estimate_fields(self.config.prices, request),
                }
            )
        _, ids = await self.store.add_jobs(rows, detail=f"retry in batch {batch_id}")
        self.wake()
        return ids


# The state a step leaves behind when it stops half-way (a crash, a last write that failed) -> where the job
# goes on from, and why. Used at start-up and by the sweep for steps whose worker is gone.
_TAKEN_UP: dict[JobState, tuple[JobState, str]] = {
    JobState.UPLOADING: (JobState.QUEUED, "upload again (an upload costs nothing)"),
    JobState.SUBMITTING: (JobState.UNCERTAIN, "the POST may have been sent"),
    JobState.DOWNLOADING: (JobState.SUCCEEDED, "resume the download"),
}


def _due_before(job: Job, states: frozenset[JobState], until: float, busy: set[int]) -> bool:
    return job.state in states and job.id not in busy and (job.next_check_at is None or job.next_check_at < until)


def _take_up(job: Job, why: str) -> tuple[JobState, dict[str, Any]]:
    """The state a half-done step's job goes on from, with the fields of that transition."""
    to_state, what = _TAKEN_UP[job.state]
    if to_state is JobState.UNCERTAIN and not _is_async_job(job):
        return JobState.NEEDS_USER, sync_call_lost(why)  # no task to reconcile: never resend it on a guess
    return to_state, {"detail": f"{why}: {what}"}


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # signal 0 is a probe only on POSIX (on Windows it is CTRL_C_EVENT)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, as another user
        return True
    return True


def _is_async_job(job: Job) -> bool:
    from qwentui.core.catalog import lookup

    try:
        return lookup(job.model, Mode(job.mode)).is_async
    except (LookupError, ValueError):
        return True


def _guess_mode(model: str | None, result: Any) -> Mode:
    if model:
        served = modes_of(model)
        if served:
            return served[0]
    if any(i.kind == "video" for i in result.items) or (model and ("2v" in model or "vace" in model)):
        return Mode.T2V
    return Mode.T2I
