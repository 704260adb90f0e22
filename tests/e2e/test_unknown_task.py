"""A job whose task the service no longer knows (the demo's service reset, a task id from elsewhere) says so:
it carries `TaskUnknown` and a line in its history while qwentui keeps asking, and it expires once the task's
24 hours are over — never a job that silently sits at "running 95 %"."""

from __future__ import annotations

import time
from pathlib import Path

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.core.tracker import TASK_TTL, TASK_UNKNOWN
from qwentui.tui.presentation import progress
from tests.helpers import SimHarness, fast_sim_config, poll_until, running_engine


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_task_the_service_does_not_know_is_shown_then_expires(tmp_path: Path, store: Store) -> None:
    clock = Clock()
    request = GenerationRequest(mode=Mode.T2V, prompt="a boat the service forgot", duration=5)
    job = await store.add_job(
        request.to_dict(),
        state=JobState.PENDING,
        task_id="00000000-0000-4000-8000-00000000dead",
        submitted_at=clock.now,
    )
    async with running_engine(tmp_path, store, SimHarness(fast_sim_config()), clock=clock):

        async def marked() -> bool:
            seen = await store.get_job(job.id)
            return seen is not None and seen.error_code == TASK_UNKNOWN

        await poll_until(marked, timeout=60, what="the job marked as unknown to the service")
        seen = await store.get_job(job.id)
        assert seen is not None and seen.state is JobState.PENDING  # still asked about: it may come back
        assert seen.error_message and "does not know" in seen.error_message
        assert [e for e in await store.events(job.id) if "UNKNOWN" in e.detail]
        assert progress(seen, clock.now + 3600, expected=60) is None  # no bar stuck at 95 %

        clock.now += TASK_TTL + 60

        async def expired() -> bool:
            seen = await store.get_job(job.id)
            return seen is not None and seen.state is JobState.EXPIRED

        await poll_until(expired, timeout=60, what="the job expired after the task's lifetime")
