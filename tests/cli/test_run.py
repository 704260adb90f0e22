"""`qwentui run` tells every job's outcome as it happens and `--until-idle` fails when a job did; `submit --wait`
follows its job through the database when another process runs the engine. Against the simulator on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwentui.cli import main
from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import Mode
from qwentui.core.config import ApiKey
from qwentui.core.engine import Engine, EngineConfig
from qwentui.core.requests import GenerationRequest
from qwentui.core.schedule import SchedulePolicy
from qwentui.core.states import JobState
from qwentui.core.store import Store
from qwentui.sim import BackgroundServer, SimConfig, running

KEY = "sk-runtest000000000000000000000000000"
SIM = {"pending_seconds": 0.05, "running_seconds": 0.1, "seed": 5, "task_query_qps": None}


@pytest.fixture(scope="module")
def failing() -> Iterator[BackgroundServer]:
    with running(SimConfig(failure_rate=1.0, **SIM)) as srv:  # type: ignore[arg-type]
        yield srv


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with running(SimConfig(**SIM)) as srv:  # type: ignore[arg-type]
        yield srv


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("QWEN_API_KEY", "DASHSCOPE_API_KEY", "QWEN_BASE_URL", "QWEN_REGION", "QWENTUI_DB"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return tmp_path


def qwentui(env: Path, server: BackgroundServer, *args: str) -> int:
    base = ["--db", str(env / "jobs.db"), "--output", str(env / "out"), "--time-scale", "0.01"]
    return main([*base, "--base-url", server.base_url, *args])


async def queue_jobs(db: Path, prompts: list[str]) -> list[int]:
    """Jobs added to the database as another process would (nothing sends them until `run` does)."""
    async with await Store.open(db) as store:
        ids = []
        for prompt in prompts:
            request = GenerationRequest(mode=Mode.T2I, prompt=prompt)
            job = await store.add_job(request.to_dict(), source="cli")
            ids.append(job.id)
        return ids


def test_run_until_idle_prints_each_failure_and_exits_non_zero(
    env: Path, failing: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(queue_jobs(env / "jobs.db", ["a stormy sea", "a quiet harbour"]))
    assert qwentui(env, failing, "run", "--until-idle", "--no-drop") == 1
    out, err = capsys.readouterr()
    for job_id in ids:
        (line,) = [x for x in out.splitlines() if x.startswith(f"job {job_id} failed")]
        code, _, message = line.removeprefix(f"job {job_id} failed: ").partition(": ")
        assert code and message, line  # the service's code and message
    summary = err.strip().splitlines()[-1]
    assert "2 failed" in summary and f"jobs {ids[0]}, {ids[1]}" in summary
    assert "Traceback" not in err


def test_run_until_idle_prints_the_files_of_each_job_done(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (job_id,) = asyncio.run(queue_jobs(env / "jobs.db", ["an orange lighthouse"]))
    assert qwentui(env, server, "run", "--until-idle", "--no-drop") == 0
    out, err = capsys.readouterr()
    (line,) = [x for x in out.splitlines() if x.startswith(f"job {job_id} done: ")]
    assert Path(line.removeprefix(f"job {job_id} done: ")).is_file()
    assert "1 done" in err.strip().splitlines()[-1]


def test_run_until_idle_quiet_still_fails_and_says_which(
    env: Path, failing: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (job_id,) = asyncio.run(queue_jobs(env / "jobs.db", ["fog"]))
    assert qwentui(env, failing, "run", "--until-idle", "--no-drop", "--quiet") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"failed: job {job_id}" in err


async def test_submit_wait_follows_the_job_while_another_process_runs_the_engine(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # the other process (a TUI, say): it holds the engine lease and sends and downloads every job
    store = await Store.open(env / "jobs.db")
    client = DashScopeClient(ApiKey(KEY, "test"), server.api_url)
    config = EngineConfig(output_dir=env / "tui-out", policy=SchedulePolicy(interval=0.05, time_scale=0.01), tick=0.05)
    engine = Engine(store, client, config)
    try:
        assert await engine.start()
        code = await asyncio.to_thread(qwentui, env, server, "submit", "a red fox", "--wait")
    finally:
        await engine.stop()
        await client.aclose()
        await store.close()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "another qwentui process is running the engine" in err
    (path,) = out.strip().splitlines()
    assert Path(path).is_file() and Path(path).parent == env / "tui-out"


def test_run_until_idle_tells_a_job_that_needs_the_user(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async def interrupted_sync_call() -> int:  # as a kill during a synchronous generation call leaves it
        async with await Store.open(env / "jobs.db") as store:
            request = GenerationRequest(mode=Mode.T2I, model="qwen-image-2.0", prompt="a sync poster")
            job = await store.add_job(request.to_dict(), source="cli", state=JobState.SUBMITTING, wire={"x": 1})
            return job.id

    job_id = asyncio.run(interrupted_sync_call())
    assert qwentui(env, server, "run", "--until-idle", "--no-drop") == 1  # the start-up hands it to the user
    out, err = capsys.readouterr()
    assert f"job {job_id} needs you: " in out and f"qwentui resolve {job_id}" in out
    assert f"needs_user: job {job_id}" in err.strip().splitlines()[-1]


def test_run_until_idle_tells_the_jobs_a_spending_cap_holds_and_stops_with_them(
    env: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    home = env / "home"
    home.mkdir(exist_ok=True)
    (home / "settings.toml").write_text("[budget]\ndaily = 0.0601\n", encoding="utf-8")  # two 0.03 USD jobs
    batch = env / "four.txt"
    batch.write_text("one\ntwo\nthree\nfour\n", encoding="utf-8")
    assert qwentui(env, server, "batch", str(batch)) == 0
    capsys.readouterr()

    assert qwentui(env, server, "run", "--until-idle", "--no-drop") == 1  # jobs are held: not all done
    captured = capsys.readouterr()
    assert "job 1 done" in captured.out and "job 2 done" in captured.out
    assert "job 3 done" not in captured.out
    *_, held = [line for line in captured.out.splitlines() if line.startswith("held:")]  # as it was at the end
    assert "2 job(s) not sent, the daily budget is 0.0601 USD (jobs 3, 4)" in held
    assert "raise [budget] in" in held and "settings.toml" in held
    assert "2 done" in captured.err and "2 job(s) held by a spending cap, not sent (jobs 3, 4)" in captured.err

    (home / "settings.toml").write_text("[budget]\ndaily = 1\n", encoding="utf-8")
    assert qwentui(env, server, "run", "--until-idle", "--no-drop") == 0  # the cap raised: they go
    captured = capsys.readouterr()
    assert "job 3 done" in captured.out and "job 4 done" in captured.out and "held" not in captured.err
