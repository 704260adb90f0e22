"""`--demo`: the jobs a first start shows, and the demo database's life cycle.

The demo keeps its database between starts, so quitting (or a crash) mid-flight and starting again shows the
jobs resume. A fresh demo database gets a few jobs of several modes; `reset_demo` starts over. A demo that is
already running elsewhere keeps its files: the second one joins it (read-only, as any second qwentui does).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.store import Store, StoreError
from qwentui.runtime.context import Context, RuntimeOptions, paths_for

SAMPLE_IMAGE = "https://sim.local/samples/cat.png"

DEMO_REQUESTS = [
    GenerationRequest(mode=Mode.T2I, prompt="A red fox in fresh snow, golden hour, 35mm photo"),
    GenerationRequest(mode=Mode.T2I, model="qwen-image-plus", prompt="A poster that says 'qwentui' in neon"),
    GenerationRequest(mode=Mode.EDIT, prompt="Make it a watercolour painting", images=[SAMPLE_IMAGE]),
    GenerationRequest(mode=Mode.INTERLEAVE, prompt="A three-step recipe for pancakes, with pictures"),
    GenerationRequest(mode=Mode.T2V, prompt="A paper boat sailing down a rainy street", duration=5),
    GenerationRequest(mode=Mode.I2V, prompt="The cat slowly turns its head", images=[SAMPLE_IMAGE]),
]


async def in_use(db: Path) -> bool:
    """True when a live qwentui holds the engine lease of this database."""
    if not db.exists():
        return False
    try:
        store = await Store.open(db, backup=False)
    except StoreError:
        return False  # unreadable: nobody can be using it; a reset replaces it
    try:
        lease = await store.lease()
    finally:
        await store.close()
    return lease is not None and lease.expires_at > time.time()


def remove_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            db.with_name(db.name + suffix).unlink()


def reset_demo_database(options: RuntimeOptions) -> bool:
    """Remove the demo's own database (never one named with --db: that may hold real work). False when another
    demo is using it, in which case it is left alone."""
    if options.db is not None:
        return False
    db = paths_for(options).db
    if asyncio.run(in_use(db)):
        return False
    remove_database(db)
    return True


async def seed_demo(context: Context) -> None:
    """The first jobs of a fresh demo database."""
    for request in DEMO_REQUESTS:
        await context.engine.add(request, source="demo")
