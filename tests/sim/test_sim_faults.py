"""Every fault knob, flipped at run time: rate limits, quota, storms, drops, errors, truncation, failures."""

from __future__ import annotations

import httpx
import pytest

from qwentui.core.catalog import Mode, Route, lookup
from qwentui.core.requests import GenerationRequest, build
from qwentui.sim import FakeClock, SimConfig, Simulator, create_app
from qwentui.sim.errors import SimulatedDrop
from tests.sim.helpers import API, AUTH, minimal_request, result_urls, run_to_end, submit, submit_row

T2I = lookup("wan2.5-t2i-preview", Mode.T2I)


async def test_task_query_rate_limit(api: httpx.AsyncClient, simulator: Simulator) -> None:
    assert simulator.config.task_query_qps == 20
    codes = [(await api.get(f"{API}/tasks/x", headers=AUTH)).status_code for _ in range(20)]
    assert codes == [200] * 20
    over = await api.get(f"{API}/tasks", headers=AUTH)  # the list shares the bucket
    assert over.status_code == 429
    assert over.json()["code"] == "Throttling.RateQuota"
    assert over.json()["message"] == "Requests rate limit exceeded, please try again later."
    assert int(over.headers["retry-after"]) >= 1 and simulator.throttled == 1
    simulator.advance(1)
    assert (await api.get(f"{API}/tasks/x", headers=AUTH)).status_code == 200
    simulator.config.task_query_qps = None
    codes = [(await api.get(f"{API}/tasks/x", headers=AUTH)).status_code for _ in range(50)]
    assert set(codes) == {200}


async def test_submit_rate_limit(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.submit_qps = 2
    wire = build(minimal_request(T2I))
    codes = [(await submit(api, wire)).status_code for _ in range(3)]
    assert codes == [200, 200, 429] and len(simulator.tasks()) == 2


async def test_quota_and_arrearage(api: httpx.AsyncClient, simulator: Simulator) -> None:
    wire = build(minimal_request(T2I))
    simulator.config.quota_exhausted = True
    resp = await submit(api, wire)
    assert resp.status_code == 429 and resp.json()["code"] == "Throttling.AllocationQuota"
    simulator.config.quota_exhausted = False
    simulator.config.arrearage = True
    resp = await submit(api, wire)
    assert resp.status_code == 400 and resp.json()["code"] == "Arrearage"
    assert (await api.get(f"{API}/tasks/x", headers=AUTH)).status_code == 200  # queries still work
    simulator.config.arrearage = False
    assert (await submit(api, wire)).status_code == 200
    assert len(simulator.tasks()) == 1


async def test_revoked_key(api: httpx.AsyncClient, simulator: Simulator) -> None:
    body = await run_to_end(api, simulator, await submit_row(api, T2I))
    simulator.config.revoked = True
    resp = await api.get(f"{API}/tasks/x", headers=AUTH)
    assert resp.status_code == 401 and resp.json()["code"] == "InvalidApiKey"
    assert (await submit(api, build(minimal_request(T2I)))).status_code == 401
    assert (await api.get(result_urls(body["output"])[0])).status_code == 200  # signed URLs need no key


async def test_storm_rate(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.storm_rate = 1.0
    simulator.config.storm_retry_after = 3
    seen = set()
    for _ in range(20):
        resp = await submit(api, build(minimal_request(T2I)))
        assert resp.headers["retry-after"] == "3"
        seen.add((resp.status_code, resp.json()["code"]))
    assert seen <= {(429, "Throttling"), (500, "InternalError"), (503, "ServiceUnavailable")} and len(seen) > 1
    assert not simulator.tasks()
    simulator.config.storm_rate = 0.0
    assert (await submit(api, build(minimal_request(T2I)))).status_code == 200


async def test_storm_window(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.storm_windows = [(10.0, 20.0)]
    simulator.config.storm_statuses = (503,)
    assert (await api.get(f"{API}/tasks/x", headers=AUTH)).status_code == 200
    simulator.advance(12)
    resp = await api.get(f"{API}/tasks/x", headers=AUTH)
    assert resp.status_code == 503 and resp.json()["code"] == "ServiceUnavailable" and "retry-after" in resp.headers
    simulator.advance(10)
    assert (await api.get(f"{API}/tasks/x", headers=AUTH)).status_code == 200


async def test_drop_before_creates_nothing(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.drop_before_rate = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        await submit(api, build(minimal_request(T2I)))
    assert not simulator.tasks() and not simulator.submissions and simulator.dropped == 1


async def test_drop_after_creates_the_task(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.drop_after_rate = 1.0
    with pytest.raises(httpx.TransportError):
        await submit(api, build(minimal_request(T2I, prompt="lost answer")))
    record = simulator.submissions[-1]
    assert record.outcome == "dropped_after" and record.created_task and record.status == 0
    simulator.config.drop_after_rate = 0.0
    listed = (await api.get(f"{API}/tasks", headers=AUTH)).json()
    assert [d["task_id"] for d in listed["data"]] == [record.task_id]
    assert [t.task_id for t in simulator.find_tasks(prompt="lost answer")] == [record.task_id]


async def test_error_after_creates_the_task(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.error_after_rate = 1.0
    resp = await submit(api, build(minimal_request(T2I, prompt="ambiguous")))
    assert resp.status_code == 500 and resp.json()["code"] == "InternalError"
    assert len(simulator.find_tasks(prompt="ambiguous")) == 1
    assert simulator.submissions[-1].outcome == "error_after"


async def test_duplicates_are_visible(api: httpx.AsyncClient, simulator: Simulator) -> None:
    wire = build(minimal_request(T2I, prompt="twice"))
    await submit(api, wire)
    await submit(api, build(minimal_request(T2I, prompt="once")))
    assert simulator.duplicates() == {}
    await submit(api, wire)
    assert simulator.duplicates() == {"twice": 2}


async def test_slow_still_answers(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.slow_seconds = 0.01
    assert (await api.get(f"{API}/tasks/x", headers=AUTH)).status_code == 200


async def test_truncated_download(api: httpx.AsyncClient, simulator: Simulator) -> None:
    url = result_urls((await run_to_end(api, simulator, await submit_row(api, T2I)))["output"])[0]
    simulator.config.truncate_rate = 1.0
    with pytest.raises(SimulatedDrop):
        await api.get(url)
    simulator.config.truncate_rate = 0.0
    assert (await api.get(url)).status_code == 200


async def test_sync_failure_is_an_error_answer(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.failure_rate = 1.0
    simulator.config.failure_code = "DataInspectionFailed"
    resp = await submit(api, build(minimal_request(lookup("qwen-image-2.0", Mode.T2I))))
    assert resp.status_code == 400 and resp.json()["code"] == "DataInspectionFailed"


async def test_partial_failures(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.partial_failure_rate = 1.0
    wire = build(GenerationRequest(mode=Mode.T2I, model=T2I.model, prompt="three", n=3))
    body = await run_to_end(api, simulator, (await submit(api, wire)).json()["output"]["task_id"])
    out = body["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["task_metrics"] == {"TOTAL": 3, "SUCCEEDED": 1, "FAILED": 2}
    assert len(result_urls(out)) == 1 and [r.get("code") for r in out["results"]][1:] == ["DataInspectionFailed"] * 2
    assert body["usage"]["image_count"] == 1
    messages = build(GenerationRequest(mode=Mode.T2I, model="wan2.6-t2i", prompt="three", n=3))
    assert messages.route is Route.IMAGE_GENERATION
    body = await run_to_end(api, simulator, (await submit(api, messages)).json()["output"]["task_id"])
    assert len(result_urls(body["output"])) == 1


async def test_same_seed_same_run() -> None:
    async def run() -> list[object]:
        sim = Simulator(SimConfig(clock=FakeClock(), seed=99, failure_rate=0.5))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(sim=sim)), base_url="http://s"
        ) as api:
            for i in range(6):
                await submit_row(api, T2I, prompt=f"r{i}")
        return [(t.task_id, t.pending_s, t.running_s, t.seed, t.failure) for t in sim.tasks()]

    assert await run() == await run()


async def test_config_can_be_swapped(simulator: Simulator) -> None:
    simulator.config = SimConfig(clock=FakeClock(), failure_rate=1.0)
    assert simulator.faults.config is simulator.config and simulator.files.config is simulator.config
