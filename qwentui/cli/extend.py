"""`qwentui extend JOB`: a new image-to-video job starting on a finished video's last frame (or, with
`--continue`, continuing the clip itself where the model can). `qwentui animate JOB`: one starting on a
finished image."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import safe
from qwentui.core.extend import Overrides, animate, extend
from qwentui.core.states import JobState
from qwentui.core.store import Job
from qwentui.runtime import open_context


def _flags(p: argparse.ArgumentParser, model_help: str, prompt_help: str) -> None:
    p.add_argument("job_id", type=int, metavar="JOB")
    p.add_argument("--model", help=model_help)
    p.add_argument("--prompt", help=prompt_help)
    p.add_argument("--negative-prompt")
    p.add_argument("--duration", type=int, help="seconds (default: the source's, when the model allows it)")
    p.add_argument("--resolution", help="e.g. 720P (default: the source's)")
    p.add_argument("--seed", type=int)
    p.add_argument("--wait", action="store_true", help="send it now and wait until it ends; print its files")
    p.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "extend",
        help="continue a finished video: a new i2v job from its last frame",
        description="The new job keeps the source's prompt and model (its i2v sibling for a text-to-video "
        "model) unless told otherwise; repeat on the newest clip to go on. `qwentui assemble --chain` "
        "puts the clips together.",
    )
    _flags(p, "an image-to-video model (default: the source's, or its i2v sibling)", "what happens next")
    p.add_argument(
        "--continue",
        dest="continue_clip",
        action="store_true",
        help="the model continues the clip itself (wan2.7-i2v first_clip) instead of starting on its last frame",
    )
    p.set_defaults(func=run, animate=False)

    a = sub.add_parser(
        "animate",
        help="bring a finished image to life: a new i2v job starting on it",
        description="The new job keeps the image's prompt unless told otherwise (the TUI's animate action).",
    )
    _flags(a, "an image-to-video model (default: the recommended one)", "how it moves")
    a.set_defaults(func=run, continue_clip=False, animate=True)


def _progress(job: Job) -> None:
    print(f"job {job.id}: {job.state.value}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    overrides = Overrides(
        model=args.model,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        duration=args.duration,
        resolution=args.resolution,
        seed=args.seed,
    )
    async with open_context(options(args), start_engine=args.wait) as ctx:
        if args.animate:
            job = await animate(ctx.engine, args.job_id, overrides)
            how = "animates"
        else:
            job = await extend(ctx.engine, args.job_id, overrides, continue_clip=args.continue_clip)
            how = "continues" if args.continue_clip else "extends"
        print(f"job {job.id} queued: {job.model} {how} job {args.job_id}", file=sys.stderr)
        if not args.wait:
            print(f"job {job.id}: `qwentui run` or the TUI sends it")
            return 0
        (job,) = await ctx.engine.wait_for([job.id], timeout=args.timeout, on_change=_progress)
        for asset in await ctx.store.assets(job.id):
            print(asset.path)
        if job.state is not JobState.DONE:
            print(safe(f"job {job.id} ended {job.state.value}: {job.error_message or ''}"), file=sys.stderr)
            return 1
    return 0
