"""`qwentui cancel|retry|import|resolve`: actions on jobs, each one line of outcome or one clear error."""

from __future__ import annotations

import argparse
from typing import Any

from qwentui.cli.context import options
from qwentui.core.engine import EngineError
from qwentui.runtime import open_context


def add_parser(sub: Any) -> None:
    c = sub.add_parser("cancel", help="cancel a queued or PENDING job")
    c.add_argument("job_id", type=int)
    c.set_defaults(func=run_cancel)

    r = sub.add_parser("retry", help="a new job with the same request as another")
    r.add_argument("job_id", type=int)
    r.set_defaults(func=run_retry)

    i = sub.add_parser("import", help="follow tasks created elsewhere (e.g. a skill script's --submit-only)")
    i.add_argument("task_ids", nargs="+")
    i.add_argument("--model", help="the model of the tasks, if the task list cannot tell")
    i.set_defaults(func=run_import)

    s = sub.add_parser("resolve", help="answer a job that needs you: resubmit it, or adopt a task id")
    s.add_argument("job_id", type=int)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--resubmit", action="store_true", help="send it again (you accept a possible duplicate)")
    g.add_argument("--task", help="this task id is the job's task")
    s.set_defaults(func=run_resolve)


async def run_cancel(args: argparse.Namespace) -> int:
    async with open_context(options(args), start_engine=False) as ctx:
        job = await ctx.engine.cancel(args.job_id)
        print(f"job {job.id}: {job.state.value}")
    return 0


async def run_retry(args: argparse.Namespace) -> int:
    async with open_context(options(args), start_engine=False) as ctx:
        job = await ctx.engine.retry(args.job_id)
        print(f"job {job.id} queued (retry of job {args.job_id}); `qwentui run` or the TUI sends it")
    return 0


async def run_import(args: argparse.Namespace) -> int:
    failed = 0
    async with open_context(options(args), start_engine=False) as ctx:
        for task_id in args.task_ids:
            try:
                job = await ctx.engine.import_task(task_id, model=args.model)
            except EngineError as exc:
                print(f"qwentui: error: {exc}")
                failed += 1
                continue
            print(f"task {task_id} -> job {job.id} ({job.model})")
    return 1 if failed else 0


async def run_resolve(args: argparse.Namespace) -> int:
    async with open_context(options(args), start_engine=False) as ctx:
        if args.resubmit:
            job = await ctx.engine.resubmit(args.job_id)
        else:
            job = await ctx.engine.adopt(args.job_id, args.task)
        print(f"job {job.id}: {job.state.value}")
    return 0
