"""The change feed: every job change arrives, whoever made it (each engine loop, a user action, another process
on the same database file), nothing is read or delivered while nothing changes, and a slow subscriber
coalesces instead of piling up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.engine import Engine
from qwentui.core.feed import ChangeFeed, Subscription
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from tests.helpers import SimHarness, engine_config, fast_sim_config, poll_until, running_engine

T2I = GenerationRequest(mode=Mode.T2I, prompt="a lighthouse at dusk")
NEVER = 3600.0  # a poll interval no test reaches: only the store's commit hook can wake the feed


async def next_state(changes: Subscription, job_id: int, timeout: float = 10.0) -> JobState:
    """The state of the job in the next batch that holds it."""
    while True:
        batch = await changes.get(timeout=timeout)
        assert batch, f"no change of job {job_id} arrived within {timeout} s"
        for job in batch:
            if job.id == job_id:
                return job.state


async def until_state(changes: Subscription, job_id: int, wanted: JobState, timeout: float = 20.0) -> Job:
    """Batches until the job arrives in `wanted` (states on the way may be coalesced away)."""
    while True:
        batch = await changes.get(timeout=timeout)
        assert batch, f"job {job_id} never arrived as {wanted.value}"
        for job in batch:
            if job.id == job_id and job.state is wanted:
                return job


@pytest.fixture
async def idle_engine(tmp_path: Path, store: Store, sim: SimHarness) -> AsyncIterator[Engine]:
    """An engine whose loops do not run (each test drives one part by hand), with its feed woken only by the
    store's commit hook."""
    client, http = sim.client(), sim.download_client()
    eng = Engine(store, client, engine_config(tmp_path), download_http=http)
    eng.feed.poll = NEVER
    await eng.feed.start()
    try:
        yield eng
    finally:
        await eng.feed.stop()
        await http.aclose()
        await client.aclose()


async def test_each_loop_and_each_user_action_reaches_the_feed(idle_engine: Engine, store: Store) -> None:
    eng = idle_engine
    with eng.subscribe() as changes:
        job = await eng.add(T2I)  # user action: add
        assert await next_state(changes, job.id) is JobState.QUEUED

        await eng.submitter.submit(job)  # the submitter (SUBMITTING on the way may arrive too)
        assert await until_state(changes, job.id, JobState.PENDING)

        async def tracked() -> bool:  # the tracker, until the simulated task has finished
            await eng.tracker.round()
            current = await store.get_job(job.id)
            return current is not None and current.state is JobState.SUCCEEDED

        await poll_until(tracked, timeout=20, what="the tracker to see the task succeed")
        assert await until_state(changes, job.id, JobState.SUCCEEDED)

        succeeded = await store.get_job(job.id)
        assert succeeded is not None
        await eng.fetcher.fetch(succeeded)  # the fetcher
        assert (await until_state(changes, job.id, JobState.DONE)).state is JobState.DONE

        retry = await eng.retry(job.id)  # user action: retry (a new job)
        assert await next_state(changes, retry.id) is JobState.QUEUED
        await eng.cancel(retry.id)  # user action: cancel
        assert await next_state(changes, retry.id) is JobState.CANCELED
        await eng.delete(retry.id)  # user action: delete
        (gone,) = await changes.get(timeout=10)
        assert gone.id == retry.id and gone.deleted


async def test_the_reconciler_reaches_the_feed(idle_engine: Engine, store: Store) -> None:
    eng = idle_engine
    eng.reconciler.clock_jumped = True  # its answer is then NEEDS_USER, made by the reconciler itself
    with eng.subscribe() as changes:
        job = await store.add_job(
            T2I.to_dict(), state=JobState.UNCERTAIN, submitted_at=eng.clock() - 60, next_check_at=None
        )
        assert await next_state(changes, job.id) is JobState.UNCERTAIN

        async def reconciled() -> bool:
            await eng.reconciler.round()
            current = await store.get_job(job.id)
            return current is not None and current.state is JobState.NEEDS_USER

        await poll_until(reconciled, timeout=20, what="the reconciler to hand the job to the user")
        arrived = await until_state(changes, job.id, JobState.NEEDS_USER)
        assert arrived.error_code == "Uncertain"


async def test_a_running_engine_tells_a_failure_found_by_the_tracker(tmp_path: Path, store: Store) -> None:
    failing = SimHarness(fast_sim_config(failure_rate=1.0))
    async with running_engine(tmp_path, store, failing) as eng:
        with eng.subscribe() as changes:
            job = await eng.add(T2I)
            failed = await until_state(changes, job.id, JobState.FAILED)
    assert failed.error_code and failed.error_message
    # the tracker's transition: from RUNNING, or from PENDING when the task failed before a look saw it run
    assert (await store.events(job.id))[-1].from_state in (JobState.PENDING, JobState.RUNNING)


async def test_another_process_writing_the_same_file_reaches_the_feed(tmp_path: Path, store: Store) -> None:
    async with ChangeFeed(store, poll=0.05) as feed, await Store.open(tmp_path / "jobs.db") as other:
        with feed.subscribe() as changes:
            job = await other.add_job(T2I.to_dict(), source="cli")  # the other process's store: no hook here
            assert await next_state(changes, job.id) is JobState.QUEUED
            await other.transition(job.id, JobState.CANCELED, expect=JobState.QUEUED)
            assert await next_state(changes, job.id) is JobState.CANCELED


async def test_nothing_is_read_or_delivered_while_nothing_changes(store: Store) -> None:
    job = await store.add_job(T2I.to_dict())  # before the feed starts: not news
    async with ChangeFeed(store, poll=0.02) as feed:
        with feed.subscribe() as changes:
            looks = feed.looks
            await poll_until(lambda: feed.looks >= looks + 5, timeout=10, what="the feed to look five times")
            assert feed.reads == 0, "job rows were read although nothing changed"
            assert changes.take() == []
            await store.update_fields(job.id, priority=3)
            (changed,) = await changes.get(timeout=10)
            assert changed.id == job.id and changed.priority == 3
            assert feed.reads == 1


async def test_a_slow_subscriber_gets_one_newest_row_per_job_in_order(store: Store) -> None:
    async with ChangeFeed(store, poll=NEVER) as feed:
        with feed.subscribe() as slow, feed.subscribe() as fast:
            jobs = [await store.add_job(T2I.to_dict()) for _ in range(3)]
            for round_ in range(1, 51):
                for job in jobs:
                    await store.update_fields(job.id, priority=round_)
                assert await fast.get(timeout=10)  # the fast one keeps up
            await store.update_fields(jobs[0].id, priority=99)  # job 1 changed last
            await feed.flush()
            pending = slow.take()
    assert [j.id for j in pending] == [jobs[1].id, jobs[2].id, jobs[0].id]
    assert [j.priority for j in pending] == [50, 50, 99]


async def test_flush_delivers_everything_committed_before_it(store: Store) -> None:
    async with ChangeFeed(store, poll=NEVER) as feed:
        with feed.subscribe() as changes:
            ids = {(await store.add_job(T2I.to_dict())).id for _ in range(20)}
            await feed.flush()
            assert {j.id for j in changes.take()} == ids


async def test_starting_twice_at_once_makes_one_feed(store: Store) -> None:
    feed = ChangeFeed(store, poll=NEVER)
    await asyncio.gather(feed.start(), feed.start())  # the engine and the TUI may both start it
    try:
        with feed.subscribe() as changes:
            job = await store.add_job(T2I.to_dict())
            assert [j.id for j in await changes.get(timeout=10)] == [job.id]
            await feed.flush()
            assert feed.reads <= 2 and changes.take() == []  # one reader, not two
    finally:
        await feed.stop()
