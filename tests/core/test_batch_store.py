"""Batches and the cost ledger in the store and the engine: 1,000 jobs queued in one transaction, cancel and retry a
whole batch, each job's estimate at submit and its actual cost from the task's usage (failed: 0), spend totals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qwentui.core.engine import EngineError
from qwentui.core.pricing import Pricing, shipped_table
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from tests.helpers import SimHarness, fast_sim_config, poll_until, running_engine

PRICES = Pricing(shipped_table(), "ap-southeast-1")


def rows(n: int, **extra: object) -> list[dict[str, object]]:
    return [
        {"request": {"mode": "t2i", "model": "wan2.6-t2i", "prompt": f"fox number {i}"}, "source": "batch", **extra}
        for i in range(n)
    ]


async def test_a_thousand_jobs_are_queued_in_one_transaction(store: Store) -> None:
    commits: list[int] = []
    store.add_listener(lambda: commits.append(1))  # called once per committed write that changed jobs
    batch_id, ids = await store.add_jobs(
        rows(1000, cost_estimate=0.03, cost_unit_price=0.03, cost_currency="USD"),
        batch_name="foxes.txt",
        batch_source="/tmp/foxes.txt",
        max_cost=50,
        currency="USD",
    )
    assert commits == [1]
    assert batch_id is not None and len(ids) == 1000 and ids == list(range(ids[0], ids[0] + 1000))
    batch = await store.get_batch(batch_id)
    assert batch is not None and (batch.name, batch.max_cost, batch.currency) == ("foxes.txt", 50, "USD")
    assert await store.batch_counts(batch_id) == {JobState.QUEUED: 1000}
    job = await store.get_job(ids[500])
    assert job is not None and job.prompt == "fox number 500" and job.batch_id == batch_id
    assert (job.cost_estimate, job.cost_currency, job.cost_actual) == (0.03, "USD", None)
    assert [e.to_state for e in await store.events(ids[-1])] == [JobState.QUEUED]  # a creation event each
    assert [j.id for j in await store.list_jobs(text="500")] == [ids[500]]  # full-text indexed
    assert (await store.count_by_state())[JobState.QUEUED] == 1000
    # stamps strictly increase, so a changed_since reader with a limit never splits a tie
    stamps = [j.updated_at for j in await store.changed_since(0)]
    assert len(set(stamps)) == 1000


async def test_one_bad_job_queues_nothing(store: Store) -> None:
    bad = rows(3)
    bad[2] = {"request": {"mode": "t2i", "model": "wan2.6-t2i", "prompt": "key sk-" + "a" * 32}}
    with pytest.raises(ValueError, match="API key"):
        await store.add_jobs(bad, batch_name="bad.txt")
    assert await store.list_jobs() == [] and await store.batches() == []


async def test_cancel_waiting_jobs_of_a_batch_at_once(store: Store) -> None:
    batch_id, ids = await store.add_jobs(rows(5), batch_name="b")
    other, _ = await store.add_jobs(rows(2), batch_name="other")
    assert batch_id is not None and other is not None
    await store.transition(ids[0], JobState.SUBMITTING, expect=JobState.QUEUED)  # already on its way
    canceled = await store.cancel_waiting(batch_id)
    assert canceled == ids[1:]
    assert await store.batch_counts(batch_id) == {JobState.SUBMITTING: 1, JobState.CANCELED: 4}
    assert await store.batch_counts(other) == {JobState.QUEUED: 2}
    job = await store.get_job(ids[1])
    assert job is not None and job.cost_actual == 0 and job.finished_at is not None
    assert [e.to_state for e in await store.events(ids[1])] == [JobState.QUEUED, JobState.CANCELED]


async def test_actual_cost_is_usage_times_the_unit_price(store: Store) -> None:
    """The store records the cost wherever a usage is stored; no price known stays unknown, failure costs 0."""
    images = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i"}, cost_unit_price=0.03, cost_currency="USD")
    video = await store.add_job(
        {"mode": "t2v", "model": "wan2.7-t2v"}, cost_unit_price=0.15, cost_estimate=0.75, cost_currency="USD"
    )
    unpriced = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i"}, cost_currency="USD")
    failed = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i"}, cost_unit_price=0.03, cost_currency="USD")
    for job in (images, video, unpriced, failed):
        await store.transition(job.id, JobState.SUBMITTING)
        await store.transition(job.id, JobState.PENDING, task_id=f"t{job.id}")
    await store.transition(images.id, JobState.SUCCEEDED, usage={"image_count": 3})
    usage = {"duration": 8, "input_video_duration": 3, "output_video_duration": 5, "video_count": 1}
    await store.transition(video.id, JobState.SUCCEEDED, usage=usage)
    await store.transition(unpriced.id, JobState.SUCCEEDED, usage={"image_count": 1})
    await store.transition(failed.id, JobState.FAILED, error_code="InternalError")
    costs = {j.id: j.cost_actual for j in await store.list_jobs()}
    assert costs[images.id] == pytest.approx(0.09)
    assert costs[video.id] == pytest.approx(1.2)  # input + output seconds, as billed
    assert costs[unpriced.id] is None and costs[failed.id] == 0
    # an expiry after the usage was stored keeps the cost (the task ran and was billed)
    await store.transition(images.id, JobState.EXPIRED)
    expired = await store.get_job(images.id)
    assert expired is not None and expired.cost_actual == pytest.approx(0.09)


async def test_spend_per_model_day_and_batch(store: Store) -> None:
    batch_id, ids = await store.add_jobs(
        rows(3, cost_estimate=0.06, cost_unit_price=0.03, cost_currency="USD"), batch_name="b"
    )
    await store.add_job(
        {"mode": "t2i", "model": "qwen-image-max"}, cost_estimate=0.5, cost_unit_price=0.5, cost_currency="CNY"
    )
    await store.add_job({"mode": "t2i", "model": "wan2.6-t2i"})  # from before estimates: not in the spend
    await store.add_job({"mode": "t2i", "model": "wan9"}, cost_currency="USD")  # no price known
    for job_id in ids[:2]:
        await store.transition(job_id, JobState.SUBMITTING)
        await store.transition(job_id, JobState.PENDING, task_id=f"t{job_id}")
    await store.transition(ids[0], JobState.SUCCEEDED, usage={"image_count": 2})
    await store.transition(ids[1], JobState.FAILED)
    by_model = {(s.key, s.currency): s for s in await store.spend(by="model")}
    fox = by_model[("wan2.6-t2i", "USD")]
    assert (fox.jobs, fox.actual, fox.estimated, fox.open_estimate, fox.unpriced) == (3, 0.06, 0.18, 0.06, 0)
    assert by_model[("qwen-image-max", "CNY")].open_estimate == 0.5
    assert by_model[("wan9", "USD")].unpriced == 1
    (in_batch,) = await store.spend(by="batch")
    assert (in_batch.key, in_batch.jobs, in_batch.actual) == (str(batch_id), 3, 0.06)
    days = await store.spend(by="day")
    assert {s.currency for s in days} == {"USD", "CNY"} and sum(s.jobs for s in days) == 5


def test_the_spend_query_reads_the_cost_index(tmp_path: Path) -> None:
    """Spend totals stay cheap at a million jobs: they read the covering index, never the table."""
    from qwentui.core.migrations import migrate

    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    migrate(conn)
    plan = " ".join(
        str(r[3])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT model, cost_currency, count(*), total(cost_estimate), total(cost_actual) "
            "FROM jobs INDEXED BY jobs_cost WHERE cost_currency IS NOT NULL GROUP BY model, cost_currency"
        )
    )
    assert "COVERING INDEX jobs_cost" in plan


def request(prompt: str, **fields: object) -> GenerationRequest:
    return GenerationRequest.from_dict({"prompt": prompt, **fields})


async def test_engine_records_estimates_and_actual_costs_with_the_simulator(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config())
    async with running_engine(tmp_path, store, harness, prices=PRICES) as engine:
        single = await engine.add(request("a red fox", model="wan2.6-t2i", n=2))
        assert (single.cost_estimate, single.cost_unit_price, single.cost_currency) == (0.06, 0.03, "USD")
        batch_id, ids = await engine.add_batch(
            [
                request("it moves", model="wan2.6-i2v-flash", images=["https://example.com/a.png"], audio=False),
                request("a tide", mode="t2v", model="wan2.6-t2v", size="1920*1080", duration=5),
                request(
                    "go on",
                    model="wan2.7-i2v",
                    media=[{"type": "first_clip", "url": "https://example.com/clip.mp4"}],
                    resolution="720P",
                    duration=5,
                ),
            ],
            name="videos",
        )
        jobs = await engine.wait_for([single.id, *ids], timeout=60)
    assert all(j.state is JobState.DONE for j in jobs), [(j.id, j.state, j.error_message) for j in jobs]
    fox, flash, tide, clip = jobs
    assert fox.cost_actual == pytest.approx(2 * 0.03)
    assert flash.cost_estimate == pytest.approx(5 * 0.025) and flash.cost_actual == pytest.approx(5 * 0.025)
    assert tide.cost_actual == pytest.approx(5 * 0.15)
    clip_usage = clip.usage or {}
    assert clip.cost_actual == pytest.approx(clip_usage["duration"] * 0.10) and clip_usage["input_video_duration"] > 0
    assert {j.batch_id for j in (flash, tide, clip)} == {batch_id}


async def test_failed_tasks_cost_nothing(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config(failure_rate=1.0))
    async with running_engine(tmp_path, store, harness, prices=PRICES) as engine:
        job = await engine.add(request("doomed", model="wan2.6-t2i"))
        (job,) = await engine.wait_for([job.id], timeout=60)
    assert job.state is JobState.FAILED and job.cost_estimate == 0.03 and job.cost_actual == 0


async def test_cancel_and_retry_a_whole_batch(tmp_path: Path, store: Store) -> None:
    # tasks that stay PENDING for a long while: cancel reaches them on the service too
    harness = SimHarness(fast_sim_config(pending_seconds=60, running_seconds=60))
    async with running_engine(tmp_path, store, harness, prices=PRICES) as engine:
        batch_id, ids = await engine.add_batch([request(f"slow {i}", model="wan2.6-t2i") for i in range(4)], name="s")

        async def all_pending() -> bool:
            return await store.batch_counts(batch_id) == {JobState.PENDING: 4}

        await poll_until(all_pending, timeout=30, what="the batch's tasks pending on the service")
        canceled, refused = await engine.cancel_batch(batch_id)
        assert sorted(canceled) == ids and refused == []
        jobs = await engine.wait_for(ids, timeout=30)
        assert {j.state for j in jobs} == {JobState.CANCELED} and all(j.cost_actual == 0 for j in jobs)
        remote = [harness.sim.task(j.task_id or "") for j in jobs]
        assert all(t is not None and t.canceled_at is not None for t in remote)  # canceled on the service too
        again = await engine.retry_batch(batch_id)
        assert len(again) == 4
        retried = [await store.get_job(i) for i in again]
        assert all(j is not None and j.batch_id == batch_id and j.parent_id in ids for j in retried)
        assert all(j is not None and j.cost_estimate == 0.03 and j.source == "retry" for j in retried)
        links = [link for i in again for link in await store.parents(i)]
        assert [(link.relation, link.parent_id) for link in links] == [("retry", i) for i in ids]  # lineage
        assert (await store.batch_counts(batch_id))[JobState.CANCELED] == 4
        assert await engine.retry_batch(batch_id) == []  # nothing else has ended badly
        with pytest.raises(EngineError, match="no batch 999"):
            await engine.cancel_batch(999)
        with pytest.raises(EngineError, match="no batch 999"):
            await engine.retry_batch(999)
