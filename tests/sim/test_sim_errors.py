"""Auth, headers and validation: each error the service gives, with its status, code and a useful message."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from qwentui.core.catalog import Mode, Route, lookup
from qwentui.core.requests import build
from qwentui.sim import Simulator
from tests.sim.helpers import API, ASYNC, AUTH, minimal_request

T2I = API + Route.TEXT2IMAGE.value
VIDEO = API + Route.VIDEO.value
SYNC = API + Route.MULTIMODAL.value
T2I_BODY = {"model": "qwen-image-plus", "input": {"prompt": "poster"}, "parameters": {"size": "1664*928"}}


def assert_error(resp: httpx.Response, status: int, code: str, *words: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["request_id"] == resp.headers["x-request-id"]
    for word in words:
        assert word in body["message"], body["message"]
    return body


# ---- auth -------------------------------------------------------------------------------------------------


async def test_missing_key_is_401(api: httpx.AsyncClient) -> None:
    resp = await api.post(T2I, json=T2I_BODY, headers={"X-DashScope-Async": "enable"})
    assert_error(resp, 401, "InvalidApiKey", "No API-key")


@pytest.mark.parametrize("value", ["Basic abc", "Bearer ", "abc"])
async def test_malformed_authorization_is_401(api: httpx.AsyncClient, value: str) -> None:
    resp = await api.get(f"{API}/tasks/x", headers={"Authorization": value})
    assert_error(resp, 401, "InvalidApiKey", "Invalid API-key")


async def test_coding_plan_key_is_403(api: httpx.AsyncClient) -> None:
    resp = await api.get(f"{API}/tasks/x", headers={"Authorization": "Bearer sk-sp-abc"})
    assert_error(resp, 403, "InvalidApiKey", "invalid api-key")


async def test_configured_keys_only(api: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.config.api_keys = {"sk-good"}
    bad = await api.get(f"{API}/tasks/x", headers={"Authorization": "Bearer sk-bad"})
    assert_error(bad, 401, "InvalidApiKey")
    good = await api.get(f"{API}/tasks/x", headers={"authorization": "bearer sk-good"})
    assert good.status_code == 200


async def test_the_key_is_never_echoed_or_recorded(api: httpx.AsyncClient, simulator: Simulator) -> None:
    secret = "sk-secret-1234567890"
    headers = {"Authorization": f"Bearer {secret}", "X-DashScope-Async": "enable"}
    bad = await api.post(T2I, json={**T2I_BODY, "model": "nope"}, headers=headers)
    good = await api.post(T2I, json=T2I_BODY, headers=headers)
    listing = await api.get(f"{API}/tasks", headers={"Authorization": f"Bearer {secret}"})
    for resp in (bad, good, listing):
        assert secret not in resp.text and secret not in str(resp.headers)
    assert all("authorization" not in {k.lower() for k in s.headers} for s in simulator.submissions)
    assert secret not in repr(simulator.submissions) + repr(simulator.tasks())


# ---- headers and transport details ------------------------------------------------------------------------


async def test_async_route_needs_the_async_header(api: httpx.AsyncClient) -> None:
    resp = await api.post(T2I, json=T2I_BODY, headers=AUTH)
    assert_error(resp, 403, "AccessDenied", "does not support synchronous calls")


async def test_sync_route_refuses_the_async_header(api: httpx.AsyncClient) -> None:
    body = build(minimal_request(lookup("qwen-image-2.0", Mode.T2I))).body
    resp = await api.post(SYNC, json=body, headers=ASYNC)
    assert_error(resp, 403, "AccessDenied", "asynchronous")


async def test_header_names_and_values_are_case_insensitive(api: httpx.AsyncClient) -> None:
    resp = await api.post(T2I, json=T2I_BODY, headers={"AUTHORIZATION": "Bearer k", "x-dashscope-async": "Enable"})
    assert resp.status_code == 200, resp.text


async def test_charset_content_type_and_raw_bytes(api: httpx.AsyncClient) -> None:
    data = json.dumps({**T2I_BODY, "input": {"prompt": "ünïcødé 海报"}}, ensure_ascii=False).encode()
    resp = await api.post(T2I, content=data, headers={**ASYNC, "Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 200, resp.text


async def test_trailing_slashes_everywhere(api: httpx.AsyncClient) -> None:
    resp = await api.post(T2I + "/", json=T2I_BODY, headers=ASYNC)
    assert resp.status_code == 200, resp.text
    task_id = resp.json()["output"]["task_id"]
    got = await api.get(f"{API}/tasks/{task_id}/", headers=AUTH)  # the aio SDK's form
    assert got.json()["output"]["task_id"] == task_id
    listed = await api.get(f"{API}/tasks/", headers=AUTH)
    assert listed.json()["total"] == 1


async def test_unknown_path_and_method(api: httpx.AsyncClient) -> None:
    assert_error(await api.get(f"{API}/nothing/here", headers=AUTH), 404, "NotFound")
    assert (await api.delete(f"{API}/tasks/x", headers=AUTH)).status_code == 405


async def test_tolerates_unknown_fields_from_the_sdk(api: httpx.AsyncClient, simulator: Simulator) -> None:
    body = {
        "model": "wan2.6-t2v",
        "input": {"prompt": "a cat", "extend_prompt": True, "function": "video-synthesis", "whatever": 1},
        "parameters": {"duration": 5, "is_async": True, "unknown_knob": "x"},
    }
    resp = await api.post(VIDEO, json=body, headers=ASYNC)
    assert resp.status_code == 200, resp.text
    assert simulator.tasks()[0].job.function is None


# ---- validation -------------------------------------------------------------------------------------------


def wire_body(model: str, mode: Mode) -> dict[str, Any]:
    return copy.deepcopy(build(minimal_request(lookup(model, mode))).body)


def case(model: str, mode: Mode, change: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The route and body of a row's minimal request with `change` applied ("input.x": value, None deletes)."""
    row = lookup(model, mode)
    body = wire_body(model, mode)
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        target = body
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return API + row.route.value, body


BAD = [
    ("no model", case("qwen-image-plus", Mode.T2I, {"model": None}), 400, "BadRequest.EmptyModel", ""),
    (
        "unknown model",
        case("qwen-image-plus", Mode.T2I, {"model": "qwen-image-9000"}),
        404,
        "ModelNotFound",
        "qwen-image-9000",
    ),
    ("no input", case("qwen-image-plus", Mode.T2I, {"input": None}), 400, "BadRequest.EmptyInput", ""),
    ("empty input", (T2I, {"model": "qwen-image-plus", "input": {}}), 400, "BadRequest.EmptyInput", ""),
    (
        "blank prompt",
        case("qwen-image-plus", Mode.T2I, {"input.prompt": "  "}),
        400,
        "InvalidParameter",
        "input.prompt",
    ),
    (
        "prompt too long",
        case("wan2.6-t2v", Mode.T2V, {"input.prompt": "x" * 1501}),
        400,
        "InvalidParameter",
        "input.prompt",
    ),
    (
        "negative too long",
        case("wan2.6-t2v", Mode.T2V, {"input.negative_prompt": "x" * 501}),
        400,
        "InvalidParameter",
        "input.negative_prompt",
    ),
    (
        "size not listed",
        case("qwen-image-plus", Mode.T2I, {"parameters.size": "1024*1024"}),
        400,
        "InvalidParameter",
        "parameters.size",
    ),
    (
        "size too small",
        case("wan2.6-t2i", Mode.T2I, {"parameters.size": "512*512"}),
        400,
        "InvalidParameter",
        "parameters.size",
    ),
    ("n too big", case("wan2.6-t2i", Mode.T2I, {"parameters.n": 5}), 400, "InvalidParameter", "parameters.n"),
    ("n not an int", case("wan2.6-t2i", Mode.T2I, {"parameters.n": "2"}), 400, "InvalidParameter", "parameters.n"),
    (
        "duration",
        case("wan2.5-t2v-preview", Mode.T2V, {"parameters.duration": 7}),
        400,
        "InvalidParameter",
        "parameters.duration",
    ),
    (
        "resolution",
        case("wan2.6-i2v", Mode.I2V, {"parameters.resolution": "480P"}),
        400,
        "InvalidParameter",
        "parameters.resolution",
    ),
    ("seed", case("wan2.6-t2v", Mode.T2V, {"parameters.seed": -1}), 400, "InvalidParameter", "parameters.seed"),
    (
        "bool",
        case("wan2.6-t2v", Mode.T2V, {"parameters.watermark": "no"}),
        400,
        "InvalidParameter",
        "parameters.watermark",
    ),
    (
        "multi shot",
        case("wan2.6-t2v", Mode.T2V, {"parameters.shot_type": "multi", "parameters.prompt_extend": False}),
        400,
        "InvalidParameter",
        "shot_type",
    ),
    ("i2v without image", case("wan2.6-i2v-flash", Mode.I2V, {"input.img_url": None}), 400, "InvalidParameter", "1-1"),
    (
        "too many i2i images",
        case("wan2.5-i2i-preview", Mode.I2I, {"input.images": ["https://a/b.png"] * 4}),
        400,
        "InvalidParameter",
        "4 given",
    ),
    (
        "not a url",
        case("wan2.5-i2i-preview", Mode.I2I, {"input.images": ["/home/me/cat.png"]}),
        400,
        "InvalidParameter",
        "input.images[0]",
    ),
    (
        "kf2v one frame",
        case("wan2.2-kf2v-flash", Mode.KF2V, {"input.last_frame_url": None}),
        400,
        "InvalidParameter",
        "last_frame_url",
    ),
    (
        "r2v too many videos",
        case("wan2.6-r2v", Mode.R2V, {"input.reference_urls": ["https://a/v.mp4"] * 4}),
        400,
        "InvalidParameter",
        "videos",
    ),
    (
        "vace function",
        case("wan2.1-vace-plus", Mode.VACE, {"input.function": "teleport"}),
        400,
        "InvalidParameter",
        "input.function",
    ),
    (
        "vace repaint needs video",
        case(
            "wan2.1-vace-plus",
            Mode.VACE,
            {
                "input.function": "video_repainting",
                "input.ref_images_url": None,
                "parameters.control_condition": "depth",
            },
        ),
        400,
        "InvalidParameter",
        "input.video_url",
    ),
    ("wrong route", (T2I, wire_body("wan2.6-t2v", Mode.T2V)), 400, "InvalidParameter", "url error"),
    (
        "interleave on the edit row's sync route",
        (SYNC, {**wire_body("wan2.6-image", Mode.INTERLEAVE)}),
        400,
        "InvalidParameter",
        "enable_interleave",
    ),
    (
        "edit without images",
        case("wan2.6-image", Mode.EDIT, {"input.messages": [{"role": "user", "content": [{"text": "edit"}]}]}),
        400,
        "InvalidParameter",
        "0 given",
    ),
    (
        "messages not a list",
        case("wan2.6-t2i", Mode.T2I, {"input.messages": "hi"}),
        400,
        "BadRequest.EmptyInput",
        "input.messages",
    ),
]


@pytest.mark.parametrize(("route_body", "status", "code", "word"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_validation_errors(
    api: httpx.AsyncClient, simulator: Simulator, route_body: tuple[str, Any], status: int, code: str, word: str
) -> None:
    path, body = route_body
    headers = AUTH if path == SYNC else ASYNC
    resp = await api.post(path, json=body, headers=headers)
    assert_error(resp, status, code, word)
    assert not simulator.tasks(), "a rejected request must not create a task"
    assert simulator.submissions[-1].status == status and not simulator.submissions[-1].created_task


async def test_invalid_json_is_400(api: httpx.AsyncClient) -> None:
    resp = await api.post(T2I, content=b"{not json", headers={**ASYNC, "Content-Type": "application/json"})
    assert_error(resp, 400, "InvalidParameter", "JSON")


async def test_oss_needs_the_resolve_header_and_a_real_upload(api: httpx.AsyncClient) -> None:
    route, body = case("wan2.6-i2v-flash", Mode.I2V, {"input.img_url": "oss://dashscope-instant/x/y.png"})
    resp = await api.post(route, json=body, headers=ASYNC)
    assert_error(resp, 400, "InvalidParameter", "X-DashScope-OssResourceResolve")
    resp = await api.post(route, json=body, headers={**ASYNC, "X-DashScope-OssResourceResolve": "enable"})
    assert_error(resp, 400, "InvalidParameter", "does not exist")


async def test_index_tells_where_to_point_clients(api: httpx.AsyncClient) -> None:
    body = (await api.get("/")).json()
    assert body["DASHSCOPE_HTTP_BASE_URL"] == "http://sim.test/api/v1" and body["QWEN_BASE_URL"] == "http://sim.test"


def test_advance_needs_a_fake_clock() -> None:
    with pytest.raises(TypeError):
        Simulator().advance(1)
