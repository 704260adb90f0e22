"""`qwentui run`: the engine as a long-running process (automation, servers), printing what happens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import safe
from qwentui.core.dropfolder import DropFolderService
from qwentui.core.states import ACTIVE, JobState
from qwentui.runtime import Context, open_context, start_drop_service


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the engine (and drop folders) until stopped")
    p.add_argument("--until-idle", action="store_true", help="exit once no job is in flight")
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--no-drop", action="store_true", help="do not watch the drop folders")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with open_context(options(args)) as ctx:
        if not ctx.engine.leader:
            print(
                "another qwentui process already runs the engine on this database; waiting to take over",
                file=sys.stderr,
            )
        changes = ctx.engine.subscribe()
        drops = None if args.no_drop else await start_drop_service(ctx, echo=not args.quiet)
        if not args.quiet:
            print(f"qwentui engine on {ctx.endpoint}, database {ctx.paths.db}", file=sys.stderr, flush=True)
            if drops is not None:
                folders = ", ".join(str(rule.folder) for rule in drops.rules if rule.enabled)
                print(f"watching drop folders: {folders}", file=sys.stderr, flush=True)
        try:
            await _follow(args, ctx, changes, stop, drops)
        finally:
            if drops is not None:
                await drops.stop()
            ctx.engine.unsubscribe(changes)
    return 0


async def _follow(
    args: argparse.Namespace,
    ctx: Context,
    changes: asyncio.Queue[int],
    stop: asyncio.Event,
    drops: DropFolderService | None,
) -> None:
    """Print job changes until stopped (or, with --until-idle, until nothing is in flight)."""
    shown_errors = {JobState.FAILED, JobState.REJECTED, JobState.NEEDS_USER, JobState.EXPIRED}
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                job_id = await changes.get()
            job = await ctx.store.get_job(job_id)
            if job and not args.quiet:
                extra = f" ({job.error_message})" if job.error_message and job.state in shown_errors else ""
                print(safe(f"job {job.id}: {job.state.value}{extra}"), flush=True)
        if args.until_idle and ctx.engine.leader:
            counts = await ctx.store.count_by_state()
            busy_drops = drops is not None and any(r.waiting or r.in_flight for r in drops.status().rules)
            if not any(counts.get(s, 0) for s in ACTIVE) and not busy_drops:
                return
