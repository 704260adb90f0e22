"""Reconciliation by content, against the real simulator: submissions whose answers were lost are settled by
what their finished tasks echo (`orig_prompt`), not only by when the tasks were created."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.errors import ServerError, TransportError
from qwentui.core.reconcile import Reconciler
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from tests.helpers import poll_until
from tests.helpers.sim import SimHarness, fast_sim_config


@dataclass
class Lost:
    """Jobs whose POSTs reached the simulator but whose answers were lost (HTTP 500 after the work was done)."""

    harness: SimHarness
    ids: list[int]

    def task_of(self, prompt: str) -> list[str]:
        return [t.task_id for t in self.harness.sim.find_tasks(prompt=prompt)]

    def finish_all(self) -> None:
        for task in self.harness.sim.tasks():
            task.pending_s = task.running_s = 0.0


async def lose_answers(
    store: Store, harness: SimHarness, requests: list[GenerationRequest], dropped: frozenset[int] = frozenset()
) -> Lost:
    """Send each request as the submitter would (one at a time), lose every answer, and leave each job
    UNCERTAIN with its send time, as a crash or a 5xx would. The POSTs at the indexes in `dropped` are cut
    before the simulator did anything (to the client, as ambiguous as an answer lost after the work)."""
    ids = []
    async with harness.client() as client:
        for i, req in enumerate(requests):
            job = await store.add_job(req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt)
            wire = build(req)
            await store.transition(
                job.id, JobState.SUBMITTING, submitted_at=time.time(), wire_json=json.dumps(wire.body)
            )
            harness.sim.config.drop_before_rate = 1.0 if i in dropped else 0.0
            harness.sim.config.error_after_rate = 0.0 if i in dropped else 1.0
            with pytest.raises(TransportError if i in dropped else ServerError):
                await client.submit(wire)
            await store.transition(job.id, JobState.UNCERTAIN, detail="lost", next_check_at=time.time())
            ids.append(job.id)
    harness.sim.config.error_after_rate = harness.sim.config.drop_before_rate = 0.0
    return Lost(harness, ids)


async def reconcile_until(store: Store, harness: SimHarness, ids: list[int], settled: set[JobState]) -> list[Job]:
    """Run reconcile rounds until every job is in one of `settled`; returns the jobs."""
    async with harness.client() as client:
        reconciler = Reconciler(store, client, SchedulePolicy(interval=0.01), time.time, settle=0.0)

        async def done() -> bool:
            await reconciler.round()
            jobs = [await store.get_job(i) for i in ids]
            return all(j is not None and j.state in settled for j in jobs)

        await poll_until(done, timeout=30, what=f"jobs {ids} to reach {settled}", interval=0.02)
    jobs = [await store.get_job(i) for i in ids]
    assert all(j is not None for j in jobs)
    return [j for j in jobs if j is not None]


FOLLOWED = {JobState.PENDING, JobState.RUNNING}


async def test_different_prompts_are_told_apart_by_what_their_tasks_echo(store: Store) -> None:
    """Two POSTs sent within a second, both answers lost: each window holds both tasks. Before: both jobs went
    to NEEDS_USER ("ambiguous"). Their finished tasks echo their prompts, which settles whose task is whose."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.05, running_seconds=0.05))
    a = GenerationRequest(mode=Mode.T2V, prompt="a paper boat on a rainy street")
    b = GenerationRequest(mode=Mode.T2V, prompt="a lighthouse at dusk")
    lost = await lose_answers(store, harness, [a, b])
    jobs = await reconcile_until(store, harness, lost.ids, FOLLOWED | {JobState.NEEDS_USER})
    assert [j.state in FOLLOWED for j in jobs] == [True, True], [(j.state, j.error_message) for j in jobs]
    assert [j.task_id for j in jobs] == [lost.task_of(a.prompt)[0], lost.task_of(b.prompt)[0]]
    assert len(harness.sim.submissions) == 2, "nothing was sent again"


async def test_identical_requests_are_interchangeable(store: Store) -> None:
    """Two jobs asking for exactly the same thing: either may follow either task, each follows a different one."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.05, running_seconds=0.05))
    same = GenerationRequest(mode=Mode.T2I, model="qwen-image-plus", prompt="a red fox in snow", seed=3)
    lost = await lose_answers(store, harness, [same, same])
    jobs = await reconcile_until(store, harness, lost.ids, FOLLOWED | {JobState.NEEDS_USER})
    assert all(j.state in FOLLOWED for j in jobs), [(j.state, j.error_message) for j in jobs]
    assert sorted(j.task_id or "" for j in jobs) == sorted(lost.task_of(same.prompt))
    assert len({j.task_id for j in jobs}) == 2


async def test_a_candidate_still_running_waits_for_its_answer(store: Store) -> None:
    """While the candidates run, nothing is adopted and nobody is asked; once they finish, each job takes its own."""
    harness = SimHarness(fast_sim_config(pending_seconds=600, running_seconds=600))
    a = GenerationRequest(mode=Mode.T2V, prompt="first: a kite over dunes")
    b = GenerationRequest(mode=Mode.T2V, prompt="second: a kite over the sea")
    lost = await lose_answers(store, harness, [a, b])
    async with harness.client() as client:
        reconciler = Reconciler(store, client, SchedulePolicy(interval=0.0), time.time, settle=0.0)
        for _ in range(5):
            outcome = await reconciler.round()
            assert outcome.adopted == outcome.needs_user == outcome.requeued == 0
            assert outcome.waiting == 2
    waiting = [await store.get_job(i) for i in lost.ids]
    assert [j.state if j else None for j in waiting] == [JobState.UNCERTAIN, JobState.UNCERTAIN]
    lost.finish_all()
    jobs = await reconcile_until(store, harness, lost.ids, FOLLOWED | {JobState.NEEDS_USER})
    assert [j.task_id for j in jobs] == [lost.task_of(a.prompt)[0], lost.task_of(b.prompt)[0]]


async def test_a_task_that_echoes_another_prompt_is_never_adopted(store: Store) -> None:
    """Job B's POST never arrived (an HTTP 503 before any work). The one unowned task in its window was made by
    another tool of the account with another prompt. Before: B followed that task as its own. Now its answer
    rules it out, and B, proved absent, is sent again."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.02, running_seconds=0.02))
    stranger = GenerationRequest(mode=Mode.T2V, prompt="someone else's request")
    mine = GenerationRequest(mode=Mode.T2V, prompt="job b: never arrived")
    async with harness.client() as client:
        await client.submit(build(stranger))  # another tool on the same account
        job = await store.add_job(mine.to_dict(), mode=mine.mode.value, model=mine.model_name, prompt=mine.prompt)
        await store.transition(
            job.id, JobState.SUBMITTING, submitted_at=time.time(), wire_json=json.dumps(build(mine).body)
        )
        harness.sim.config.storm_rate, harness.sim.config.storm_statuses = 1.0, (503,)
        with pytest.raises(ServerError):
            await client.submit(build(mine))
        harness.sim.config.storm_rate = 0.0
    await store.transition(job.id, JobState.UNCERTAIN, detail="HTTP 503", next_check_at=time.time())
    (after,) = await reconcile_until(store, harness, [job.id], FOLLOWED | {JobState.QUEUED, JobState.NEEDS_USER})
    assert after.state is JobState.QUEUED and after.task_id is None, (after.state, after.task_id)


async def test_order_decides_as_many_tasks_as_jobs_and_what_it_cannot_goes_to_the_user(store: Store) -> None:
    """Every task fails (a failed task echoes no prompt) and every answer is lost, the jobs sent within the
    clock tolerance. Two t2v jobs, two tasks: before, neither content nor time decided and both asked the user;
    now the first sent owns the first made (POSTs of a model go one at a time), each follows its own task. Two
    r2v jobs, one task (the second POST was cut before any work): one of them made nothing and order cannot
    say which, so each asks the user and says exactly that."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.02, running_seconds=0.02, failure_rate=1.0))
    a = GenerationRequest(mode=Mode.T2V, prompt="one: a fox")
    b = GenerationRequest(mode=Mode.T2V, prompt="two: a hare")
    ref = ["https://example.com/ref.png"]
    c = GenerationRequest(mode=Mode.R2V, prompt="three: a lynx", images=ref)
    d = GenerationRequest(mode=Mode.R2V, prompt="four: nothing made", images=ref)
    lost = await lose_answers(store, harness, [a, b, c, d], dropped=frozenset({3}))
    jobs = await reconcile_until(store, harness, lost.ids, FOLLOWED | {JobState.NEEDS_USER})
    assert [j.state for j in jobs[:2]] == [JobState.RUNNING, JobState.RUNNING], [j.error_message for j in jobs]
    assert [j.task_id for j in jobs[:2]] == [*lost.task_of(a.prompt), *lost.task_of(b.prompt)]
    third, fourth = jobs[2:]
    assert [third.state, fourth.state] == [JobState.NEEDS_USER, JobState.NEEDS_USER]
    (made,) = lost.task_of(c.prompt)
    assert not lost.task_of(d.prompt)
    for job, rival in ((third, fourth), (fourth, third)):
        message = job.error_message or ""
        assert f"task {made} failed, and a failed task does not echo its prompt" in message, message
        assert f"job {rival.id} was sent in the same seconds and could own it too" in message
        assert "Adopt the right task id, or resubmit" in message
    # the cut POST never reached the route (the simulator records what did): nothing was sent again on a guess
    assert len(harness.sim.submissions) == 3


async def test_a_post_cut_short_by_a_restart_cannot_own_a_task_made_after_it(tmp_path: Path, store: Store) -> None:
    """Job A was killed mid-POST; the restart found it UNCERTAIN twenty seconds before job B was sent. B's answer
    was lost and its task failed (it echoes no prompt). Before: A's window ran to B's send, both jobs claimed
    the task and both asked the user. A's POST was over by the restart, so the task is B's, and A, with no task
    in its window, never arrived: it is sent again."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.02, running_seconds=0.02, failure_rate=1.0))
    first = GenerationRequest(mode=Mode.R2V, prompt="a: killed mid-POST", images=["https://example.com/ref.png"])
    second = GenerationRequest(mode=Mode.R2V, prompt="b: answer lost", images=["https://example.com/ref.png"])
    earlier = await Store.open(tmp_path / "jobs.db", clock=lambda: time.time() - 20)  # A's rows, 20 s ago
    try:
        a = await earlier.add_job(first.to_dict(), mode=first.mode.value, model=first.model_name, prompt=first.prompt)
        await earlier.transition(
            a.id, JobState.SUBMITTING, submitted_at=time.time() - 25, wire_json=json.dumps(build(first).body)
        )
        await earlier.transition(a.id, JobState.UNCERTAIN, detail="qwentui restarted: the POST may have been sent")
    finally:
        await earlier.close()
    lost = await lose_answers(store, harness, [second])
    ids = [a.id, *lost.ids]
    jobs = await reconcile_until(store, harness, ids, FOLLOWED | {JobState.QUEUED, JobState.NEEDS_USER})
    assert [j.state for j in jobs] == [JobState.QUEUED, JobState.RUNNING], [(j.state, j.error_message) for j in jobs]
    assert jobs[1].task_id == lost.task_of(second.prompt)[0] and jobs[0].task_id is None


async def test_a_twin_waiting_for_the_user_does_not_take_the_task_of_an_uncertain_one(store: Store) -> None:
    """Two jobs with identical requests sent within a second: X already waits for the user, Y is uncertain and
    its lost answer's task echoes the shared prompt. Before: X, sent first, took the task on paper; Y, left with
    nothing, was proved absent and sent again next to the task made for it. Now Y, which is acted on, takes it."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.02, running_seconds=0.02))
    same = GenerationRequest(mode=Mode.T2V, prompt="twins: a heron in reeds", seed=11)
    x = await store.add_job(same.to_dict(), mode=same.mode.value, model=same.model_name, prompt=same.prompt)
    await store.transition(
        x.id, JobState.SUBMITTING, submitted_at=time.time() - 0.3, wire_json=json.dumps(build(same).body)
    )
    await store.transition(x.id, JobState.UNCERTAIN, detail="HTTP 500")
    await store.transition(x.id, JobState.NEEDS_USER, detail="asked earlier", error_message="asked earlier")
    lost = await lose_answers(store, harness, [same])
    (y,) = await reconcile_until(store, harness, lost.ids, FOLLOWED | {JobState.QUEUED, JobState.NEEDS_USER})
    assert y.state in FOLLOWED and y.task_id == lost.task_of(same.prompt)[0], (y.state, y.error_message)


async def test_a_post_sent_after_a_task_was_made_cannot_own_it_when_the_clock_is_known(store: Store) -> None:
    """A wan2.6-image edit and an interleave job sent 0.3 s apart: the edit's answer was lost after its task was
    made, the interleave's POST was cut before any work. The task (the messages route) echoes no prompt. Before:
    both windows, widened by a fixed second of clock tolerance, held that task, and both jobs asked the user.
    The service's clock was known to within 20 ms at each send (stored with the job), so the task was made
    before the interleave's POST could have arrived: it is the edit's, and the interleave, absent, is sent again.
    A job sent before that was measured keeps the wide window and is never adopted or sent again on a guess."""
    harness = SimHarness(fast_sim_config(pending_seconds=0.02, running_seconds=0.02))
    edit = GenerationRequest(mode=Mode.EDIT, prompt="edit: make the sky green", images=["https://example.com/a.png"])
    mixed = GenerationRequest(mode=Mode.INTERLEAVE, prompt="interleave: a recipe with pictures")
    ids: list[int] = []
    async with harness.client() as client:
        for req, fault in ((edit, "error_after_rate"), (mixed, "drop_before_rate")):
            if ids:
                await asyncio.sleep(0.3)  # the scenario: the second POST goes 0.3 s after the first ended
            job = await store.add_job(req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt)
            wire = build(req)
            # the simulator runs on this machine's clock: the offset is 0, and an engine that had a few answers
            # knows it to within tens of milliseconds (test_serverclock measures that)
            await store.transition(
                job.id,
                JobState.SUBMITTING,
                submitted_at=time.time(),
                wire_json=json.dumps(wire.body),
                clock_offset=0.0,
                clock_uncertainty=0.02,
            )
            setattr(harness.sim.config, fault, 1.0)
            with pytest.raises((ServerError, TransportError)):
                await client.submit(wire)
            setattr(harness.sim.config, fault, 0.0)
            await store.transition(job.id, JobState.UNCERTAIN, detail="lost", next_check_at=time.time())
            ids.append(job.id)
    (made,) = harness.sim.tasks()
    jobs = await reconcile_until(store, harness, ids, FOLLOWED | {JobState.QUEUED, JobState.NEEDS_USER})
    assert [j.state for j in jobs] == [JobState.RUNNING, JobState.QUEUED], [(j.state, j.error_message) for j in jobs]
    assert jobs[0].task_id == made.task_id and jobs[1].task_id is None
    assert len(harness.sim.submissions) == 1, "nothing was sent again yet"
