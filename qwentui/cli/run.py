"""`qwentui run`: the engine as a long-running process (automation, servers), printing what happens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from qwentui.cli.context import open_context
from qwentui.core.states import ACTIVE


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the engine (and drop folders) until stopped")
    p.add_argument("--until-idle", action="store_true", help="exit once no job is in flight")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with open_context(args) as ctx:
        if not ctx.engine.leader:
            print("another qwentui process already runs the engine on this database; waiting to take over",
                  file=sys.stderr)
        changes = ctx.engine.subscribe()
        if not args.quiet:
            print(f"qwentui engine on {ctx.endpoint}, database {ctx.paths.db}", file=sys.stderr, flush=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                job_id = await asyncio.wait_for(changes.get(), 0.5)
                job = await ctx.store.get_job(job_id)
                if job and not args.quiet:
                    extra = f" ({job.error_message})" if job.error_message and job.state.value in (
                        "FAILED", "REJECTED", "NEEDS_USER", "EXPIRED") else ""
                    print(f"job {job.id}: {job.state.value}{extra}", flush=True)
            if args.until_idle and ctx.engine.leader:
                counts = await ctx.store.count_by_state()
                if not any(counts.get(s, 0) for s in ACTIVE):
                    break
    return 0
