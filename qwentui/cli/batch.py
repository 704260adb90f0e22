"""`qwentui batch FILE`: many jobs from a text, CSV or JSONL file, all validated and estimated before any is
queued (in one transaction); `--dry-run` only shows them. `--list`, `--cancel ID`, `--retry ID` act on batches."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import one_line, print_json, safe
from qwentui.cli.submit import _bool, _load_json
from qwentui.core.batchfile import FORMATS, BatchError, BatchJob, load, parse_seeds, parse_vars
from qwentui.core.catalog import Mode
from qwentui.core.engine import Engine
from qwentui.core.errors import QwentuiError
from qwentui.core.pricing import Estimate, Pricing, Total, money, pricing_for
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Job
from qwentui.runtime import open_context, open_store, paths_for

MAX_PROBLEMS_SHOWN = 20
HOLD_LOOK = 3.0  # seconds between two looks at the jobs a spending cap holds, while --wait waits


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "batch",
        help="queue many jobs from a file (txt, CSV, JSONL), with templates and seed sweeps",
        description="Queue one job per line of FILE: a text file (one prompt per line), a CSV file (a header of "
        "request fields: prompt, model, size, n, seed, images as a|b, ...) or JSONL (one request object per line, "
        "as `submit --json` takes). {name} in a field takes every value of --var name=a,b; several variables "
        "make every combination. Every line is validated first: one bad line queues nothing.",
    )
    p.add_argument("file", nargs="?", type=Path, help="the batch file")
    p.add_argument("--format", choices=FORMATS, help="default: from the file name (.csv, .jsonl, else txt)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=V1,V2", help="template values (repeat)")
    p.add_argument("--seeds", metavar="1..8|1,5,9", help="repeat every job once per seed")
    p.add_argument("--dry-run", action="store_true", help="print the jobs, their count and cost; send nothing")
    p.add_argument("--max-cost", type=float, metavar="AMOUNT", help="refuse the batch if its estimate is higher")
    p.add_argument("--name", help="the batch's name (default: the file name)")
    p.add_argument("--wait", action="store_true", help="run the jobs now and wait until every one has ended")
    p.add_argument("--json", dest="json_out", action="store_true", help="machine-readable output")
    d = p.add_argument_group("defaults for every line (a line's own fields win)")
    d.add_argument("--defaults", metavar="JSON|@FILE", help="request fields as JSON")
    d.add_argument("--mode", choices=[m.value for m in Mode])
    d.add_argument("--model")
    d.add_argument("--negative-prompt")
    d.add_argument("--size")
    d.add_argument("--n", type=int)
    d.add_argument("--duration", type=int)
    d.add_argument("--resolution")
    d.add_argument("--audio", type=_bool, metavar="true|false")
    a = p.add_mutually_exclusive_group()
    a.add_argument("--list", action="store_true", help="list the batches, newest first")
    a.add_argument("--cancel", type=int, metavar="ID", help="cancel every job of batch ID that has not started")
    a.add_argument("--retry", type=int, metavar="ID", help="queue again every job of batch ID that did not succeed")
    p.set_defaults(func=run)


def _defaults(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = _load_json(args.defaults) if args.defaults else {}
    for key in ("mode", "model", "negative_prompt", "size", "n", "duration", "resolution", "audio"):
        value = getattr(args, key)
        if value is not None:
            data[key] = value
    return data


def _problems(exc: BatchError, file: Path) -> QwentuiError:
    """Every problem on stderr (the first few), then the one error line the CLI ends with."""
    for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
        print(safe(f"  {file.name}: {problem}"), file=sys.stderr)
    if len(exc.problems) > MAX_PROBLEMS_SHOWN:
        print(f"  ... and {len(exc.problems) - MAX_PROBLEMS_SHOWN} more", file=sys.stderr)
    count = len(exc.problems)
    return QwentuiError(f"{file}: {count} problem{'s' if count != 1 else ''}; nothing was queued")


async def run(args: argparse.Namespace) -> int:
    if args.list:
        return await _list(args)
    if args.cancel is not None:
        return await _cancel(args)
    if args.retry is not None:
        return await _retry(args)
    if args.file is None:
        raise QwentuiError("give a batch FILE (or --list, --cancel ID, --retry ID)")
    opts = options(args)
    try:
        jobs = load(
            args.file,
            args.format,
            defaults=_defaults(args),
            variables=parse_vars(args.var),
            seeds=parse_seeds(args.seeds) if args.seeds else (),
        )
    except BatchError as exc:
        raise _problems(exc, args.file) from None
    pricing = pricing_for(paths_for(opts).settings, opts.region, None if opts.demo else opts.base_url)
    for problem in pricing.table.problems:
        print(safe(f"qwentui: warning: {problem}"), file=sys.stderr)
    estimates = [pricing.estimate(job.request) for job in jobs]
    total = Total.of(estimates)
    if args.dry_run:
        _print_plan(jobs, estimates, total, pricing, args.json_out)
        _check_cap(args.max_cost, total, pricing, dry_run=True)
        return 0
    _check_cap(args.max_cost, total, pricing, dry_run=False)
    name = args.name or args.file.name
    async with open_context(opts, start_engine=args.wait) as ctx:
        batch_id, ids = await ctx.engine.add_batch(
            [job.request for job in jobs],
            name=name,
            source_path=str(args.file.resolve()),
            max_cost=args.max_cost,
            currency=pricing.table.currency(pricing.region),
        )
        print(f"batch {batch_id}: {len(ids)} jobs queued, {total.text}", file=sys.stderr)
        if not args.wait:
            if args.json_out:
                print_json({"batch": batch_id, "jobs": ids, "estimate": _total_dict(total)})
            else:
                print(batch_id)
            print(
                "`qwentui run` or the TUI sends them; `qwentui usage --by batch` shows what they cost", file=sys.stderr
            )
            return 0
        started = time.monotonic()
        ended = await _wait(ctx.engine, batch_id, ids)
        counts: dict[str, int] = {}
        for job in ended:
            counts[job.state.value] = counts.get(job.state.value, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        print(f"batch {batch_id} ended in {time.monotonic() - started:.0f} s: {summary}", file=sys.stderr)
        if args.json_out:
            print_json({"batch": batch_id, "jobs": ids, "states": counts})
        else:
            print(batch_id)
        return 0 if all(job.state is JobState.DONE for job in ended) else 1


async def _wait(engine: Engine, batch_id: int, ids: list[int]) -> list[Job]:
    """Until every job has ended; says when a spending cap holds some of them (they wait, queued)."""
    wanted, said = set(ids), None
    while True:
        try:
            return await engine.wait_for(ids, timeout=HOLD_LOOK)
        except TimeoutError:
            held = {job_id: why for job_id, why in engine.held().items() if job_id in wanted}
            news = (len(held), sorted(set(held.values())))
            if held and news != said:
                reasons = "; ".join(why.removeprefix("held: ") for why in news[1])
                print(
                    safe(
                        f"batch {batch_id}: {len(held)} job(s) held, {reasons}: raise it in the settings file's "
                        "[budget], or they go when the period turns"
                    ),
                    file=sys.stderr,
                )
            said = news


def _check_cap(max_cost: float | None, total: Total, pricing: Pricing, *, dry_run: bool) -> None:
    if max_cost is None:
        return
    currency = pricing.table.currency(pricing.region) or ""
    outcome = "the batch would not be queued" if dry_run else "nothing was queued"
    if total.unknown:
        raise QwentuiError(
            f"--max-cost cannot be checked: {total.unknown} job(s) have no known price; {outcome} "
            "(add their prices to the settings file's [prices] table)"
        )
    amount = total.amounts.get(currency, 0.0)
    if amount > max_cost + 1e-9:
        raise QwentuiError(
            f"the batch is estimated at {money(amount, currency)}, over --max-cost {money(max_cost, currency)}; "
            f"{outcome}"
        )


def _total_dict(total: Total) -> dict[str, Any]:
    return {
        "amounts": dict(total.amounts),
        "unknown": total.unknown,
        "as_of": total.as_of.isoformat() if total.as_of else None,
        "stale": total.stale,
    }


def _print_plan(jobs: list[BatchJob], estimates: list[Estimate], total: Total, pricing: Pricing, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "region": pricing.region,
                "jobs": [
                    {
                        "line": job.line,
                        "request": job.request.to_dict(),
                        "estimate": est.amount,
                        "currency": est.currency,
                    }
                    for job, est in zip(jobs, estimates, strict=True)
                ],
                "count": len(jobs),
                "estimate": _total_dict(total),
            }
        )
        return
    print(f"{'#':>5} {'LINE':>5} {'MODEL':<20} {'SEED':>10} {'EST.':>12}  PROMPT")
    prompt_width = max(12, shutil.get_terminal_size((120, 24)).columns - 59)  # the columns before it take 58
    for i, (job, est) in enumerate(zip(jobs, estimates, strict=True), start=1):
        seed = "" if job.request.seed is None else str(job.request.seed)
        price = money(est.amount, est.currency) if est.known else "no price"
        prompt = one_line(job.request.prompt, prompt_width)
        print(f"{i:>5} {job.line:>5} {job.request.model_name:<20} {seed:>10} {price:>12}  {prompt}")
    count = f"{len(jobs)} job{'s' if len(jobs) != 1 else ''}"
    print(f"{count}, {total.text}")
    print(f"region {pricing.region}; free quota, if any, may make it less; dry run: nothing was sent")


async def _list(args: argparse.Namespace) -> int:
    async with open_store(options(args)) as store:
        batches = await store.batches()
        rows = []
        for batch in batches:
            counts = await store.batch_counts(batch.id)
            rows.append((batch, counts))
        if args.json_out:
            print_json(
                [
                    {
                        "id": b.id,
                        "name": b.name,
                        "created_at": b.created_at,
                        "max_cost": b.max_cost,
                        "currency": b.currency,
                        "states": {s.value: n for s, n in c.items()},
                    }
                    for b, c in rows
                ]
            )
            return 0
        if not rows:
            print("no batches yet")
            return 0
        print(f"{'ID':>5} {'JOBS':>6} {'ENDED':>6} {'CREATED':<16}  NAME")
        for batch, counts in rows:
            ended = sum(n for state, n in counts.items() if state in TERMINAL)
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(batch.created_at))
            print(f"{batch.id:>5} {sum(counts.values()):>6} {ended:>6} {created:<16}  {one_line(batch.name, 40)}")
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    async with open_context(options(args), start_engine=False) as ctx:
        canceled, refused = await ctx.engine.cancel_batch(args.cancel)
        print(f"batch {args.cancel}: {len(canceled)} job(s) canceled")
        for why in refused[:MAX_PROBLEMS_SHOWN]:
            print(safe(f"  {why}"), file=sys.stderr)
        if refused:
            print(f"{len(refused)} job(s) had already started and were not canceled", file=sys.stderr)
    return 0


async def _retry(args: argparse.Namespace) -> int:
    async with open_context(options(args), start_engine=False) as ctx:
        ids = await ctx.engine.retry_batch(args.retry)
        print(f"batch {args.retry}: {len(ids)} job(s) queued again")
    return 0
