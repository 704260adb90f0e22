"""`qwentui --demo` across restarts, with real processes: the demo keeps its database and its simulated
service's tasks, so an engine killed with SIGKILL mid-flight is followed by one that finishes every job without
sending any twice; every file stays in the data folder; `--reset` starts over."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qwentui.core.catalog import Mode
from qwentui.core.requests import GenerationRequest
from qwentui.core.states import ACTIVE, JobState
from qwentui.core.store import Job, Store
from qwentui.runtime import RuntimeOptions, open_context, paths_for
from qwentui.runtime.demo import DEMO_REQUESTS, prepare_demo, seed_demo
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


def demo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "qwentui", "--demo", *args]


def demo_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QWEN", "DASHSCOPE"))}
    env["QWENTUI_HOME"] = str(home)
    return env


async def queue(db: Path, requests: list[GenerationRequest]) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    store = await Store.open(db)
    try:
        for req in requests:
            await store.add_job(req.to_dict(), mode=req.mode.value, model=req.model_name, prompt=req.prompt)
    finally:
        await store.close()


async def jobs_in(db: Path) -> list[Job]:
    store = await Store.open(db, backup=False)
    try:
        return await store.list_jobs(limit=1000)
    finally:
        await store.close()


def simulated_tasks(state: Path) -> int:
    with sqlite3.connect(state) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM tasks").fetchone()
    return int(count)


def test_the_demo_resumes_after_a_kill_and_reset_starts_over(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db, state, output = home / "demo" / "demo.db", home / "demo" / "simulator.db", home / "demo" / "output"
    requests = [GenerationRequest(mode=Mode.T2V, prompt=f"a paper boat {i}", duration=5) for i in range(3)]
    requests += [GenerationRequest(mode=Mode.T2I, prompt=f"a red fox {i}") for i in range(3)]
    asyncio.run(queue(db, requests))

    engine = subprocess.Popen(
        demo_cmd("run", "--quiet"),
        env=demo_env(home),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # the videos take seconds on the demo's clock: every job is sent, some are still in flight
        wait_for(lambda: all(j.task_id for j in asyncio.run(jobs_in(db))), timeout=120, what="every job sent")
        in_flight = [j for j in asyncio.run(jobs_in(db)) if j.state in ACTIVE]
        engine.send_signal(signal.SIGKILL)
        assert engine.wait(timeout=30) == -signal.SIGKILL
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(timeout=30)
    assert in_flight, "the kill should land while jobs are in flight"

    again = subprocess.run(
        demo_cmd("run", "--until-idle"), env=demo_env(home), cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    jobs = asyncio.run(jobs_in(db))
    assert [j.state for j in jobs] == [JobState.DONE] * len(requests), [(j.id, j.state, j.error_message) for j in jobs]
    assert simulated_tasks(state) == len(requests), "no job was sent twice"
    assert len(list(output.iterdir())) >= len(requests)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"], "every demo file lives in the data folder"

    (db.parent / "demo.db.v1.bak").write_bytes(b"a copy kept before a schema migration")
    reset = subprocess.run(
        demo_cmd("--reset", "jobs", "--json"), env=demo_env(home), cwd=tmp_path, capture_output=True, text=True
    )
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout) == []
    assert not output.exists() and not state.exists()
    assert not list(db.parent.glob("demo.db.v*.bak")), "the copies kept before migrations go too"


def test_reset_refuses_while_the_demo_runs_and_a_named_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    asyncio.run(queue(home / "demo" / "demo.db", [GenerationRequest(mode=Mode.T2V, prompt="a slow boat")]))
    engine = subprocess.Popen(
        demo_cmd("run", "--quiet"), env=demo_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        db = home / "demo" / "demo.db"
        wait_for(lambda: asyncio.run(jobs_in(db))[0].task_id, timeout=120, what="the engine running the demo")
        refused = subprocess.run(demo_cmd("--reset", "jobs"), env=demo_env(home), capture_output=True, text=True)
        assert refused.returncode == 1
        assert refused.stderr.startswith("qwentui: error: the demo is running in another qwentui (pid ")
        assert db.exists()
    finally:
        engine.kill()
        engine.wait(timeout=30)
    named = subprocess.run(
        demo_cmd("--reset", "--db", str(tmp_path / "mine.db"), "jobs"),
        env=demo_env(home),
        capture_output=True,
        text=True,
    )
    assert named.returncode == 1 and "never removes one named with --db" in named.stderr


async def test_the_first_jobs_are_added_once_even_after_a_start_killed_before_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QWENTUI_HOME", str(tmp_path / "home"))
    options = RuntimeOptions(demo=True)
    db = paths_for(options).db
    db.parent.mkdir(parents=True)
    await (await Store.open(db)).close()  # a start killed after creating the database, before adding the jobs
    for _ in range(2):  # then two starts: the first adds the jobs, the second finds them
        prepare_demo(options)
        async with open_context(options, start_engine=True) as ctx:
            await seed_demo(ctx)
            assert len(await ctx.store.list_jobs(limit=100)) == len(DEMO_REQUESTS)
