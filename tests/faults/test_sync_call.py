"""A sync call outlives the engine that sent it (qwentui/core/sync_call.py): its helper process hears the
answer, and the next engine takes it from there. Before, a kill during a sync call left the job to the user
("may have produced (and billed) a result that was lost") in about one kill in two of the chaos run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.states import JobState
from qwentui.core.sync_call import Left, SyncCalls, exchange
from qwentui.sim import SimConfig, running
from tests.faults.helpers import engine_cmd, engine_env, queue_requests, read_jobs_sync
from tests.helpers import wait_for
from tests.helpers.sim import TEST_KEY


def test_what_a_crash_left_of_a_call_says_whether_it_was_sent(tmp_path: Path) -> None:
    """A ticket no helper took is taken back, and so provably never sent; a call whose helper holds its lock
    is waited for; one whose helper is gone without an answer is lost; an answer is the answer."""
    calls = SyncCalls(tmp_path)
    untaken, at_work, lost, answered = (calls.files(n) for n in ("untaken", "at-work", "lost", "answered"))
    untaken.ticket.write_text("{}")
    at_work.sending.write_text("{}")
    lost.sending.write_text("{}")
    answered.sending.write_text("{}")
    answered.answer.write_text(json.dumps({"status": 200, "headers": [], "body": ""}))
    helper = os.open(at_work.sending, os.O_RDONLY)  # what a live helper holds
    fcntl.flock(helper, fcntl.LOCK_EX)
    try:
        assert calls.settle("untaken") is Left.NOT_SENT
        assert untaken.void.exists() and not untaken.ticket.exists(), "a helper starting now finds no ticket"
        assert calls.settle("at-work") is Left.IN_FLIGHT
        assert calls.settle("lost") is Left.LOST
        assert calls.settle("answered") == {"status": 200, "headers": [], "body": ""}
        assert calls.settle("never-made") is Left.LOST and not calls.left_by("never-made")
    finally:
        os.close(helper)
    assert calls.settle("at-work") is Left.LOST  # its helper ended without an answer
    calls.forget("answered")
    assert not calls.left_by("answered")


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["during the call", "before_post"])
def test_a_sync_call_outlives_the_engine_killed_while_waiting_for_it(tmp_path: Path, kill: str) -> None:
    """The engine is SIGKILLed while the simulator works on its sync call (1 s), or right after the job was
    committed as sending, before any helper started (`before_post`). Before: the restart found the job
    SUBMITTING with no task to look for and asked the user. Now the helper wrote the answer, and the restart
    takes the results from it; or the ticket no helper took proves the call was never sent, and it is sent
    now. Either way: done, sent once, and no file of the call is left."""
    db, out, home = tmp_path / "jobs.db", tmp_path / "out", tmp_path / "home"
    config = SimConfig(seed=5, pending_seconds=0.5, running_seconds=0.5, task_query_qps=None)
    request = GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="a sync call across a kill")
    with running(config) as server:
        asyncio.run(queue_requests(db, [request]))
        cmd = engine_cmd(db, out, server.base_url, "run", "--until-idle")
        env = engine_env(home, **({"QWENTUI_CRASHPOINT": kill} if kill == "before_post" else {}))
        engine = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if kill == "during the call":
                wait_for(lambda: len(server.sim.submissions) == 1, timeout=60, what="the sync POST at the simulator")
            else:
                engine.wait(timeout=60)
                assert not server.sim.submissions
        finally:
            engine.send_signal(signal.SIGKILL)
            engine.wait(timeout=30)
        assert engine.returncode == -signal.SIGKILL
        rc = subprocess.run(cmd, env=engine_env(home), capture_output=True, timeout=120).returncode
        ((job, assets),) = read_jobs_sync(db)
        assert job.state is JobState.DONE, (rc, job.state, job.error_message)
        assert len(server.sim.submissions) == 1 and len(assets) == 1
    assert not list((tmp_path / "calls").iterdir()), "the call's files go once it is settled"


def test_the_helper_sends_its_post_only_once_the_service_answers_a_probe_well() -> None:
    """A storm (every answer a 500) begins after the engine decided to send: the engine's view is seconds old
    once its helper has started. Before: the helper sent the POST into the storm, met a 500, and the job asked
    the user (it may have been billed). Now the helper probes one row of the task list right before the POST,
    and sends once a probe is answered well."""
    config = SimConfig(seed=3, pending_seconds=0.0, running_seconds=0.0, task_query_qps=None)
    config.storm_rate, config.storm_statuses = 1.0, (500,)
    with running(config) as server:
        api = server.base_url.rstrip("/") + "/api/v1"
        wire = build(GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="sync: after the storm"))
        spec = {
            "url": api + wire.route.value,
            "probe_url": api + "/tasks?page_no=1&page_size=1",
            "headers": {"Content-Type": "application/json"},
            "body": wire.body,
            "timeout": 30.0,
            "connect_timeout": 5.0,
        }
        posts = f"POST /api/v1{wire.route.value}"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(exchange, spec, TEST_KEY)
            wait_for(lambda: server.sim.requests["GET /api/v1/tasks"] >= 2, timeout=10, what="two probes")
            assert server.sim.requests[posts] == 0 and not answer.done(), "nothing was sent into the storm"
            config.storm_rate = 0.0
            assert answer.result(timeout=10)["status"] == 200
        assert server.sim.requests[posts] == 1
