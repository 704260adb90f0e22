"""`qwentui lineage JOB`: where a job came from and what was made from it, as an indented tree;
`--family` lists its whole family (every job sharing an ancestor with it) one line each."""

from __future__ import annotations

import argparse
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import JOB_HEADER, job_line, safe
from qwentui.core.lineage import lineage_of
from qwentui.core.store import JobNotFound
from qwentui.runtime import open_store


def add_parser(sub: Any) -> None:
    p = sub.add_parser("lineage", help="where a job came from and what was made from it")
    p.add_argument("job_id", type=int, metavar="JOB")
    p.add_argument("--family", action="store_true", help="list every job of its family instead of the tree")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    async with open_store(options(args)) as store:
        if await store.get_job(args.job_id) is None:
            raise JobNotFound(args.job_id)
        if args.family:
            print(JOB_HEADER)
            for job in await store.family(args.job_id):
                print(job_line(job))
            return 0
        lineage, jobs = await lineage_of(store, args.job_id)
        for line in lineage.lines(jobs):
            print(safe(line))
    return 0
