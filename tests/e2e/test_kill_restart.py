"""Real processes: the engine runs as `python -m qwentui run` against the simulator on loopback (uvicorn) and is
killed with SIGKILL at chosen points; after a restart every job reaches a terminal state, the simulator saw no
duplicate submission, and every file matches the simulator's sha256."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwentui.core import provenance
from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import TERMINAL, JobState
from qwentui.core.store import Store
from qwentui.sim import BackgroundServer, SimConfig, running
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

KEY = "sk-e2etest000000000000000000000000"


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    config = SimConfig(pending_seconds=0.3, running_seconds=0.7, seed=3, task_query_qps=20.0)
    with running(config) as srv:
        yield srv


def engine_cmd(db: Path, out: Path, server: BackgroundServer) -> list[str]:
    return [
        sys.executable,
        "-m",
        "qwentui",
        "--db",
        str(db),
        "--output",
        str(out),
        "--base-url",
        server.base_url,
        "--time-scale",
        "0.02",
        "run",
        "--until-idle",
        "--quiet",
    ]


def engine_env(tmp_path: Path, crashpoint: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QWEN_API_KEY", "DASHSCOPE_API_KEY")}
    env.update(DASHSCOPE_API_KEY=KEY, QWENTUI_HOME=str(tmp_path / "home"), **extra)
    env.pop("QWENTUI_CRASHPOINT", None)
    if crashpoint:
        env["QWENTUI_CRASHPOINT"] = crashpoint
    return env


async def queue_jobs(db: Path, n: int, mode: Mode = Mode.T2I) -> list[int]:
    store = await Store.open(db)
    try:
        ids = []
        for i in range(n):
            req = GenerationRequest(mode=mode, prompt=f"{mode.value} job {i}")
            job = await store.add_job(
                req.to_dict(), mode=mode.value, model=req.model_name, prompt=req.prompt, source="test"
            )
            ids.append(job.id)
        return ids
    finally:
        await store.close()


async def read_jobs(db: Path) -> list:
    store = await Store.open(db)
    try:
        jobs = await store.list_jobs(limit=10_000)
        return [(j, await store.assets(j.id)) for j in jobs]
    finally:
        await store.close()


def run_engine(cmd: list[str], env: dict[str, str], timeout: float = 120) -> int:
    return subprocess.run(cmd, env=env, timeout=timeout, capture_output=True).returncode


def check_outcome(jobs: list, server: BackgroundServer, tmp_path: Path) -> None:
    assert jobs
    for job, assets in jobs:
        assert job.state in TERMINAL, (job.id, job.state, job.error_message)
        assert job.state is JobState.DONE, (job.id, job.state, job.error_code, job.error_message)
        assert assets
        for asset in assets:
            if asset.kind == "text":
                continue
            data = Path(asset.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == asset.sha256  # the file as tagged with its request
            assert provenance.read(Path(asset.path)).source_sha256 == server.sim.file_sha256(asset.url)
    assert server.sim.duplicates() == {}, "no job was submitted twice"
    assert len(server.sim.tasks()) == len(jobs)
    assert not list(tmp_path.rglob("*.part")), "no .part file left behind"


@pytest.mark.parametrize("point", ["before_post", "after_post", "while_following"])
def test_kill_at_a_point_then_restart(point: str, server: BackgroundServer, tmp_path: Path) -> None:
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    asyncio.run(queue_jobs(db, 6, Mode.T2I))
    rc = run_engine(engine_cmd(db, out, server), engine_env(tmp_path, point))
    assert rc == -signal.SIGKILL, f"the engine should have been killed at {point} (rc={rc})"
    assert run_engine(engine_cmd(db, out, server), engine_env(tmp_path)) == 0
    check_outcome(asyncio.run(read_jobs(db)), server, tmp_path)


def test_kill_in_the_middle_of_a_download(server: BackgroundServer, tmp_path: Path) -> None:
    db, out = tmp_path / "jobs.db", tmp_path / "out"
    asyncio.run(queue_jobs(db, 3, Mode.T2V))
    env = engine_env(tmp_path, "mid_download", QWENTUI_DOWNLOAD_CHUNK="1024")
    assert run_engine(engine_cmd(db, out, server), env) == -signal.SIGKILL
    assert list(out.rglob("*.part")), "the kill left a partial download"
    assert run_engine(engine_cmd(db, out, server), engine_env(tmp_path, QWENTUI_DOWNLOAD_CHUNK="1024")) == 0
    check_outcome(asyncio.run(read_jobs(db)), server, tmp_path)


def test_repeated_random_kills(server: BackgroundServer, tmp_path: Path) -> None:
    """Kill the engine at a random moment several times; in the end nothing is lost or sent twice. The moment is
    counted in requests the simulator has served to this engine (1 to 12, seeded), not in seconds: a loaded
    machine could otherwise kill an engine that has not started yet."""
    import random

    db, out = tmp_path / "jobs.db", tmp_path / "out"
    asyncio.run(queue_jobs(db, 10, Mode.T2I))
    asyncio.run(queue_jobs(db, 4, Mode.T2V))
    rng = random.Random(11)
    for _ in range(5):
        proc = subprocess.Popen(
            engine_cmd(db, out, server), env=engine_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        served, more = sum(server.sim.requests.values()), rng.randint(1, 12)
        wait_for(
            lambda: proc.poll() is not None or sum(server.sim.requests.values()) >= served + more,  # noqa: B023
            timeout=60,
            what=f"{more} more requests from the engine",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert run_engine(engine_cmd(db, out, server), engine_env(tmp_path)) == 0
    check_outcome(asyncio.run(read_jobs(db)), server, tmp_path)
