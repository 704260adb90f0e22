"""Chaos: the engine as a real process, SIGKILLed at random moments against a simulator with every fault on,
then a run to the end with the faults off. Nothing is lost, nothing is sent twice, every file is intact.

Below the chaos run are the targeted tests of what earlier chaos runs found (each failed before its fix):
a restart right after a kill waited LEASE_TTL for the dead process's lease; a sync call that ended ambiguously,
and a job that could never be sent, hit a transition the state machine did not allow and stayed SUBMITTING.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Literal

import pytest

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.engine import Engine
from qwentui.core.limiter import RateLimiter
from qwentui.core.reconcile import ReconcileOutcome
from qwentui.core.requests import GenerationRequest
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.sim import SimConfig, running
from tests.faults.chaos_run import ChaosPlan, run_chaos
from tests.faults.helpers import engine_cmd, engine_env, queue_requests
from tests.helpers import SimHarness, engine_config, fast_sim_config, poll_until, running_engine, wait_for

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: a fault suite


@pytest.mark.slow
def test_chaos_kills_and_faults_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    report = run_chaos(tmp_path / "chaos", ChaosPlan(jobs=60, kills=6, seed=7, run_requests=(10, 60)))
    summary = "\n".join(report.lines())
    assert report.kills >= 4, summary  # most engine lives ended in a SIGKILL, not by running out of work
    assert report.final_ok, summary  # it ran to idle; its exit code says whether a job it settled ended badly
    faults = report.faults_seen
    assert faults["dropped"] + faults["5xx"] + faults["throttled"] > 0, "the faults were really served"
    outcome = report.outcome
    assert not outcome.unsettled, summary  # every job terminal, or NEEDS_USER with a reason
    assert outcome.duplicates == {}, summary  # no job created two tasks
    assert not outcome.misadopted, summary  # no job follows a task that another job's POST created
    assert not outcome.sha_mismatches, summary
    assert not outcome.part_files, summary
    assert outcome.integrity == "ok", summary
    assert outcome.states["done"] >= 30, summary  # the faults did not stop the work itself
    assert not report.log_problems, summary  # no engine loop crashed on the way


# ---- what the chaos found ---------------------------------------------------------------------------------


async def _lease_holder(db: Path) -> int | None:
    async with await Store.open(db) as store:
        lease = await store.lease()
        return lease.pid if lease else None


@pytest.mark.slow
def test_a_restart_right_after_a_kill_takes_over_the_dead_engines_lease(tmp_path: Path) -> None:
    """Before: the killed engine's lease blocked every new process for up to 15 s, and `submit` said "another
    qwentui process is running the engine; it will send this job" although none was; the job sat queued."""
    db, out, home = tmp_path / "jobs.db", tmp_path / "out", tmp_path / "home"
    config = SimConfig(seed=5, pending_seconds=5.0, running_seconds=5.0, task_query_qps=None)
    with running(config) as server:
        asyncio.run(queue_requests(db, [GenerationRequest(mode=Mode.T2V, prompt="a long video")]))
        proc = subprocess.Popen(
            engine_cmd(db, out, server.base_url, "run", "--quiet"),
            env=engine_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def holds_the_lease() -> bool:
            assert proc.poll() is None, f"the engine exited ({proc.returncode}) before it took the lease"
            return asyncio.run(_lease_holder(db)) == proc.pid

        try:
            wait_for(holds_the_lease, timeout=60, what="the engine to take the lease", interval=0.1)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        server.sim.config.pending_seconds = server.sim.config.running_seconds = 0.1
        done = subprocess.run(
            engine_cmd(db, out, server.base_url, "submit", "a fox", "--wait", "--timeout", "60"),
            env=engine_env(home),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "another qwentui process" not in done.stderr, done.stderr
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip().splitlines()[-1]).is_file()
        assert server.sim.duplicates() == {}


async def test_a_sync_call_that_ends_ambiguously_asks_the_user(tmp_path: Path, store: Store) -> None:
    """Before: SUBMITTING -> NEEDS_USER was not in the state machine; the engine loop crashed on it and the
    job stayed SUBMITTING until the next restart."""
    harness = SimHarness(fast_sim_config(drop_after_rate=1.0))
    async with running_engine(tmp_path, store, harness) as eng:
        job = await eng.add(GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="a sync call"))
        (job,) = await eng.wait_for([job.id], timeout=30)
    assert job.state is JobState.NEEDS_USER
    assert job.error_code == "Uncertain" and "not sent again" in (job.error_message or "")
    assert eng.errors == []
    assert len(harness.sim.find_tasks(prompt="a sync call")) == 1


async def test_a_job_that_can_never_be_sent_ends_asking_the_user(tmp_path: Path, store: Store) -> None:
    """Connection refused every time: retried (nothing was sent, nothing billed), then NEEDS_USER with the
    reason. Before: that last move was not in the state machine and the job stayed SUBMITTING."""
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = DashScopeClient(
        ApiKey("sk-test0000000000000000000000000000", "test"),
        f"http://127.0.0.1:{port}/api/v1",
        limiter=RateLimiter(rate=1000.0, burst=1000.0),
    )
    policy = SchedulePolicy(interval=0.002, max_interval=0.01, time_scale=0.001)
    eng = Engine(store, client, engine_config(tmp_path, policy=policy))
    await eng.start()
    try:
        job = await eng.add(GenerationRequest(mode=Mode.T2I, prompt="never reaches anyone"))
        (job,) = await eng.wait_for([job.id], timeout=60)
    finally:
        await eng.stop()
        await client.aclose()
    assert job.state is JobState.NEEDS_USER
    assert job.error_code == "NotSent" and "nothing was billed" in (job.error_message or "")
    assert eng.errors == []


class SlowAnswers:
    """ASGI middleware: the answer to a generation POST is held back `delay` seconds after the task exists (a
    slow network on the way back), so a reconcile round can list the task before its job has committed it.
    With `hold` set, answers wait for that event instead, so a test decides when they arrive."""

    def __init__(self, app: object, delay: float = 0.0, hold: asyncio.Event | None = None) -> None:
        self.app = app
        self.delay = delay
        self.hold = hold
        self.active = False

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        slow = (
            self.active
            and scope.get("type") == "http"
            and scope.get("method") == "POST"
            and "/services/aigc/" in scope.get("path", "")
        )

        async def delayed_send(message: dict) -> None:
            if slow and message["type"] == "http.response.start":
                if self.hold is not None:
                    await self.hold.wait()
                else:
                    await asyncio.sleep(self.delay)
            await send(message)  # type: ignore[operator]

        await self.app(scope, receive, delayed_send)  # type: ignore[operator]


class WatchedLock(asyncio.Lock):
    """The per-model lock the submitter and the reconciler share, counting who asked for it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def acquire(self) -> Literal[True]:
        self.asked += 1
        return await super().acquire()


def _count_rounds(eng: Engine) -> list[ReconcileOutcome]:
    """From now on, every reconcile round the engine completes is appended to the list returned."""
    done: list[ReconcileOutcome] = []
    round_ = eng.reconciler.round

    async def counted() -> ReconcileOutcome:
        outcome = await round_()
        done.append(outcome)
        return outcome

    eng.reconciler.round = counted  # type: ignore[method-assign]
    return done


async def test_reconcile_never_adopts_the_task_of_a_post_still_in_flight(tmp_path: Path, store: Store) -> None:
    """Found by bench/chaos.py: job A's POST failed before reaching the service (a 500 storm) and A was being
    reconciled while job B's POST of the same model was in flight, its task created but not yet committed.
    The list showed B's task unowned in A's window, so A adopted it; B then had to be reconciled, found "its"
    task owned, was declared never sent and was sent again: a second billed task, and A showed B's result."""
    import httpx

    harness = SimHarness(fast_sim_config(pending_seconds=0.2, running_seconds=0.3))
    answer_b = asyncio.Event()
    slow = SlowAnswers(harness.app, hold=answer_b)
    harness.transport = httpx.ASGITransport(app=slow)  # type: ignore[arg-type]
    eng = Engine(
        store, harness.client(), engine_config(tmp_path, reconcile_settle=0.2), download_http=harness.download_client()
    )
    request_a = GenerationRequest(mode=Mode.T2V, prompt="job a: its POST never arrived")
    lock = eng.submitter.model_locks[request_a.model_name] = WatchedLock()
    rounds = _count_rounds(eng)
    await eng.start()
    try:
        harness.sim.config.storm_rate, harness.sim.config.storm_statuses = 1.0, (500,)
        a = await eng.add(request_a)

        async def a_uncertain() -> bool:
            job = await store.get_job(a.id)
            return job is not None and job.state is JobState.UNCERTAIN

        await poll_until(a_uncertain, timeout=30, what="job a uncertain", interval=0.01)
        harness.sim.config.storm_rate = 0.0
        slow.active = True
        b = await eng.add(GenerationRequest(mode=Mode.T2V, prompt="job b: slow answer"))
        await poll_until(
            lambda: harness.sim.find_tasks(prompt="job b: slow answer"), timeout=30, what="job b's task", interval=0.01
        )
        # B's POST holds the model's lock until its answer comes. A's reconcile must wait for it: answer B once
        # the reconciler asks for the lock (or, were it not to ask, once it has finished a round without it)
        asked, finished = lock.asked, len(rounds)
        await poll_until(
            lambda: lock.asked > asked or len(rounds) > finished, timeout=60, what="a reconcile round for job a"
        )
        slow.active = False
        answer_b.set()
        done = await eng.wait_for([a.id, b.id], timeout=60)
    finally:
        await eng.stop()
    for job in done:
        if job.task_id:
            task = harness.sim.task(job.task_id)
            assert task is not None and task.job.prompt == job.prompt, f"job {job.id} follows another job's task"
    assert harness.sim.duplicates() == {}, "a task was created twice for one job"
    assert eng.errors == [], eng.errors
    assert [j.state for j in done] == [JobState.DONE, JobState.DONE], [(j.state, j.error_message) for j in done]


async def test_reconcile_never_adopts_a_task_another_uncertain_job_may_own(store: Store) -> None:
    """Job A's POST created a task but its answer was lost; job B's POST, just after, created nothing. When B
    is reconciled while A is not due (its round was postponed), A's task is the one unowned task in B's window.
    Before: B adopted it (B would show A's result, and A, finding its task owned, would be sent again)."""
    import json

    from qwentui.core.errors import ServerError
    from qwentui.core.reconcile import Reconciler
    from qwentui.core.requests import build

    harness = SimHarness(fast_sim_config(pending_seconds=0.1, running_seconds=0.1))
    a_req = GenerationRequest(mode=Mode.T2V, prompt="job a: answer lost")
    b_req = GenerationRequest(mode=Mode.T2V, prompt="job b: never arrived")
    sent: dict[str, float] = {}
    async with harness.client() as client:
        for name, req, knob in (("a", a_req, "error_after_rate"), ("b", b_req, "storm_rate")):
            setattr(harness.sim.config, knob, 1.0)
            harness.sim.config.storm_statuses = (500,)
            sent[name] = time.time()
            with pytest.raises(ServerError):
                await client.submit(build(req))
            setattr(harness.sim.config, knob, 0.0)
        assert len(harness.sim.find_tasks(prompt=a_req.prompt)) == 1 and not harness.sim.find_tasks(prompt=b_req.prompt)
        ids = {}
        for name, req in (("a", a_req), ("b", b_req)):
            job = await store.add_job(req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt)
            await store.transition(
                job.id, JobState.SUBMITTING, submitted_at=sent[name], wire_json=json.dumps(build(req).body)
            )
            later = time.time() + (1000 if name == "a" else 0)  # A's round was postponed; B is due now
            await store.transition(job.id, JobState.UNCERTAIN, detail="HTTP 500", next_check_at=later)
            ids[name] = job.id
        reconciler = Reconciler(store, client, SchedulePolicy(interval=0.01), time.time, settle=0.0)
        for _ in range(3):
            await reconciler.round()
        b = await store.get_job(ids["b"])
        assert b is not None and b.task_id is None, "B adopted the task of A's POST"
        await store.update_fields(ids["a"], next_check_at=time.time())

        async def settled() -> bool:
            await reconciler.round()
            a, b = await store.get_job(ids["a"]), await store.get_job(ids["b"])
            return a is not None and b is not None and a.task_id is not None and b.state is JobState.QUEUED

        # A's finished task echoes A's prompt: A follows it, and B, with no other task in its window, was
        # proved never to have arrived (before content matching, B asked the user)
        await poll_until(settled, timeout=30, what="A to follow its task and B to be sent again", interval=0.02)
        a, b = await store.get_job(ids["a"]), await store.get_job(ids["b"])
    assert a is not None and b is not None
    assert b.task_id is None
    assert a.task_id == harness.sim.find_tasks(prompt=a_req.prompt)[0].task_id
