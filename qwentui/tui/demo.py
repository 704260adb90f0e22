"""`qwentui --demo`: a fresh database on the built-in simulator, with a few jobs already on their way.

The demo database is reset on every start so a new user always sees the same first minute: jobs of several
modes moving from queued to done, previews appearing, nothing left over from an earlier try. A demo that is
already running elsewhere keeps its database: this one then joins it (read-only, as any second qwentui does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path

from qwentui.cli.context import Context, paths_for
from qwentui.cli.demo import DEMO_REQUESTS
from qwentui.core.store import Store, StoreError


async def _in_use(db: Path) -> bool:
    """True when a live qwentui holds the engine lease of this database."""
    if not db.exists():
        return False
    try:
        store = await Store.open(db, backup=False)
    except StoreError:
        return False  # unreadable: nobody can be using it; the reset below replaces it
    try:
        lease = await store.lease()
    finally:
        await store.close()
    return lease is not None and lease.expires_at > time.time()


def reset_demo_database(args: argparse.Namespace) -> bool:
    """Remove the demo's own database (never one named with --db: that may hold real work). False when another
    demo is using it, in which case it is left alone."""
    if args.db is not None:
        return False
    db = paths_for(args).db
    if asyncio.run(_in_use(db)):
        return False
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            db.with_name(db.name + suffix).unlink()
    return True


async def seed_demo(context: Context) -> None:
    for request in DEMO_REQUESTS:
        await context.engine.add(request, source="demo")
