"""`qwentui rate JOB... MARK`: rate (1-5), star, reject or clear results, as the TUI's culling keys do."""

from __future__ import annotations

import argparse
from typing import Any

from qwentui.cli.context import options
from qwentui.core.culling import ACTIONS, describe_marks, mark
from qwentui.runtime import open_store


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "rate",
        help="rate (1-5), star, reject or clear the marks of results",
        description="Mark results: 1-5 rates, star and reject pick keepers (each takes back the other), "
        "unstar/unreject take one back, clear removes every mark. `qwentui export --starred` uses them.",
    )
    p.add_argument("job_ids", nargs="+", type=int, metavar="JOB")
    p.add_argument("mark", choices=ACTIONS, metavar="MARK", help="1..5, star, unstar, reject, unreject or clear")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    async with open_store(options(args)) as store:
        for job_id in args.job_ids:
            job = await mark(store, job_id, args.mark)
            print(f"job {job.id}: {describe_marks(job)}")
    return 0
