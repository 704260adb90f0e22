"""`qwentui --demo`: a fresh database on the built-in simulator, with a few jobs already on their way.

The demo database is reset on every start so a new user always sees the same first minute: jobs of several
modes moving from queued to done, previews appearing, nothing left over from an earlier try.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from qwentui.cli.context import Context, paths_for
from qwentui.cli.demo import DEMO_REQUESTS


def reset_demo_database(args: argparse.Namespace) -> Path | None:
    """Remove the demo's own database (never one named with --db: that may hold real work)."""
    if args.db is not None:
        return None
    db = paths_for(args).db
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            db.with_name(db.name + suffix).unlink()
    return db


async def seed_demo(context: Context) -> None:
    for request in DEMO_REQUESTS:
        await context.engine.add(request, source="demo")
