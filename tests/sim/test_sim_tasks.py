"""The task life cycle on a fake clock: states, timestamps, cancel rules, UNKNOWN, and the task list."""

from __future__ import annotations

import re

import httpx
import pytest

from qwentui.core.catalog import Mode, lookup
from qwentui.sim import Simulator
from qwentui.sim.clock import list_time
from qwentui.sim.faults import TASK_FAILURES
from tests.sim.helpers import API, AUTH, query, run_to_end, submit_row

TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
T2I = lookup("wan2.5-t2i-preview", Mode.T2I)
T2V = lookup("wan2.6-t2v", Mode.T2V)


@pytest.fixture
def fixed(simulator: Simulator) -> Simulator:
    simulator.config.pending_seconds = 10
    simulator.config.running_seconds = 20
    return simulator


async def test_pending_running_succeeded(api: httpx.AsyncClient, fixed: Simulator) -> None:
    task_id = await submit_row(api, T2I)
    out = (await query(api, task_id))["output"]
    assert out["task_status"] == "PENDING" and TIME.match(out["submit_time"])
    assert "scheduled_time" not in out and "end_time" not in out
    assert out["submit_time"] == "2026-01-01 08:00:00.000"  # the service's zone (UTC+8), not UTC
    fixed.advance(10)
    out = (await query(api, task_id))["output"]
    assert out["task_status"] == "RUNNING" and out["scheduled_time"] == "2026-01-01 08:00:10.000"
    assert out["task_metrics"] == {"TOTAL": 1, "SUCCEEDED": 0, "FAILED": 0} and "end_time" not in out
    fixed.advance(20)
    body = await query(api, task_id)
    out = body["output"]
    assert out["task_status"] == "SUCCEEDED" and out["end_time"] == "2026-01-01 08:00:30.000"
    assert out["task_metrics"] == {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}
    assert body["usage"]["image_count"] == 1 and out["results"][0]["url"].startswith("http://sim.test/files/")


async def test_durations_come_from_the_catalog_scaled(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.time_scale = 0.5
    await submit_row(api, T2V)
    task = simulator.tasks()[0]
    lo, hi = T2V.typical_seconds
    assert lo * 0.5 <= task.pending_s + task.running_s <= hi * 0.5


async def test_failed_task(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.failure_rate = 1.0
    task_id = await submit_row(api, T2I)
    out = (await run_to_end(api, simulator, task_id))["output"]
    assert out["task_status"] == "FAILED" and (out["code"], out["message"]) in TASK_FAILURES
    assert out["task_metrics"]["FAILED"] == 1 and "results" not in out and "end_time" in out


async def test_forced_failure_code(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.failure_rate = 1.0
    simulator.config.failure_code = "InternalError.Algo"
    out = (await run_to_end(api, simulator, await submit_row(api, T2V)))["output"]
    assert out["code"] == "InternalError.Algo"


async def test_cancel_only_while_pending(api: httpx.AsyncClient, fixed: Simulator) -> None:
    first = await submit_row(api, T2I)
    resp = await api.post(f"{API}/tasks/{first}/cancel", headers=AUTH)
    assert resp.status_code == 200 and set(resp.json()) == {"request_id"}
    out = (await query(api, first))["output"]
    assert out["task_status"] == "CANCELED" and "end_time" in out
    again = await api.post(f"{API}/tasks/{first}/cancel", headers=AUTH)
    assert again.status_code == 400 and again.json()["code"] == "UnsupportedOperation"
    assert "PENDING" in again.json()["message"]
    second = await submit_row(api, T2I)
    fixed.advance(15)  # RUNNING now
    resp = await api.post(f"{API}/tasks/{second}/cancel", headers=AUTH)
    assert resp.status_code == 400 and resp.json()["code"] == "UnsupportedOperation"
    fixed.advance(100)
    assert (await query(api, second))["output"]["task_status"] == "SUCCEEDED"
    assert (await query(api, first))["output"]["task_status"] == "CANCELED"
    unknown = await api.post(f"{API}/tasks/no-such-task/cancel", headers=AUTH)
    assert unknown.status_code == 400


async def test_unknown_and_expired_tasks(api: httpx.AsyncClient, simulator: Simulator) -> None:
    body = await query(api, "1111")
    assert body["output"] == {"task_id": "1111", "task_status": "UNKNOWN"}
    task_id = await submit_row(api, T2I)
    assert (await run_to_end(api, simulator, task_id))["output"]["task_status"] == "SUCCEEDED"
    simulator.advance(simulator.config.task_ttl)
    assert (await query(api, task_id))["output"] == {"task_id": task_id, "task_status": "UNKNOWN"}
    listed = (await api.get(f"{API}/tasks", headers=AUTH)).json()
    assert listed["total"] == 0


async def test_task_ttl_is_a_knob(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.task_ttl = 60
    task_id = await submit_row(api, T2I)
    simulator.advance(61)
    assert (await query(api, task_id))["output"]["task_status"] == "UNKNOWN"


# ---- the list ---------------------------------------------------------------------------------------------


async def test_list_paging_newest_first(api: httpx.AsyncClient, fixed: Simulator) -> None:
    ids = []
    for i in range(25):
        ids.append(await submit_row(api, T2I, prompt=f"p{i}"))
        fixed.advance(1)
    page1 = (await api.get(f"{API}/tasks", params={"page_no": 1, "page_size": 10}, headers=AUTH)).json()
    assert (page1["total"], page1["total_page"], page1["page_no"], page1["page_size"]) == (25, 3, 1, 10)
    assert [d["task_id"] for d in page1["data"]] == ids[::-1][:10]
    page3 = (await api.get(f"{API}/tasks", params={"page_no": 3, "page_size": 10}, headers=AUTH)).json()
    assert [d["task_id"] for d in page3["data"]] == ids[::-1][20:]
    page9 = (await api.get(f"{API}/tasks", params={"page_no": 9, "page_size": 10}, headers=AUTH)).json()
    assert page9["data"] == [] and page9["total"] == 25
    default = (await api.get(f"{API}/tasks", headers=AUTH)).json()
    assert default["page_size"] == 10 and len(default["data"]) == 10


async def test_list_item_fields(api: httpx.AsyncClient, fixed: Simulator) -> None:
    resp = await api.post(
        API + T2I.route.value,
        headers={**AUTH, "X-DashScope-Async": "enable"},
        json={"model": T2I.model, "input": {"prompt": "x"}},
    )
    submit_request_id = resp.json()["request_id"]
    item = (await api.get(f"{API}/tasks", headers=AUTH)).json()["data"][0]
    assert item["status"] == "PENDING" and item["model_name"] == T2I.model
    assert item["request_id"] == submit_request_id and isinstance(item["gmt_create"], int)
    assert "start_time" not in item and "end_time" not in item
    fixed.advance(60)
    item = (await api.get(f"{API}/tasks", headers=AUTH)).json()["data"][0]
    assert item["status"] == "SUCCEEDED" and item["gmt_create"] < item["start_time"] < item["end_time"]


async def test_list_filters(api: httpx.AsyncClient, fixed: Simulator) -> None:
    early = await submit_row(api, T2I, prompt="early")
    fixed.advance(3600)
    middle = await submit_row(api, T2V, prompt="middle")
    fixed.advance(3600)
    late = await submit_row(api, T2I, prompt="late")
    now = fixed.now()

    async def ids(**params: object) -> list[str]:
        resp = await api.get(f"{API}/tasks", params={k: str(v) for k, v in params.items()}, headers=AUTH)
        assert resp.status_code == 200, resp.text
        return [d["task_id"] for d in resp.json()["data"]]

    tz = fixed.config.tz_offset_hours
    assert await ids(model_name=T2V.model) == [middle]
    assert await ids(model_name=T2I.model) == [late, early]
    assert await ids(status="SUCCEEDED") == [middle, early]
    assert await ids(status="PENDING") == [late]
    window = {"start_time": list_time(now - 5400, tz), "end_time": list_time(now - 1800, tz)}
    assert await ids(**window) == [middle]
    assert await ids(start_time=list_time(now - 60, tz)) == [late]
    assert await ids(end_time=list_time(now - 3000, tz)) == [middle, early]


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": "0"},
        {"page_size": "101"},
        {"page_no": "x"},
        {"start_time": "2026-01-01"},
        {"end_time": "20261301000000"},
        {"status": "DONE"},
    ],
)
async def test_list_rejects_bad_parameters(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    resp = await api.get(f"{API}/tasks", params=params, headers=AUTH)
    assert resp.status_code == 400 and resp.json()["code"] == "InvalidParameter"


async def test_sync_calls_are_not_tasks(api: httpx.AsyncClient, simulator: Simulator) -> None:
    from qwentui.core.requests import build
    from tests.sim.helpers import minimal_request, submit

    resp = await submit(api, build(minimal_request(lookup("qwen-image-2.0", Mode.T2I))))
    assert resp.status_code == 200
    assert (await api.get(f"{API}/tasks", headers=AUTH)).json()["total"] == 0
    assert simulator.submissions[-1].outcome == "sync" and len(simulator.find_tasks(model="qwen-image-2.0")) == 1
