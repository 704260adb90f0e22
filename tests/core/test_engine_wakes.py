"""The engine's loops wait for work instead of polling: with nothing due they read nothing, and they wake for a
new job (from this process or another one writing the database) and when a scheduled check comes due."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qwentui.core.catalog import Mode
from qwentui.core.engine import Engine
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
from tests.helpers import SimHarness, poll_until, running_engine

LONG = 120.0  # the engine's safety-net look: far beyond every wait here, so only a wake-up can do the work


def _request(prompt: str) -> GenerationRequest:
    return GenerationRequest(mode=Mode.T2I, prompt=prompt)


async def _add_directly(store: Store, prompt: str, next_check_at: float | None = None) -> int:
    """A job written to the database without telling the engine (what the TUI, a CLI or a drop folder in
    another process does)."""
    request = _request(prompt)
    job = await store.add_job(request.to_dict(), Mode.T2I.value, request.row.model, prompt, next_check_at=next_check_at)
    return job.id


async def _asleep(eng: Engine) -> None:
    """Until every kind of loop sleeps with nothing due before the safety net."""

    def sleeping() -> bool:
        soon = time.time() + LONG / 2
        return all(until > soon for until in eng._until.values())

    await poll_until(sleeping, timeout=30, what="every loop asleep")


async def test_an_idle_engine_reads_nothing_while_nothing_changes(
    tmp_path: Path, store: Store, sim: SimHarness
) -> None:
    done = await store.add_job(_request("finished").to_dict(), Mode.T2I.value, "wan2.6-t2i", "x", state=JobState.DONE)
    due_reads = 0
    due_jobs = store.due_jobs

    async def counted(*args: Any, **kwargs: Any) -> list[Job]:
        nonlocal due_reads
        due_reads += 1
        return await due_jobs(*args, **kwargs)

    store.due_jobs = counted  # type: ignore[method-assign]
    async with running_engine(tmp_path, store, sim, idle_look=LONG) as eng:
        await _asleep(eng)
        reads, looks = due_reads, eng.looks
        # a change no loop works on (a note on a finished job), then two of the feed's own looks for other
        # processes' writes: the polling loops (every 0.02 s here) would have read many times meanwhile
        await store.note(done.id, "an unrelated change")
        feed_looks = eng.feed.looks
        await poll_until(lambda: eng.feed.looks >= feed_looks + 2, timeout=30, what="two looks of the feed")
        assert (due_reads, eng.looks) == (reads, looks), "the loops looked for work while nothing changed"
        assert await store.get_job(done.id) is not None


async def test_a_job_written_by_another_process_wakes_the_engine(tmp_path: Path, store: Store, sim: SimHarness) -> None:
    async with running_engine(tmp_path, store, sim, idle_look=LONG) as eng:
        await _asleep(eng)
        other = await Store.open(tmp_path / "jobs.db")  # another connection: seen through data_version only
        try:
            job_id = await _add_directly(other, "from another process")
        finally:
            await other.close()
        (job,) = await eng.wait_for([job_id], timeout=30)
    assert job.state is JobState.DONE, job.error_message


async def test_a_check_scheduled_later_is_made_when_it_comes_due(tmp_path: Path, store: Store, sim: SimHarness) -> None:
    async with running_engine(tmp_path, store, sim, idle_look=LONG) as eng:
        await _asleep(eng)
        due = time.time() + 1.0
        job_id = await _add_directly(store, "sent in a second", next_check_at=due)
        (job,) = await eng.wait_for([job_id], timeout=30)
    assert job.state is JobState.DONE, job.error_message
    assert job.submitted_at is not None and job.submitted_at >= due - 0.05, "sent before its check was due"
