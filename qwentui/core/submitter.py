"""Submit one job: intent -> send -> commit, and classify every way a submission can end.

The row is committed as SUBMITTING (with the wire body and its hash) before the POST and the task id right
after it. A submission goes back to QUEUED only when it provably never reached the server (connect errors, a
request not completely written) or was explicitly refused with a retryable answer (429, the service's own 503
envelope); an ambiguous end (read timeout, dropped connection, other 5xx, unreadable answer) becomes UNCERTAIN
and is reconciled against the task list, never resent blindly (`refused_unprocessed` says why 503 differs).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode, lookup
from qwentui.core.crashpoints import crashpoint
from qwentui.core.errors import (
    ApiError,
    AuthError,
    MalformedResponse,
    QuotaExhausted,
    RateLimited,
    ServerError,
    TransportError,
    UploadError,
)
from qwentui.core.requests import GenerationRequest, InvalidRequest, WireRequest, build
from qwentui.core.results import TaskResult, TaskStatus
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store, body_hash

MAX_TRANSIENT_ATTEMPTS = 8  # connect errors / 429s / 503s before a job asks the user instead
# Synchronous calls of one model in flight at once. A sync call leaves no task to find: one whose answer is lost
# (its helper died with the machine, sync_call.py; or, without a helper, our process died or quit) is left to the
# user. A crash catches at most this many, while the number it is expected to catch does not depend on it (the
# same calls are in flight for as long in total, only packed closer). Two halve the wait of a backlog of sync
# jobs (30 qwen-image-2.0 jobs: ~3 min instead of ~6) and leave the other submit workers to the rest.
SYNC_IN_FLIGHT = 2

# 5xx codes by which the service says that the generation itself failed (the code of a FAILED task): it made
# no output, and only output is billed, so the job ends with the service's reason instead of asking the user.
GENERATION_FAILED = frozenset({"InternalError.Algo"})


def refused_unprocessed(exc: ServerError) -> bool:
    """Whether a 5xx answer proves that the request was not processed (so sending it again cannot pay twice).

    Only a 503 in the service's own envelope (code `ServiceUnavailable`, so a JSON body from DashScope, not a
    proxy's page) does: 503 means the server is unable to handle the request now (RFC 9110 15.6.4), and the
    service asks to come back later, as it does with a 429. Everything else stays ambiguous:
    - 500 `InternalError` can come after the task was made and billed (a failure writing the answer);
    - 502 and 504 come from a gateway between us and the service, which may have processed the request;
    - a 503 without the envelope may be a proxy that reset on its upstream after forwarding the request.
    """
    return exc.status == 503 and exc.code == "ServiceUnavailable"


def sync_call_lost(cause: str) -> dict[str, Any]:
    """The fields of a synchronous call that ended without its answer (an error after sending, or a crash). It
    leaves no task to look for, so only the user can say whether to send it again; it never goes on a guess."""
    return {
        "detail": f"sync call interrupted: {cause}",
        "error_code": "Uncertain",
        "error_message": f"a synchronous call was interrupted ({cause}); it may have produced (and billed) a result "
        "that was lost, and it leaves no task to look for. It was not sent again to avoid paying twice — resubmit "
        "it if no result appeared",
    }


def call_name(job: Job, attempt: int | None = None) -> str:
    """The name of one attempt's sync call files (sync_call.py); the job's last attempt unless given."""
    return f"job{job.id}-attempt{job.attempts if attempt is None else attempt}"


def results_to_json(result: TaskResult) -> list[dict[str, str | None]]:
    return [{"kind": i.kind, "url": i.url, "text": i.text} for i in result.items]


@dataclass
class Pause:
    """A reason every submission (or everything) waits, shown once to the user instead of per job."""

    reason: str
    until: float
    everything: bool = False  # a rejected key stops status checks too


def key_rejected(exc: AuthError, now: float) -> Pause:
    """A 401 anywhere (a submission, an upload, a status check, a reconcile) stops everything for an hour or
    until the user resumes: every later request would be refused the same way."""
    return Pause(f"API key rejected: {exc.describe()}", now + 3600, everything=True)


class Submitter:
    def __init__(
        self,
        store: Store,
        client: DashScopeClient,
        policy: SchedulePolicy,
        clock: Callable[[], float],
        on_pause: Callable[[Pause], None],
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy
        self.clock = clock
        self.on_pause = on_pause
        # One POST in flight per model: the tasks of a model are then created in the order they were sent,
        # which is what lets the reconciler tell apart two uncertain submissions of the same model. Sync calls
        # make no task the list shows (nothing to reconcile), so they are limited apart.
        self.model_locks: dict[str, asyncio.Lock] = {}  # shared with the reconciler
        self.sync_slots: dict[str, asyncio.Semaphore] = {}

    async def submit(self, job: Job) -> Job:
        """Take a QUEUED job as far as it goes now; returns the job in its new state."""
        try:
            request = GenerationRequest.from_dict(job.request)
            wire = await asyncio.to_thread(build, request)
        except InvalidRequest as exc:
            return await self.store.transition(
                job.id,
                JobState.REJECTED,
                expect=JobState.QUEUED,
                detail="invalid request",
                error_code="InvalidRequest",
                error_message=str(exc),
                finished_at=self.clock(),
            )
        if wire.local_files:
            uploaded = await self._upload(job, wire)
            if uploaded is None:
                return await self.store.get_job(job.id) or job
            wire = uploaded
        if not wire.is_async:
            async with self.sync_slots.setdefault(wire.model, asyncio.Semaphore(SYNC_IN_FLIGHT)):
                return await self._send(job, wire)
        async with self.model_locks.setdefault(wire.model, asyncio.Lock()):
            return await self._send(job, wire)

    async def _send(self, job: Job, wire: WireRequest) -> Job:
        now = self.clock()
        name = call_name(job, job.attempts + 1)
        through_helper = await asyncio.to_thread(self.client.prepare_call, wire, name)
        job = await self.store.transition(
            job.id,
            JobState.SUBMITTING,
            expect={JobState.QUEUED, JobState.UPLOADING},
            detail=f"POST {wire.route.value}",
            wire_json=json.dumps(wire.body, ensure_ascii=False),
            body_hash=body_hash(wire.body),
            attempts=job.attempts + 1,
            submitted_at=now,
            clock_offset=self.client.server_clock.offset,
            clock_uncertainty=self.client.server_clock.known_within,
        )
        helper = name if through_helper else None
        after = await self._settle(job, wire, lambda: self.client.submit(wire, call_name=helper))
        self._forget(name)
        return after

    def can_resume(self, job: Job) -> bool:
        """Whether a SUBMITTING job found at start-up is a sync call made through a helper (sync_call.py),
        which may have its answer, or be at work still: `resume` then settles it like its first engine would."""
        calls = self.client.calls
        return job.state is JobState.SUBMITTING and calls is not None and calls.left_by(call_name(job))

    async def resume(self, job: Job) -> Job:
        request = GenerationRequest.from_dict(job.request)
        wire = await asyncio.to_thread(build, request)  # the route, model and mode; the body sent is in the ticket
        name = call_name(job)
        after = await self._settle(job, wire, lambda: self.client.answer_of(name))
        self._forget(name)
        return after

    def _forget(self, name: str) -> None:
        if self.client.calls is not None:
            self.client.calls.forget(name)

    async def _settle(self, job: Job, wire: WireRequest, call: Callable[[], Awaitable[TaskResult]]) -> Job:
        """Send (or hear the answer of a call sent before a restart) and classify how it ended."""
        now = self.clock()
        try:
            crashpoint("before_post")
            result = await call()
            crashpoint("after_post")
        except TransportError as exc:
            if not exc.sent:
                return await self._requeue(job, f"not sent: {exc}")
            return await self._uncertain(job, wire, str(exc))
        except RateLimited as exc:
            delay = exc.retry_after if exc.retry_after is not None else self.policy.retry_delay(job.attempts)
            return await self._requeue(job, f"throttled: {exc.code}", delay=delay)
        except QuotaExhausted as exc:
            self.on_pause(Pause(f"account problem: {exc.describe()}", now + 300))
            # the pause holds every submission back; the job itself stays due for when it lifts
            return await self._requeue(job, exc.code, delay=0, count=False)
        except AuthError as exc:
            self.on_pause(key_rejected(exc, now))
            return await self._requeue(job, exc.code, delay=0, count=False)
        except ServerError as exc:
            if refused_unprocessed(exc):
                delay = exc.retry_after if exc.retry_after is not None else self.policy.retry_delay(job.attempts)
                return await self._requeue(job, f"refused: {exc.code}", delay=delay)
            if exc.code in GENERATION_FAILED:
                return await self._rejected(job, exc, "the service says the generation failed; nothing was billed")
            return await self._uncertain(job, wire, str(exc))
        except MalformedResponse as exc:
            return await self._uncertain(job, wire, str(exc))
        except ApiError as exc:
            return await self._rejected(job, exc)
        return await self.accepted(job, wire, result)

    async def _rejected(self, job: Job, exc: ApiError, note: str = "") -> Job:
        return await self.store.transition(
            job.id,
            JobState.REJECTED,
            expect=JobState.SUBMITTING,
            detail=exc.code,
            error_code=exc.code,
            error_message=f"{exc.message} ({note})" if note else exc.message,
            request_id=exc.request_id,
            finished_at=self.clock(),
        )

    async def accepted(self, job: Job, wire: WireRequest, result: TaskResult) -> Job:
        """The service took the request: commit the task id (async) or the results (sync)."""
        now = self.clock()
        row = lookup(wire.model, wire.mode)
        if not wire.is_async:
            return await self.store.transition(
                job.id,
                JobState.SUCCEEDED,
                expect=JobState.SUBMITTING,
                detail="sync result",
                request_id=result.request_id,
                results_json=json.dumps(results_to_json(result)),
                usage_json=json.dumps(result.usage),
                image_count=result.image_count,
                video_seconds=result.video_seconds,
                results_expire_at=now + 24 * 3600,
                next_check_at=now,
            )
        state = JobState.RUNNING if result.status is TaskStatus.RUNNING else JobState.PENDING
        return await self.store.transition(
            job.id,
            state,
            expect=JobState.SUBMITTING,
            detail=f"task {result.task_id}",
            task_id=result.task_id,
            request_id=result.request_id,
            next_check_at=self.policy.first_check(now, row.typical_seconds),
        )

    async def _upload(self, job: Job, wire: WireRequest) -> WireRequest | None:
        await self.store.transition(
            job.id, JobState.UPLOADING, expect=JobState.QUEUED, detail=f"uploading {len(wire.local_files)} file(s)"
        )
        try:
            return await self.client.upload_local_files(wire)
        except (UploadError, TransportError, ServerError, RateLimited) as exc:
            await self._requeue(job, f"upload failed: {exc}", from_state=JobState.UPLOADING)
        except AuthError as exc:
            self.on_pause(key_rejected(exc, self.clock()))
            await self._requeue(job, exc.code, delay=0, count=False, from_state=JobState.UPLOADING)
        except ApiError as exc:
            await self.store.transition(
                job.id,
                JobState.REJECTED,
                expect=JobState.UPLOADING,
                detail="upload refused",
                error_code=exc.code,
                error_message=f"upload refused: {exc.message}",
                finished_at=self.clock(),
            )
        return None

    async def _requeue(
        self,
        job: Job,
        why: str,
        delay: float | None = None,
        count: bool = True,
        from_state: JobState = JobState.SUBMITTING,
    ) -> Job:
        attempts = job.attempts
        if count and attempts >= MAX_TRANSIENT_ATTEMPTS:
            return await self.store.transition(
                job.id,
                JobState.NEEDS_USER,
                expect=from_state,
                detail=f"gave up after {attempts} attempts",
                error_code="NotSent",
                error_message=f"could not be submitted after {attempts} attempts (last: {why}); "
                "nothing was billed — retry it when the service is reachable",
            )
        wait = delay if delay is not None else self.policy.retry_delay(attempts)
        return await self.store.transition(
            job.id, JobState.QUEUED, expect=from_state, detail=why, next_check_at=self.clock() + wait
        )

    async def _uncertain(self, job: Job, wire: WireRequest, why: str) -> Job:
        if not wire.is_async:
            return await self.store.transition(
                job.id, JobState.NEEDS_USER, expect=JobState.SUBMITTING, **sync_call_lost(why)
            )
        return await self.store.transition(
            job.id, JobState.UNCERTAIN, expect=JobState.SUBMITTING, detail=why, next_check_at=self.clock()
        )


def output_dir_for(job: Job, default: Path) -> Path:
    return Path(job.output_dir) if job.output_dir else default


def is_video_job(job: Job) -> bool:
    return Mode(job.mode).is_video
