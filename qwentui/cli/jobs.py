"""`qwentui jobs` (list and filter) and `qwentui show ID` (one job, its events and files); `usage` is in usage.py."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import JOB_HEADER, age, job_dict, job_line, print_json, safe
from qwentui.core import provenance
from qwentui.core.download import redact_url
from qwentui.core.engine import EngineError
from qwentui.core.errors import QwentuiError
from qwentui.core.states import JobState
from qwentui.core.store import Job, Store
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
    s.add_argument("job_id", type=int, nargs="?")
    s.add_argument("--file", metavar="FILE", help="the job that made this output (or its .json sidecar)")
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
    if (args.job_id is None) == (args.file is None):
        raise QwentuiError("give a job id or --file FILE (one of them)")
    async with open_store(options(args)) as store:
        job = await (_job_of_file(store, Path(args.file)) if args.file else store.get_job(args.job_id))
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
        seed, chosen_by = provenance.seed_of(job)
        if seed is None:
            print("seed:   not known (the service chose it; give --seed to repeat a result)")
        else:
            print(f"seed:   {seed}" + (" (reported by the service)" if chosen_by == "service" else ""))
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


async def _job_of_file(store: Store, path: Path) -> Job:
    """The job whose record `path` carries, if it is this database's job (the same task)."""
    record = provenance.read(path)
    job = await store.get_job(record.job_id)
    if job is None or (record.task_id and job.task_id and record.task_id != job.task_id):
        task = f" (task {record.task_id})" if record.task_id else ""
        raise EngineError(
            f"{path.name} was made by job {record.job_id}{task} of another qwentui database; "
            f"`qwentui submit --from {path.name}` makes it again"
        )
    return job
