"""`qwentui export JOB... -o DIR|FILE.zip`: results copied or zipped, each with a JSON sidecar (its recipe)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import safe
from qwentui.core.errors import QwentuiError
from qwentui.core.export import export
from qwentui.core.states import JobState
from qwentui.core.store import MarkFilter
from qwentui.runtime import open_store

MAX_SELECTED = 100_000


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="copy or zip results, each with a JSON sidecar (request, model, seed, task id, usage)",
        description="Give job ids, or choose finished jobs by their marks (--starred, --min-rating). A "
        "destination ending in .zip becomes one zip file; anything else is a folder (created if needed).",
    )
    p.add_argument("job_ids", nargs="*", type=int, metavar="JOB")
    p.add_argument("-o", "--to", dest="dest", type=Path, required=True, metavar="DIR|FILE.zip")
    p.add_argument("--starred", action="store_true", help="the finished jobs you starred")
    p.add_argument("--min-rating", type=int, choices=range(1, 6), metavar="N", help="finished jobs rated N or more")
    p.add_argument("--include-rejected", action="store_true", help="with --starred/--min-rating: rejected ones too")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    async with open_store(options(args)) as store:
        job_ids: list[int] = list(args.job_ids)
        if args.starred or args.min_rating is not None:
            marks = MarkFilter(
                min_rating=args.min_rating,
                starred=True if args.starred else None,
                rejected=None if args.include_rejected else False,
            )
            chosen = await store.list_jobs(states=JobState.DONE, marks=marks, limit=MAX_SELECTED)
            job_ids += [job.id for job in reversed(chosen)]  # oldest first, like ids given by hand
        if not job_ids:
            raise QwentuiError("give job ids, or choose them with --starred or --min-rating")
        report = await export(store, job_ids, args.dest)
    for line in report.skipped:
        print(safe(f"skipped {line}"), file=sys.stderr)
    files = len(report.written) // 2
    print(safe(f"exported {files} result{'s' if files != 1 else ''} with their sidecars to {args.dest}"))
    return 1 if report.skipped else 0
