"""The chaos run, shared by `tests/faults/test_chaos.py` (CI size) and `bench/chaos.py` (the long variant).

The simulator runs on loopback with every fault knob on: 429/500/503 storms with Retry-After, connections
dropped before and after the request, 500s for work that was done, slow answers, truncated downloads and tasks
that fail. The engine runs as a real process (`python -m qwentui ... run --until-idle`) and is killed with
SIGKILL at random moments, then started again; jobs are added while that goes on. A last run with the faults
off takes everything to the end, and `check_run` says what it left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qwentui.cli.run import BAD_ENDINGS
from qwentui.core.catalog import lookup
from qwentui.core.states import JobState
from qwentui.sim import BackgroundServer, SimConfig, running
from tests.faults.helpers import (
    Outcome,
    check_run,
    engine_cmd,
    engine_env,
    mixed_requests,
    queue_requests,
    read_jobs_sync,
    sample_png,
)
from tests.helpers import wait_for


@dataclass
class ChaosPlan:
    jobs: int = 60
    kills: int = 6
    seed: int = 7
    run_seconds: tuple[float, float] = (1.5, 5.0)  # how long each engine process lives before its SIGKILL
    # or, when set, how many requests the simulator serves each engine life before its SIGKILL: the same plan
    # then does the same on a loaded machine, where seconds could pass before an engine has even started
    run_requests: tuple[int, int] | None = None
    late_fraction: float = 0.3  # this share of the jobs is added half-way, while the engine is being killed
    final_timeout: float = 150.0
    verbose: bool = False  # engine logs at INFO (-v) in the run logs


@dataclass
class ChaosReport:
    outcome: Outcome
    kills: int = 0
    runs: int = 0
    final_rc: int | None = None
    final_summary: str = ""  # the final run's "idle: ..." line
    log_problems: list[str] = field(default_factory=list)  # tracebacks / engine loop errors in the logs
    submissions: int = 0
    faults_seen: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # why the jobs that ask the user do: the first words of their reason, counted (a sync call has no task to
    # look for; an ambiguous reconcile names its candidates)
    needs_user: Counter[str] = field(default_factory=Counter)

    @property
    def final_ok(self) -> bool:
        """The final run reached idle: exit 0, or 1 because a job it settled ended failed or asks the user
        (`run --until-idle` says so by its exit code; under faults that is a correct outcome, not a crash)."""
        if not self.final_summary.startswith("idle:"):
            return False
        bad = any(state.value in self.final_summary for state in BAD_ENDINGS)
        return self.final_rc == (1 if bad else 0)

    def lines(self) -> list[str]:
        return [
            f"engine runs: {self.runs}, SIGKILLs: {self.kills}, final run exit code: {self.final_rc}",
            f"final run: {self.final_summary or 'no summary line'}",
            f"POSTs seen by the simulator: {self.submissions}; faults served: {self.faults_seen}",
            *self.outcome.lines(),
            "needs_user by reason: " + (", ".join(f"{why} {n}" for why, n in self.needs_user.most_common()) or "none"),
            f"tracebacks or engine loop errors in the logs: {len(self.log_problems)} {self.log_problems[:3]}",
            f"wall time: {self.seconds:.0f} s",
        ]


def chaos_config(seed: int) -> SimConfig:
    return SimConfig(
        seed=seed,
        pending_seconds=0.3,
        running_seconds=0.9,
        task_query_qps=20.0,
        storm_rate=0.06,
        storm_statuses=(429, 500, 503),
        storm_retry_after=1,
        drop_before_rate=0.04,
        drop_after_rate=0.04,
        error_after_rate=0.04,
        truncate_rate=0.25,
        failure_rate=0.08,
        partial_failure_rate=0.1,
    )


def calm(config: SimConfig) -> None:
    """Every fault off (the account and the task durations stay as they were)."""
    config.storm_rate = config.drop_before_rate = config.drop_after_rate = config.error_after_rate = 0.0
    config.truncate_rate = config.failure_rate = config.partial_failure_rate = config.slow_seconds = 0.0
    config.storm_windows = []


def run_chaos(workdir: Path, plan: ChaosPlan, say: Callable[[str], None] = lambda _: None) -> ChaosReport:
    started = time.monotonic()
    rng = random.Random(plan.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    db, out, logs, home = workdir / "jobs.db", workdir / "out", workdir / "logs", workdir / "home"
    logs.mkdir(exist_ok=True)
    photos = [sample_png(workdir / f"photo{i}.png", seed=i) for i in range(3)]
    late = int(plan.jobs * plan.late_fraction)
    first = mixed_requests(plan.jobs - late, photos, tag="a")
    second = mixed_requests(late, photos, tag="b")
    config = chaos_config(plan.seed)
    report = ChaosReport(Outcome())
    with running(config) as server:
        asyncio.run(queue_requests(db, first))
        for k in range(plan.kills):
            _vary_faults(server, rng, k)
            log = logs / f"run{k}.log"
            with log.open("wb") as sink:
                cmd = engine_cmd(db, out, server.base_url, "run", "--until-idle", verbose=plan.verbose)
                proc = subprocess.Popen(cmd, env=engine_env(home), stdout=sink, stderr=subprocess.STDOUT)
                report.runs += 1
                if plan.run_requests is None:
                    try:
                        proc.wait(timeout=rng.uniform(*plan.run_seconds))
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal.SIGKILL)
                        report.kills += 1
                else:
                    _serve_then_kill(server, proc, rng.randint(*plan.run_requests))
                    report.kills += proc.returncode == -signal.SIGKILL
                proc.wait(timeout=30)
            say(f"run {k}: {'killed' if proc.returncode == -signal.SIGKILL else f'exit {proc.returncode}'}")
            if k == plan.kills // 2 and second:
                asyncio.run(queue_requests(db, second))
        calm(server.sim.config)
        with (logs / "final.log").open("wb") as sink:
            final = subprocess.run(
                engine_cmd(db, out, server.base_url, "run", "--until-idle", verbose=plan.verbose),
                env=engine_env(home),
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=plan.final_timeout,
            )
        report.runs += 1
        report.final_rc = final.returncode
        idle = [line for line in (logs / "final.log").read_text(errors="replace").splitlines() if "idle:" in line]
        report.final_summary = idle[-1][idle[-1].index("idle:") :] if idle else ""
        report.outcome = check_run(db, server.sim, [out, workdir])
        report.needs_user = needs_user_causes(db)
        report.submissions = len(server.sim.submissions)
        report.faults_seen = {
            "throttled": server.sim.throttled,
            "dropped": server.sim.dropped,
            "5xx": sum(n for status, n in server.sim.statuses.items() if status >= 500),
            "lost_answers": sum(1 for s in server.sim.submissions if s.outcome in ("dropped_after", "error_after")),
        }
    for log in sorted(logs.iterdir()):
        text = log.read_text(errors="replace")
        for marker in ("Traceback", "engine loop", "IllegalTransition"):
            if marker in text:
                report.log_problems.append(f"{log.name}: {_around(text, marker)}")
    report.seconds = time.monotonic() - started
    return report


def needs_user_causes(db: Path) -> Counter[str]:
    """Why each job that asks the user does, by what ended its last POST: an ambiguous reconcile (the task list
    and the tasks could not decide), or for a sync call (no task to look for) the kill, the 5xx or the transport
    error that cut it."""
    causes: Counter[str] = Counter()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        asked = {job.id: job for job, _ in read_jobs_sync(db) if job.state is JobState.NEEDS_USER}
        for job_id, job in asked.items():
            row = conn.execute(
                "SELECT detail FROM job_events WHERE job_id = ? AND to_state = 'needs_user' ORDER BY id DESC LIMIT 1",
                (job_id,),
            ).fetchone()
            detail = row[0] if row else ""
            kind = "task list" if lookup(job.model, job.mode).is_async else "sync call"
            if detail.startswith("sync call interrupted: "):
                why = detail.removeprefix("sync call interrupted: ")
                if why.startswith("qwentui restarted"):
                    cause = "engine killed"
                elif why.startswith("connection to "):  # "connection to HOST failed: ErrorType message"
                    cause = "connection lost, " + why.partition("failed: ")[2].split(" ")[0]
                else:  # "CODE (HTTP n): message", "HOST did not answer in time (ReadTimeout)"
                    cause = why.split(":")[0].split(" [")[0]
                causes[f"{kind}: {cause[:60]}"] += 1
            else:
                causes[f"{kind}: {job.error_code} ({detail[:40]})"] += 1
    return causes


def _serve_then_kill(server: BackgroundServer, proc: subprocess.Popen[bytes], requests: int) -> None:
    """SIGKILL `proc` once the simulator has served it `requests` more requests, unless it ends first."""
    target = sum(server.sim.requests.values()) + requests
    with contextlib.suppress(AssertionError):  # stuck for two minutes: killed all the same
        wait_for(
            lambda: proc.poll() is not None or sum(server.sim.requests.values()) >= target,
            timeout=120,
            what=f"{requests} requests from the engine",
            interval=0.01,
        )
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _vary_faults(server: BackgroundServer, rng: random.Random, k: int) -> None:
    """Each engine life meets a slightly different mix: sometimes slow answers, sometimes a storm window."""
    config = server.sim.config
    config.slow_seconds = rng.choice([0.0, 0.0, 0.05, 0.3])
    since = config.clock() - server.sim.started_at
    config.storm_windows = [(since + 0.5, since + 1.5)] if rng.random() < 0.4 else []


def _around(text: str, marker: str, width: int = 300) -> str:
    at = text.index(marker)
    return text[max(0, at - 100) : at + width].replace("\n", " | ")
