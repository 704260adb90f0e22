"""How a POST's end decides a job: what provably was not processed goes back to the queue, what the service
says failed ends with its reason, and only what is truly ambiguous is reconciled or, for a sync call (no task
to look for), left to the user. Against the real simulator, and a mock transport for what it cannot send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.limiter import RateLimiter
from qwentui.core.requests import GenerationRequest
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.core.submitter import Submitter
from tests.helpers import poll_until
from tests.helpers.sim import SIM_BASE, TEST_KEY, SimHarness, fast_sim_config

SYNC = GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="a sync call")  # sync-only model
ASYNC = GenerationRequest(mode=Mode.T2V, prompt="an async task")


def simulated(**knobs: object) -> Callable[[], DashScopeClient]:
    """A client of an in-process simulator whose every POST meets the fault the knobs set."""
    harness = SimHarness(fast_sim_config(running_seconds=0.0, **knobs))
    return harness.client


def answering(
    answer: Callable[[httpx.Request], httpx.Response] | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]],
) -> Callable[[], DashScopeClient]:
    """A client whose every request gets `answer` (what a proxy or the network does, which the simulator,
    modelling the service itself, does not)."""
    transport = httpx.MockTransport(answer)
    return lambda: DashScopeClient(ApiKey(TEST_KEY, "test"), SIM_BASE, transport=transport, limiter=RateLimiter())


def write_timed_out(request: httpx.Request) -> httpx.Response:
    raise httpx.WriteTimeout("timed out writing the body", request=request)


def gateway(status: int) -> Callable[[httpx.Request], httpx.Response]:
    page = f"<html><body><h1>{status}</h1>nginx</body></html>"
    return lambda request: httpx.Response(status, text=page, headers={"content-type": "text/html"})


async def submit_once(store: Store, request: GenerationRequest, client: DashScopeClient) -> tuple[JobState, str]:
    job = await store.add_job(request.to_dict(), mode=request.mode.value, model=request.model_name)
    async with client:
        submitter = Submitter(store, client, SchedulePolicy(), lambda: 1000.0, lambda pause: None)
        after = await submitter.submit(job)
    events = await store.events(job.id)
    return after.state, f"{after.error_message or ''} | {events[-1].detail}"


async def test_each_way_a_post_can_end_decides_what_it_proves(store: Store) -> None:
    """Before: every 5xx and every transport error after connecting left a sync call to the user and an async
    one to reconciliation. Now a 503 in the service's envelope and a request not written whole go back to the
    queue (nothing was processed), InternalError.Algo is the service saying the generation failed (rejected
    with its reason: only output is billed), and the truly ambiguous ends are unchanged."""
    storm_503 = simulated(storm_rate=1.0, storm_statuses=(503,), storm_retry_after=1)
    cases: list[tuple[str, GenerationRequest, Callable[[], DashScopeClient], JobState]] = [
        ("503 envelope, sync", SYNC, storm_503, JobState.QUEUED),
        ("503 envelope, async", ASYNC, storm_503, JobState.QUEUED),
        ("write timed out, sync", SYNC, answering(write_timed_out), JobState.QUEUED),
        (
            "InternalError.Algo, sync",
            SYNC,
            simulated(failure_rate=1.0, failure_code="InternalError.Algo"),
            JobState.REJECTED,
        ),
        # ambiguous: the work may have been done (500 after the task was made), or a gateway answered
        ("500 after the work, sync", SYNC, simulated(error_after_rate=1.0), JobState.NEEDS_USER),
        ("500 after the work, async", ASYNC, simulated(error_after_rate=1.0), JobState.UNCERTAIN),
        ("500 storm, sync", SYNC, simulated(storm_rate=1.0, storm_statuses=(500,)), JobState.NEEDS_USER),
        ("gateway 503 page, sync", SYNC, answering(gateway(503)), JobState.NEEDS_USER),
        ("gateway 504 page, sync", SYNC, answering(gateway(504)), JobState.NEEDS_USER),
        ("gateway 502 page, async", ASYNC, answering(gateway(502)), JobState.UNCERTAIN),
        ("dropped after sending, sync", SYNC, simulated(drop_before_rate=1.0), JobState.NEEDS_USER),
    ]
    seen = {name: await submit_once(store, request, client()) for name, request, client, _ in cases}
    wrong = {name: seen[name] for name, _, _, want in cases if seen[name][0] is not want}
    assert not wrong, wrong
    assert "refused: ServiceUnavailable" in seen["503 envelope, sync"][1]
    assert "not sent" in seen["write timed out, sync"][1]
    assert "the generation failed; nothing was billed" in seen["InternalError.Algo, sync"][1]
    assert "may have produced (and billed) a result" in seen["gateway 503 page, sync"][1]


class HeldCalls:
    """A service that holds every call until released, counting the calls it holds."""

    def __init__(self) -> None:
        self.arrived = 0
        self.release = asyncio.Semaphore(0)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.arrived += 1
        await self.release.acquire()
        image = {"image": "https://example.com/out.png"}
        body = {"request_id": "r", "output": {"choices": [{"message": {"content": [image]}}]}, "usage": {}}
        return httpx.Response(200, json=body)


async def test_sync_calls_of_a_model_go_two_at_a_time(store: Store) -> None:
    """A sync call has no task to reconcile, so it does not wait behind the model's one-POST-at-a-time lock of
    async routes: two are in flight at once (a backlog of sync jobs clears twice as fast), never more (a crash
    catches two at most). Before: one at a time, the second sent only once the first had answered."""
    service = HeldCalls()
    requests = [GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt=f"sync {i}") for i in range(3)]
    jobs = [await store.add_job(r.to_dict(), mode=r.mode.value, model=r.model_name) for r in requests]
    async with answering(service)() as client:
        submitter = Submitter(store, client, SchedulePolicy(), lambda: 1000.0, lambda pause: None)
        sending = asyncio.gather(*(submitter.submit(job) for job in jobs))
        await poll_until(lambda: service.arrived == 2, timeout=10, what="two sync calls in flight at once")
        for _ in range(100):  # the third is held at the limit, whatever the timing: it cannot arrive before a release
            await asyncio.sleep(0)
        assert service.arrived == 2
        service.release.release()
        await poll_until(lambda: service.arrived == 3, timeout=10, what="the third call, once a slot is free")
        service.release.release()
        service.release.release()
        ended = await sending
    assert [job.state for job in ended] == [JobState.SUCCEEDED] * 3
