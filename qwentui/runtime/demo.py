"""`--demo`: the jobs a first start shows, and the life cycle of the demo's folder.

Everything the demo makes lives in one folder of the data folder (`demo_home()`): its database, the downloaded
results, the drop folders and the simulated service's tasks (`demo_service_file()`). All of it is kept between
starts, so quitting (or a crash) mid-flight and starting again shows the jobs resume and finish. A demo
database gets a few jobs of several modes once (a start killed before that gets them on the next start);
`--reset` starts over. A demo already running elsewhere is joined,
never reset: the second one reads the same database (as any second qwentui does).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

from qwentui.core.catalog import Mode
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import GenerationRequest
from qwentui.core.store import Store, StoreError
from qwentui.runtime.context import Context, RuntimeOptions, demo_home, demo_service_file, paths_for

SAMPLE_IMAGE = "https://sim.local/samples/cat.png"
SEEDED = "demo.seeded"  # a store setting: the first jobs were added once, never again (until --reset)

DEMO_REQUESTS = [
    GenerationRequest(mode=Mode.T2I, prompt="A red fox in fresh snow, golden hour, 35mm photo"),
    GenerationRequest(mode=Mode.T2I, model="qwen-image-plus", prompt="A poster that says 'qwentui' in neon"),
    GenerationRequest(mode=Mode.EDIT, prompt="Make it a watercolour painting", images=[SAMPLE_IMAGE]),
    GenerationRequest(mode=Mode.INTERLEAVE, prompt="A three-step recipe for pancakes, with pictures"),
    GenerationRequest(mode=Mode.T2V, prompt="A paper boat sailing down a rainy street", duration=5),
    GenerationRequest(mode=Mode.I2V, prompt="The cat slowly turns its head", images=[SAMPLE_IMAGE]),
]


def prepare_demo(options: RuntimeOptions) -> None:
    """Ready the demo's folder before anything opens it.

    With `options.reset` the demo starts over: its database, its downloaded results and its simulated tasks are
    removed. Never a database named with --db (it may hold real work), never while another qwentui runs it.
    """
    paths = paths_for(options)
    if options.reset:
        if options.db is not None:
            raise QwentuiError("--reset starts the demo's own database over; it never removes one named with --db")
        holder = asyncio.run(lease_holder(paths.db))
        if holder is not None:
            raise QwentuiError(
                f"the demo is running in another qwentui (pid {holder}); quit it, then run `qwentui --demo --reset`"
            )
        remove_database(paths.db)
        remove_database(demo_service_file())
        if options.output is None:
            shutil.rmtree(demo_home() / "output", ignore_errors=True)


async def lease_holder(db: Path) -> int | None:
    """The pid of a live qwentui holding the engine lease of this database, if any."""
    if not db.exists():
        return None
    try:
        store = await Store.open(db, backup=False)
    except StoreError:
        return None  # unreadable: nobody can be using it; a reset replaces it
    try:
        lease = await store.lease()
    finally:
        await store.close()
    return lease.pid if lease is not None and lease.expires_at > time.time() else None


def remove_database(db: Path) -> None:
    """The database, its journal files and the copies kept before schema migrations (`<name>.v<N>.bak`)."""
    for path in [
        *(db.with_name(db.name + s) for s in ("", "-wal", "-shm", "-journal")),
        *db.parent.glob(db.name + ".v*.bak"),
    ]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def seed_demo(context: Context) -> None:
    """The first jobs of a demo database, added once, by the process that runs its engine."""
    store = context.store
    if not context.engine.leader or await store.get_setting(SEEDED) or await store.list_jobs(limit=1):
        return
    for request in DEMO_REQUESTS:
        await context.engine.add(request, source="demo")
    await store.set_setting(SEEDED, True)
