"""A write cancelled at any point (a task stopped at shutdown) leaves the store usable for the next one."""

from __future__ import annotations

import asyncio

import pytest

from qwentui.core.store import Store


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 6])
async def test_a_write_cancelled_midway_leaves_the_store_usable(store: Store, steps: int) -> None:
    job = await store.add_job({"mode": "t2i", "model": "wan2.6-t2i", "prompt": "cancel me"})
    task = asyncio.create_task(store.update_fields(job.id, priority=1))
    for _ in range(steps):  # let it get as far as this many event-loop turns: inside BEGIN, the UPDATE, COMMIT...
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    after = await store.update_fields(job.id, priority=2)  # must not fail: "cannot start a transaction within..."
    assert after.priority == 2
