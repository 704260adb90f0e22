"""`qwentui jobs` (list and filter) and `qwentui show ID` (one job, its events and files); `usage` is in usage.py."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import JOB_HEADER, age, job_dict, job_line, print_json, safe
from qwentui.core.download import redact_url
from qwentui.core.engine import EngineError
from qwentui.core.errors import QwentuiError
from qwentui.core.states import JobState
from qwentui.runtime import open_store


def _states(values: list[str]) -> set[JobState] | None:
    if not values:
        return None
    out = set()
    for value in values:
        for part in value.split(","):
            try:
                out.add(JobState(part.strip().lower()))
            except ValueError:
                names = ", ".join(s.value.lower() for s in JobState)
                raise QwentuiError(f"unknown state {part!r}; use one of: {names}") from None
    return out


def add_parser(sub: Any) -> None:
    p = sub.add_parser("jobs", help="list jobs, newest first")
    p.add_argument("--state", action="append", default=[], help="filter by state (repeat or comma-separate)")
    p.add_argument("--mode", action="append", default=[])
    p.add_argument("--model", action="append", default=[])
    p.add_argument("--search", help="full-text search in prompts")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_jobs)

    s = sub.add_parser("show", help="one job: request, state history, files")
    s.add_argument("job_id", type=int)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_show)


async def run_jobs(args: argparse.Namespace) -> int:
    async with open_store(options(args)) as store:
        jobs = await store.list_jobs(
            states=_states(args.state),
            modes=set(args.mode) or None,
            models=set(args.model) or None,
            text=args.search,
            limit=args.limit,
        )
        if args.json:
            print_json([job_dict(j) for j in jobs])
            return 0
        if not jobs:
            print("no jobs" + (" match" if (args.state or args.mode or args.model or args.search) else " yet"))
            return 0
        now = time.time()
        print(JOB_HEADER)
        for job in jobs:
            print(job_line(job, now))
    return 0


async def run_show(args: argparse.Namespace) -> int:
    async with open_store(options(args)) as store:
        job = await store.get_job(args.job_id)
        if job is None:
            raise EngineError(f"there is no job {args.job_id}; `qwentui jobs` lists them")
        events = await store.events(job.id)
        assets = await store.assets(job.id)
        if args.json:
            data = job_dict(job)
            data["events"] = [{"at": e.at, "from": e.from_state, "to": e.to_state, "detail": e.detail} for e in events]
            data["files"] = [{"path": a.path, "size": a.size, "sha256": a.sha256, "kind": a.kind} for a in assets]
            print_json(data)
            return 0
        now = time.time()
        print(f"job {job.id}  {job.state.value}  {job.mode} / {job.model}  created {age(now - job.created_at)} ago")
        print(f"prompt: {safe(job.prompt)}")
        if job.task_id:
            print(f"task:   {job.task_id}")
        if job.error_message:
            print(safe(f"error:  {job.error_code or ''} {job.error_message}".rstrip()))
        print("request:")
        print("  " + json.dumps(job.request))  # ASCII escapes: nothing in it can drive the terminal
        if assets:
            print("files:")
            for a in assets:
                size = f"{a.size / 1e6:.2f} MB" if a.size else ""
                print(safe(f"  {a.path}  {size}"))
        print("history:")
        for e in events:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
            print(safe(f"  {when}  {e.from_state or '-':>11} -> {e.to_state:<11} {redact_url(e.detail or '')}"))
    return 0
