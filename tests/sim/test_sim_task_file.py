"""The simulator's tasks kept in a file (`SimConfig(state_file=...)`, what `--demo` uses): a second simulator on
the same file — the next process after a quit or a kill — knows every task, its status, its cancellation and its
signed result URLs; ids never repeat, whatever the seed."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from qwentui.core.catalog import Mode, lookup
from qwentui.sim import FakeClock, SimConfig, Simulator, create_app
from tests.sim.helpers import API, AUTH, query, result_urls, submit_row

T2I = lookup("wan2.5-t2i-preview", Mode.T2I)


def sim_on(state: Path, clock: FakeClock, seed: int = 7) -> Simulator:
    return Simulator(SimConfig(clock=clock, seed=seed, state_file=state, pending_seconds=5, running_seconds=10))


@asynccontextmanager
async def api_of(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sim=sim)), base_url="http://s") as c:
        yield c


async def test_a_second_simulator_on_the_file_knows_every_task(tmp_path: Path) -> None:
    clock, state = FakeClock(), tmp_path / "sim.db"
    first = sim_on(state, clock)
    async with api_of(first) as api:
        done_id = await submit_row(api, T2I, prompt="finished before the restart")
        clock.advance(20)
        body = await query(api, done_id)
        assert body["output"]["task_status"] == "SUCCEEDED"
        (url,) = result_urls(body["output"])
        before = hashlib.sha256((await api.get(url)).content).hexdigest()
        running_id = await submit_row(api, T2I, prompt="in flight at the restart")
        canceled_id = await submit_row(api, T2I, prompt="canceled before the restart")
        assert (await api.post(f"{API}/tasks/{canceled_id}/cancel", headers=AUTH)).status_code == 200

    second = sim_on(state, clock)  # the next process: nothing in memory, everything in the file
    async with api_of(second) as api:
        assert (await query(api, running_id))["output"]["task_status"] == "PENDING"
        assert (await query(api, canceled_id))["output"]["task_status"] == "CANCELED"
        after = await api.get(url)  # signed by the first simulator: still valid, same bytes
        assert after.status_code == 200 and hashlib.sha256(after.content).hexdigest() == before
        clock.advance(20)
        assert (await query(api, running_id))["output"]["task_status"] == "SUCCEEDED"
        listed = (await api.get(f"{API}/tasks", params={"page_size": 100}, headers=AUTH)).json()
        assert {row["task_id"] for row in listed["data"]} == {done_id, running_id, canceled_id}
        assert (await query(api, "no-such-task"))["output"]["task_status"] == "UNKNOWN"


async def test_ids_never_repeat_across_simulators_with_the_same_seed(tmp_path: Path) -> None:
    clock = FakeClock()
    ids: list[str] = []
    for state in (tmp_path / "a.db", tmp_path / "a.db", tmp_path / "b.db"):  # a restart, then another service
        async with api_of(sim_on(state, clock, seed=7)) as api:
            ids += [await submit_row(api, T2I, prompt=f"job {i}") for i in range(3)]
    assert len(set(ids)) == len(ids) == 9


async def test_a_task_whose_request_no_longer_validates_is_unknown_not_a_crash(tmp_path: Path) -> None:
    clock, state = FakeClock(), tmp_path / "sim.db"
    async with api_of(sim_on(state, clock)) as api:
        task_id = await submit_row(api, T2I)
    with sqlite3.connect(state) as db:  # as if written by another qwentui version
        (data,) = db.execute("SELECT data FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        db.execute("UPDATE tasks SET data = ?", (json.dumps({**json.loads(data), "body": {"model": "gone"}}),))
    async with api_of(sim_on(state, clock)) as api:
        assert (await query(api, task_id))["output"]["task_status"] == "UNKNOWN"
        assert (await api.get(f"{API}/tasks", headers=AUTH)).json()["total"] == 0


async def test_tasks_long_expired_leave_the_file(tmp_path: Path) -> None:
    clock, state = FakeClock(), tmp_path / "sim.db"
    async with api_of(sim_on(state, clock)) as api:
        await submit_row(api, T2I)
    clock.advance(3 * 24 * 3600)  # past the task's and its URLs' lifetime
    sim_on(state, clock)
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM tasks").fetchone() == (0,)
