"""The follow schedule: a sweep that lists many windows comes less often (each window is one request), a sweep of
one window keeps the base interval, and the tracker counts the windows of a whole sweep, not of one round."""

from __future__ import annotations

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from qwentui.core.tracker import Tracker
from qwentui.sim.clock import DEFAULT_START, FakeClock
from tests.helpers import SimHarness, fast_sim_config

TYPICAL = (60.0, 300.0)  # a video: looked at every interval from 36 s to 450 s after its send


def test_the_interval_grows_with_the_windows_a_sweep_lists_up_to_its_cap() -> None:
    policy = SchedulePolicy(interval=2.0, sweep_stretch=0.04, max_sweep_stretch=1.3)
    assert policy.sweep_interval(0) == policy.sweep_interval(1) == 2.0  # one list answers for everything
    intervals = [policy.sweep_interval(w) for w in (1, 2, 4, 8, 14, 40, 400)]
    assert intervals == sorted(intervals) and intervals[1] > intervals[0]
    assert intervals[-1] == 2.0 * 1.3  # the cap keeps the lag near the interval
    # inside the typical time the next look is the sweep's interval; late, the stretch starts from it
    assert policy.next_check(100.0, 0.0, TYPICAL, interval=2.6) == 102.6
    assert policy.next_check(100.0, 0.0, TYPICAL) == 102.0
    assert policy.next_check(1000.0, 0.0, TYPICAL, interval=2.6) > policy.next_check(1000.0, 0.0, TYPICAL)
    assert policy.next_check(1e6, 0.0, TYPICAL, interval=2.6) == 1e6 + policy.max_interval


async def test_the_tracker_counts_every_window_listed_within_one_sweep_interval(store: Store) -> None:
    now = [1000.0]
    policy = SchedulePolicy(interval=2.0, sweep_stretch=0.04, max_sweep_stretch=1.3)
    client = SimHarness(fast_sim_config()).client()
    try:
        tracker = Tracker(store, client, policy, lambda: now[0])
        job = await store.add_job(GenerationRequest(mode=Mode.T2V, prompt="a boat").to_dict(), submitted_at=1.0)
        now[0] = 100.0
        assert tracker._next_check(now[0], job) == 102.0  # nothing listed yet: the base interval
        # rounds list a few windows each, as due looks drift apart: 3 + 4 + 5 windows within 2 s are one sweep
        for listed in (3, 4, 5):
            tracker._count_sweep(listed)
            now[0] += 0.5
        assert tracker.sweep_windows == 12
        expected = policy.sweep_interval(12)
        assert expected > 2.0
        assert tracker._next_check(now[0], job) == now[0] + expected
        now[0] += 10.0  # rounds older than a sweep interval no longer count
        tracker._count_sweep(1)
        assert tracker.sweep_windows == 1
        assert tracker._next_check(now[0], job) == now[0] + 2.0
    finally:
        await client.aclose()


async def test_a_first_look_joins_its_models_next_sweep_once(store: Store) -> None:
    now = [1000.0]
    policy = SchedulePolicy(interval=2.0)
    client = SimHarness(fast_sim_config()).client()
    try:
        tracker = Tracker(store, client, policy, lambda: now[0])
        video = GenerationRequest(mode=Mode.T2V, prompt="a boat").to_dict()
        image = GenerationRequest(mode=Mode.T2I, prompt="a fox").to_dict()
        fresh = await store.add_job(video, submitted_at=990.0, next_check_at=999.0)
        other = await store.add_job(image, submitted_at=990.0, next_check_at=999.0)
        tracker._model_listed[fresh.model] = 999.5  # its model's windows were listed half a second ago
        ready = await tracker._join_next_sweep([fresh, other], now[0])
        assert [job.id for job in ready] == [other.id]  # no list of that model lately: looked at now
        moved = await store.get_job(fresh.id)
        assert moved is not None and moved.next_check_at == 999.5 + 2.0  # with the model's next sweep
        now[0] = 1001.6
        tracker._model_listed[fresh.model] = 1001.5  # that sweep came a moment before it: it does not wait again
        assert [job.id for job in await tracker._join_next_sweep([moved], now[0])] == [fresh.id]
        assert tracker.stats.joined_next_sweep == 1
        # the wall clock went back 2 h: a list "in the future" does not park a new task until the clock gets there
        late = await store.add_job(video, submitted_at=990.0, next_check_at=999.0)
        tracker._model_listed[late.model] = now[0] + 7200
        assert [job.id for job in await tracker._join_next_sweep([late], now[0])] == [late.id]
    finally:
        await client.aclose()


async def _tasks_in_flight(
    harness: SimHarness, client: DashScopeClient, store: Store, clock: FakeClock, request: GenerationRequest, n: int
) -> list[Job]:
    """`n` tasks sent 0.05 s apart (20 a second, as a burst of sends makes them), each a job in flight, due now;
    every third one not known to have started yet."""
    jobs = []
    for i in range(n):
        clock.advance(0.05)
        task = await client.submit(build(request))
        jobs.append(
            await store.add_job(
                request.to_dict(),
                state=JobState.PENDING if i % 3 == 0 else JobState.RUNNING,
                task_id=task.task_id,
                submitted_at=clock.now,
                clock_offset=0.0,  # the fake service clock is the tracker's
                next_check_at=clock.now,
                poll_count=1,
            )
        )
    return jobs


async def test_a_round_lists_every_second_once_and_fills_its_pages(store: Store) -> None:
    """150 tasks of one model sent in 7.5 s: once their creation times are known, a sweep is two lists of one
    page each (the old windows of 80 due looks, widened by 3 s on both sides, overlapped: 4 pages); every task
    is answered by a list, its next look is with its window's, within the sweep interval; a look due soon
    outside every window listed (another model's task, sent later) is not taken early; the tasks the list shows
    started stay in step with the others."""
    clock = FakeClock(DEFAULT_START + 0.025)  # no send lands on a whole second
    harness = SimHarness(fast_sim_config(clock=clock, pending_seconds=0.0, running_seconds=10_000.0))
    client = harness.client()
    policy = SchedulePolicy(interval=2.0)
    try:
        tracker = Tracker(store, client, policy, lambda: clock.advance(0.001))  # each read takes a ms
        jobs = await _tasks_in_flight(harness, client, store, clock, GenerationRequest(mode=Mode.T2V, prompt="x"), 150)
        clock.advance(100.0)
        (image,) = await _tasks_in_flight(
            harness, client, store, clock, GenerationRequest(mode=Mode.T2I, prompt="y"), 1
        )
        image_due = clock.now + 1.0  # due within half an interval, not now
        await store.set_next_checks([(image.id, image_due)])
        await store.set_next_checks([(job.id, clock.now) for job in jobs])
        assert await tracker.round() == 150  # the first sweep, from estimated creation times
        first = tracker.stats.list_requests
        assert tracker.stats.answered_by_list == 150 and tracker.stats.task_requests == 0
        started = [await store.get_job(job.id) for job in jobs]
        assert all(job is not None and job.state is JobState.RUNNING for job in started)
        assert len({job.next_check_at for job in started if job is not None}) == 1  # those that started too
        looked = await store.get_job(image.id)
        assert looked is not None and looked.poll_count == 1 and looked.next_check_at == image_due

        await store.set_next_checks([(image.id, clock.now + 1000.0)])  # out of the way of the next sweep
        clock.advance(policy.sweep_interval(tracker.sweep_windows))
        before = clock.now
        assert await tracker.round() == 150  # the windows of one round came due together
        assert tracker.stats.list_requests - first == 2  # 100 + 50 tasks: each second listed once
        assert tracker.stats.answered_by_list == 300 and tracker.stats.task_requests == 0
        assert tracker.stats.rounds == 2
        after = [await store.get_job(job.id) for job in jobs]
        nexts = {job.next_check_at or 0.0 for job in after if job is not None}
        assert len(nexts) == 1  # in step: from the round's start, not from each list's moment
        assert before + policy.interval < nexts.pop() <= before + 0.01 + policy.interval * policy.max_sweep_stretch
    finally:
        await client.aclose()


async def test_a_look_due_soon_is_taken_only_inside_a_window_listed(store: Store) -> None:
    """A task due in a second whose creation is inside a window the round lists comes in that list (as its due
    neighbours do); the round's count says which looks it took."""
    clock = FakeClock(DEFAULT_START + 0.025)
    harness = SimHarness(fast_sim_config(clock=clock, pending_seconds=10_000.0, running_seconds=10_000.0))
    client = harness.client()
    try:
        tracker = Tracker(store, client, SchedulePolicy(interval=2.0), clock)
        jobs = await _tasks_in_flight(harness, client, store, clock, GenerationRequest(mode=Mode.T2V, prompt="x"), 3)
        clock.advance(100.0)  # past the first looks' time (the next look is then the interval's)
        await store.set_next_checks([(jobs[0].id, clock.now), (jobs[2].id, clock.now), (jobs[1].id, clock.now + 1.0)])
        assert await tracker.round() == 3  # the middle one rides along: its window is listed anyway
        assert tracker.stats.list_requests == 1 and tracker.stats.answered_by_list == 3
        checked = [await store.get_job(job.id) for job in jobs]
        assert {job.next_check_at for job in checked if job is not None} == {clock.now + 2.0}
    finally:
        await client.aclose()
