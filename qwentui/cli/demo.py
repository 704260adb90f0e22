"""A headless tour on the built-in simulator: a few jobs of different modes, followed to the end."""

from __future__ import annotations

import argparse
import sys

from qwentui.cli.context import open_context
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.store import Job

SAMPLE_IMAGE = "https://sim.local/samples/cat.png"

DEMO_REQUESTS = [
    GenerationRequest(mode=Mode.T2I, prompt="A red fox in fresh snow, golden hour, 35mm photo"),
    GenerationRequest(mode=Mode.T2I, model="qwen-image-plus", prompt="A poster that says 'qwentui' in neon"),
    GenerationRequest(mode=Mode.EDIT, prompt="Make it a watercolour painting", images=[SAMPLE_IMAGE]),
    GenerationRequest(mode=Mode.INTERLEAVE, prompt="A three-step recipe for pancakes, with pictures"),
    GenerationRequest(mode=Mode.T2V, prompt="A paper boat sailing down a rainy street", duration=5),
    GenerationRequest(mode=Mode.I2V, prompt="The cat slowly turns its head", images=[SAMPLE_IMAGE]),
]


async def headless_demo(args: argparse.Namespace) -> int:
    async with open_context(args) as ctx:
        print(f"demo on the {ctx.endpoint}; database {ctx.paths.db}", file=sys.stderr)
        jobs: list[Job] = [await ctx.engine.add(req, source="demo") for req in DEMO_REQUESTS]

        def progress(job: Job) -> None:
            print(f"  job {job.id:>4} {job.mode:<10} {job.state.value}", flush=True)

        done = await ctx.engine.wait_for([j.id for j in jobs], timeout=120, on_change=progress)
        for job in done:
            files = [a.path for a in await ctx.store.assets(job.id)]
            print(f"job {job.id} {job.mode} {job.state.value}: {', '.join(str(f) for f in files) or job.error_message}")
    return 0
