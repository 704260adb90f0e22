"""1,000 files dropped at once: each is submitted exactly once."""

from __future__ import annotations

import asyncio
import os

import pytest

from qwentui.core.catalog import Mode
from tests.drop.conftest import World
from tests.drop.helpers import colour, names, submitted_shas, wait_until, write_png

COUNT = 1000


@pytest.mark.slow
async def test_a_thousand_files_at_once_are_each_submitted_exactly_once(world: World) -> None:
    world.sim.config.pending_seconds = 600.0  # tasks stay PENDING: this test is about intake, not downloads
    rule = world.rule("edit", Mode.EDIT, "wan2.6-image", "make it autumn")
    store = await world.open_store()
    engine = await world.engine(store, submit_workers=8, tick=0.25)
    service = await world.service([rule], store=store, engine=engine, quiet=0.5)

    staging = world.tmp / "staging"  # same filesystem, so the drop itself is 1,000 quick renames
    staging.mkdir()
    shas = {await asyncio.to_thread(write_png, staging / f"img{i:04d}.png", colour(i)) for i in range(COUNT)}
    assert len(shas) == COUNT
    for i in range(COUNT):
        os.rename(staging / f"img{i:04d}.png", rule.folder / f"img{i:04d}.png")

    await wait_until(lambda: len(world.sim.submissions) >= COUNT, timeout=120, what="1,000 submissions")
    await asyncio.sleep(1.0)  # anything submitted twice would show up now
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
