"""Hundreds of files dropped at once: each is submitted exactly once.

The suite drops 250 (enough to keep the intake, the ledger and 8 submit workers busy at once); the 1,000-file
drop, timed, is `python3 dev.py bench bench/dropfolder.py`."""

from __future__ import annotations

import asyncio
import os

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.states import JobState
from tests.drop.conftest import World
from tests.drop.helpers import colour, names, submitted_shas, wait_until, write_png

COUNT = 250


@pytest.mark.slow
async def test_hundreds_of_files_at_once_are_each_submitted_exactly_once(world: World) -> None:
    world.sim.config.pending_seconds = 600.0  # tasks stay PENDING: this test is about intake, not downloads
    rule = world.rule("edit", Mode.EDIT, "wan2.6-image", "make it autumn")
    store = await world.open_store()
    engine = await world.engine(store, submit_workers=8, tick=0.25)
    service = await world.service([rule], store=store, engine=engine, quiet=0.5)

    staging = world.tmp / "staging"  # same filesystem, so the drop itself is quick renames
    staging.mkdir()
    shas = {await asyncio.to_thread(write_png, staging / f"img{i:04d}.png", colour(i)) for i in range(COUNT)}
    assert len(shas) == COUNT
    for i in range(COUNT):
        os.rename(staging / f"img{i:04d}.png", rule.folder / f"img{i:04d}.png")

    async def all_sent() -> bool:
        # nothing left to take or to send: a file taken twice or a job sent twice would be counted by now
        status = service.status().rules[0]
        counts = await store.count_by_state()
        pending = counts[JobState.PENDING]
        return status.waiting == 0 and status.taken == COUNT and pending == sum(counts.values()) >= COUNT

    await wait_until(all_sent, timeout=120, what=f"{COUNT} files taken and their jobs sent")
    counts = submitted_shas(world.sim)
    assert set(counts) == shas
    assert set(counts.values()) == {1}
    assert len(world.sim.submissions) == COUNT
    assert len(names(rule.folder / ".processing")) == COUNT
    assert not [n for n in names(rule.folder) if n.endswith(".png")]
    assert names(rule.folder / "failed") == names(rule.folder / "duplicates") == set()
    status = service.status().rules[0]
    assert (status.taken, status.in_flight, status.failed, status.duplicates) == (COUNT, COUNT, 0, 0)
    assert len(await store.list_jobs(limit=2 * COUNT)) == COUNT
