"""`qwentui run`: the engine as a long-running process (automation, servers), printing what happens.

Every job's progress and outcome is printed as it happens, from the engine's change feed (so a job finished by
the tracker, canceled from the TUI or added by another process is told as well as one this process sent):
done with its files, failed or rejected with the service's code and message, needing the user with the
reason, canceled, expired. Jobs a spending cap keeps from being sent are told too (how many, which cap), each
time that changes. With `--until-idle` it exits once nothing is in flight but what a cap holds, with a summary
line, and non-zero when a job it saw settle failed, was rejected, expired or needs the user, or jobs are held.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections import OrderedDict
from typing import Any

from qwentui.cli.context import options
from qwentui.cli.output import safe
from qwentui.core.dropfolder import DropFolderService
from qwentui.core.feed import Subscription
from qwentui.core.states import ACTIVE, TERMINAL, JobState
from qwentui.core.store import Job
from qwentui.runtime import Context, open_context, start_drop_service

BAD_ENDINGS = (JobState.FAILED, JobState.REJECTED, JobState.EXPIRED, JobState.NEEDS_USER)
REMEMBERED = 100_000  # jobs whose last printed state is kept (a long run must not grow without limit)
IDLE_CHECK = 0.5  # with --until-idle: seconds between looks at whether anything is still in flight
HELD_CHECK = 1.0  # seconds between looks at the jobs a spending cap holds (the engine's memory: no query)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the engine (and drop folders) until stopped")
    p.add_argument(
        "--until-idle",
        action="store_true",
        help="exit once no job is in flight (non-zero if a job failed, was rejected, needs you or is held)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    p.add_argument("--no-drop", action="store_true", help="do not watch the drop folders")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with open_context(options(args)) as ctx:
        if not ctx.engine.leader:
            print(
                "another qwentui process already runs the engine on this database; waiting to take over",
                file=sys.stderr,
            )
        report = Report(ctx, quiet=args.quiet, tally=args.until_idle)
        with ctx.engine.subscribe() as changes:
            # what the engine's start-up did before this subscribed (e.g. an interrupted call handed to the user)
            if ctx.engine.feed.started_at is not None:
                await report.show(await ctx.store.changed_since(ctx.engine.feed.started_at))
            drops = None if args.no_drop else await start_drop_service(ctx, echo=not args.quiet)
            if not args.quiet:
                print(f"qwentui engine on {ctx.endpoint}, database {ctx.paths.db}", file=sys.stderr, flush=True)
                if drops is not None:
                    folders = ", ".join(str(rule.folder) for rule in drops.rules if rule.enabled)
                    print(f"watching drop folders: {folders}", file=sys.stderr, flush=True)
            try:
                await _follow(args, ctx, changes, stop, drops, report)
            finally:
                if drops is not None:
                    await drops.stop()
    if args.until_idle:
        print(report.summary(), file=sys.stderr, flush=True)
        return 1 if report.bad() or report.held else 0
    return 0


async def _follow(
    args: argparse.Namespace,
    ctx: Context,
    changes: Subscription,
    stop: asyncio.Event,
    drops: DropFolderService | None,
    report: Report,
) -> None:
    """Print job changes until stopped (or, with --until-idle, until nothing is in flight)."""
    while not stop.is_set():
        if args.until_idle:
            await report.show(await changes.get(timeout=IDLE_CHECK))
            await report.show_held()
            if ctx.engine.leader and await _idle(ctx, drops):
                await ctx.engine.feed.flush()  # the last outcomes are printed before the summary
                await report.show(changes.take())
                return
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HELD_CHECK):  # a cap holding jobs changes no job: look now and then
                    await changes.wait(stop)
            await report.show(changes.take())
            await report.show_held()


async def _idle(ctx: Context, drops: DropFolderService | None) -> bool:
    """Nothing in flight but the queued jobs a spending cap holds (they wait for the cap or the period)."""
    counts = await ctx.store.count_by_state()
    busy_drops = drops is not None and any(r.waiting or r.in_flight > r.held for r in drops.status().rules)
    if busy_drops or any(counts.get(s, 0) for s in ACTIVE - {JobState.QUEUED}):
        return False
    queued = counts.get(JobState.QUEUED, 0)
    held = ctx.engine.held()
    if queued > len(held):
        return False
    still = [job for job in [await ctx.store.get_job(i) for i in held] if job and job.state is JobState.QUEUED]
    return len(still) == queued


class Report:
    """One line per job state change, the outcome with what matters (files, the error), and a tally."""

    def __init__(self, ctx: Context, *, quiet: bool, tally: bool = True) -> None:
        self.ctx = ctx
        self.quiet = quiet
        self.tally = tally  # keep each settled job's last ending (for --until-idle's summary)
        self._shown: OrderedDict[int, tuple[JobState, bool]] = OrderedDict()
        self._settled: dict[int, JobState] = {}  # the last ending counts: needs-you, then resubmitted and done
        self.held: dict[int, str] = {}  # the jobs a spending cap holds, as last told

    async def show(self, jobs: list[Job]) -> None:
        for job in jobs:
            before = self._shown.pop(job.id, None)
            self._shown[job.id] = (job.state, job.deleted)
            while len(self._shown) > REMEMBERED:
                self._shown.popitem(last=False)
            if before == (job.state, job.deleted):
                continue  # a field changed, not the state (e.g. a drop's input moved to done/)
            if job.deleted:
                self._print(f"job {job.id}: deleted")
                continue
            if self.tally and (job.state in TERMINAL or job.state is JobState.NEEDS_USER):
                self._settled[job.id] = job.state
            for line in await self._lines(job):
                self._print(line)

    async def show_held(self) -> None:
        """One line when the jobs a spending cap holds change: how many, which caps, how to release them."""
        held = self.ctx.engine.held()
        if held == self.held:
            return
        released = [i for i in self.held if i not in held]
        self.held = held
        if held:
            by_cap: dict[str, list[int]] = {}
            for job_id, reason in held.items():
                by_cap.setdefault(reason.removeprefix("held: "), []).append(job_id)
            for cap, ids in by_cap.items():
                self._print(
                    f"held: {len(ids)} job(s) not sent, {cap} ({_ids(ids)}); raise [budget] in "
                    f"{self.ctx.paths.settings}, or they are sent when the period turns"
                )
        elif released:
            self._print(f"released: {len(released)} held job(s) are within the budget now")

    def _print(self, line: str) -> None:
        if not self.quiet:
            print(safe(line), flush=True)

    async def _lines(self, job: Job) -> list[str]:
        state, head = job.state, f"job {job.id}"
        if state is JobState.DONE:
            assets = await self.ctx.store.assets(job.id)
            files = [a.path for a in assets if a.path]
            if not files:
                return [f"{head} done (no file: {len(assets)} text result(s), see `qwentui show {job.id}`)"]
            return [f"{head} done: {path}" for path in files]
        error = ": ".join(part for part in (job.error_code, job.error_message) if part)
        if state is JobState.NEEDS_USER:
            why = job.error_message or "it cannot go on by itself"
            return [f"{head} needs you: {why} (`qwentui show {job.id}`, then `qwentui resolve {job.id}`)"]
        if state in (JobState.FAILED, JobState.REJECTED, JobState.EXPIRED):
            return [f"{head} {state.value}" + (f": {error}" if error else "")]
        if state is JobState.CANCELED:
            return [f"{head} canceled"]
        return [f"{head}: {state.value}" + (f" task {job.task_id}" if job.task_id else "")]

    @property
    def settled(self) -> dict[JobState, list[int]]:
        """The jobs that settled while this ran, by how they ended."""
        by_state: dict[JobState, list[int]] = {}
        for job_id, state in self._settled.items():
            by_state.setdefault(state, []).append(job_id)
        return by_state

    def bad(self) -> list[tuple[JobState, list[int]]]:
        settled = self.settled
        return [(s, settled[s]) for s in BAD_ENDINGS if settled.get(s)]

    def summary(self) -> str:
        settled = self.settled
        if not settled:
            return "idle: no job settled" + self._held_words()
        parts = [f"{len(ids)} {state.value}" for state, ids in sorted(settled.items())]
        text = f"idle: {len(self._settled)} job(s) settled: {', '.join(parts)}"
        bad = self.bad()
        if bad:
            which = "; ".join(f"{state.value}: {_ids(ids)}" for state, ids in bad)
            text += f" — not all went well ({which}); `qwentui show N` tells why"
        return text + self._held_words()

    def _held_words(self) -> str:
        if not self.held:
            return ""
        return f"; {len(self.held)} job(s) held by a spending cap, not sent ({_ids(list(self.held))})"


def _ids(ids: list[int]) -> str:
    ids = sorted(ids)
    shown = ", ".join(str(i) for i in ids[:10])
    return (
        f"job {shown}" if len(ids) == 1 else f"jobs {shown}" + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    )
