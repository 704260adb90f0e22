"""Spending caps hold jobs and release them: a daily, monthly or per-batch cap that a job would cross keeps it queued
with the reason in its history, until the cap is raised (the settings file is read again) or the period turns."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from qwentui.core.budget import Budget, BudgetGuard, load_budget, next_turn
from qwentui.core.pricing import Pricing, shipped_table
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from tests.helpers import SimHarness, fast_sim_config, poll_until, running_engine

PRICES = Pricing(shipped_table(), "ap-southeast-1")
NOON = datetime(2026, 12, 15, 12, 0).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def sent_job(store: Store, at: float, estimate: float) -> Job:
    job = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i"}, cost_estimate=estimate, cost_currency="USD")
    return await store.transition(job.id, JobState.SUBMITTING, submitted_at=at)


async def queued_job(store: Store, estimate: float | None = 0.03) -> Job:
    return await store.add_job({"mode": "t2i", "model": "wan2.6-t2i"}, cost_estimate=estimate, cost_currency="USD")


def test_the_budget_table(tmp_path: Path) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("[budget]\ndaily = 5\nmonthly = 60.5\n", encoding="utf-8")
    assert load_budget(settings) == Budget(5.0, 60.5)
    settings.write_text('[budget]\ndaily = "lots"\nweekly = 3\n', encoding="utf-8")
    broken = load_budget(settings)
    assert broken.daily is None and len(broken.problems) == 2 and "daily must be an amount" in broken.problems[0]
    assert load_budget(tmp_path / "none.toml") == Budget()


async def test_daily_cap_holds_until_the_day_turns(store: Store) -> None:
    clock = Clock(NOON)
    guard = BudgetGuard(store, None, "USD", clock, Budget(daily=0.10))
    await sent_job(store, NOON - 3600, 0.06)  # sent this morning, still running: its estimate counts
    await sent_job(store, NOON - 86400, 5.0)  # yesterday's does not
    failed = await sent_job(store, NOON - 60, 0.5)
    await store.transition(failed.id, JobState.REJECTED)  # refused: cost nothing
    first, second = await queued_job(store), await queued_job(store)
    assert await guard.hold_reason(first) is None  # 0.06 + 0.03 <= 0.10
    reason = await guard.hold_reason(second)  # 0.09 + 0.03 > 0.10, though the store does not count `first` yet
    assert reason is not None and reason.startswith("held: the daily budget is 0.10 USD, 0.09 USD is spent")
    assert "raise [budget] daily" in reason
    assert guard.next_look() == NOON + guard.recheck
    clock.now = next_turn(NOON) + 1  # tomorrow
    assert await guard.hold_reason(second) is None
    assert datetime.fromtimestamp(next_turn(NOON)).hour == 0


async def test_monthly_and_batch_caps_and_unknown_prices(store: Store) -> None:
    clock = Clock(NOON)
    guard = BudgetGuard(store, None, "USD", clock, Budget(monthly=1.0))
    await sent_job(store, datetime(2026, 12, 2).timestamp(), 0.9)
    assert await guard.hold_reason(await queued_job(store, 0.2)) is not None
    assert await guard.hold_reason(await queued_job(store, None)) is None  # no price known: cannot be checked
    batch_id, ids = await store.add_jobs(
        [{"request": {"mode": "t2i", "model": "wan2.6-t2i"}, "cost_estimate": 0.03, "cost_currency": "USD"}] * 3,
        batch_name="capped",
        max_cost=0.06,
    )
    assert batch_id is not None
    guard = BudgetGuard(store, None, "USD", clock, Budget())
    jobs = [await store.get_job(i) for i in ids]
    verdicts = [await guard.hold_reason(j) for j in jobs if j is not None]
    assert verdicts[:2] == [None, None]
    assert verdicts[2] is not None and verdicts[2].startswith(f"held: batch {batch_id} may cost at most 0.06 USD")


async def test_the_engine_holds_jobs_over_the_cap_and_sends_them_when_it_is_raised(
    tmp_path: Path, store: Store
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text("[budget]\ndaily = 0.10\n", encoding="utf-8")
    harness = SimHarness(fast_sim_config())
    async with running_engine(tmp_path, store, harness, prices=PRICES, settings=settings) as engine:
        engine.budget.recheck = 0.1
        requests = [GenerationRequest.from_dict({"prompt": f"fox {i}", "model": "wan2.6-t2i"}) for i in range(5)]
        _, ids = await engine.add_batch(requests, name="five")

        async def settled() -> bool:
            counts = await store.batch_counts(_)
            return counts.get(JobState.DONE, 0) == 3 and counts.get(JobState.QUEUED, 0) == 2

        await poll_until(settled, timeout=30, what="three jobs done and two held")
        held = [j for j in [await store.get_job(i) for i in ids] if j is not None and j.state is JobState.QUEUED]
        for job in held:
            notes = [e.detail for e in await store.events(job.id) if e.detail.startswith("held:")]
            assert len(notes) == 1 and "the daily budget is 0.10 USD" in notes[0]  # said once, not every look
        assert len(harness.sim.submissions) == 3
        assert engine.status().held == 2 and set(engine.held().values()) == {"held: the daily budget is 0.10 USD"}
        time.sleep(0.01)  # a new mtime for the rewritten file on coarse clocks
        settings.write_text("[budget]\ndaily = 1.0\n", encoding="utf-8")
        jobs = await engine.wait_for(ids, timeout=30)
        assert all(j.state is JobState.DONE for j in jobs)
        assert engine.held() == {} and engine.status().held == 0
        released = [e.detail for e in await store.events(held[0].id)]
        assert "released: within the budget now" in released


async def test_a_zero_cap_sends_nothing_priced(tmp_path: Path, store: Store) -> None:
    harness = SimHarness(fast_sim_config())
    async with running_engine(tmp_path, store, harness, prices=PRICES, budget=Budget(daily=0.0)) as engine:
        engine.budget.recheck = 0.1
        job = await engine.add(GenerationRequest.from_dict({"prompt": "x", "model": "wan2.6-t2i"}))

        async def noted() -> bool:
            return any(e.detail.startswith("held:") for e in await store.events(job.id))

        await poll_until(noted, timeout=30, what="the hold noted")
        assert len(harness.sim.submissions) == 0 and (await store.get_job(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]


async def test_a_new_engine_looks_at_once_at_jobs_a_cap_held_before_it_started(tmp_path: Path, store: Store) -> None:
    """`qwentui run` after the cap was raised: the last engine planned its next look at the held job half a minute
    ahead; the new one must not wait for it."""
    settings = tmp_path / "settings.toml"
    settings.write_text("[budget]\ndaily = 1.0\n", encoding="utf-8")
    request = GenerationRequest.from_dict({"prompt": "a fox", "model": "wan2.6-t2i"})
    job = await store.add_job(request.to_dict(), cost_estimate=0.03, cost_currency="USD")
    await store.set_next_checks([(job.id, time.time() + 3600)])  # what a hold by the last engine leaves
    harness = SimHarness(fast_sim_config())
    async with running_engine(tmp_path, store, harness, prices=PRICES, settings=settings) as engine:
        [done] = await engine.wait_for([job.id], timeout=10)
        assert done.state is JobState.DONE
