"""The follow schedule: a sweep that lists many windows comes less often (each window is one request), a sweep of
one window keeps the base interval, and the tracker counts the windows of a whole sweep, not of one round."""

from __future__ import annotations

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.core.tracker import Tracker
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


async def test_a_round_takes_the_looks_due_within_half_an_interval(store: Store) -> None:
    """So a sweep lists whole windows and their tasks stay in step; nothing due yet: no round at all."""
    now = [1000.0]
    client = SimHarness(fast_sim_config()).client()
    try:
        tracker = Tracker(store, client, SchedulePolicy(interval=2.0), lambda: now[0])
        video = GenerationRequest(mode=Mode.T2V, prompt="a boat").to_dict()
        soon = [
            await store.add_job(video, state=JobState.RUNNING, task_id=f"t{i}", submitted_at=900.0, next_check_at=at)
            for i, at in enumerate((1000.5, 1000.9))
        ]
        assert await tracker.round() == 0  # due within the lookahead, but none due now
        late = await store.add_job(
            video, state=JobState.RUNNING, task_id="t9", submitted_at=900.0, next_check_at=1001.5
        )
        await store.add_job(video, state=JobState.RUNNING, task_id="t2", submitted_at=900.0, next_check_at=999.0)
        assert await tracker.round() == 3  # the one due now and the two within a second; not the one 1.5 s out
        for job in soon:
            checked = await store.get_job(job.id)
            assert checked is not None and checked.next_check_at is not None and checked.next_check_at > 1001.5
        still = await store.get_job(late.id)
        assert still is not None and still.next_check_at == 1001.5
    finally:
        await client.aclose()
