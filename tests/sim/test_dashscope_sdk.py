"""The official `dashscope` SDK against the simulator on loopback: an image task, a video task, the aio
client (which asks `/tasks/{id}/` with a trailing slash), the task list and cancel.

The SDK polls once right after submitting and then every 1-5 s. Tasks here finish at once (time_scale=0), so
the first poll already sees the result; the video test uses time_scale=0.001 (tasks of 60-300 ms) to go
through PENDING/RUNNING polls, which costs it one SDK poll interval (1 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dashscope
import httpx
import pytest
from dashscope import ImageSynthesis, VideoSynthesis
from dashscope.aigc.image_synthesis import AioImageSynthesis
from dashscope.api_entities.aio_session import close_shared_aio_session

from qwentui.core.catalog import Route
from qwentui.sim import BackgroundServer, SimConfig, running
from tests.sim.helpers import probe_mp4, probe_png

KEY = "sdk-test-key"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundServer]:
    with running(SimConfig(seed=11, time_scale=0.0)) as srv:
        # Read by the SDK at call time; monkeypatch puts the real endpoint back afterwards.
        monkeypatch.setattr(dashscope, "base_http_api_url", srv.api_url)
        monkeypatch.setenv("DASHSCOPE_DISABLE_SDK_HEADERS", "1")
        yield srv


def test_image_synthesis(server: BackgroundServer) -> None:
    rsp = ImageSynthesis.call(
        model="qwen-image-plus", prompt="a poster that says HELLO", api_key=KEY, size="1328*1328", n=1
    )
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.usage.image_count == 1
    url = rsp.output.results[0].url
    assert probe_png(httpx.get(url).content) == (1328, 1328)
    sent = server.sim.submissions[0]
    assert sent.route == Route.TEXT2IMAGE.value and sent.headers["x-dashscope-async"] == "enable"
    assert sent.body["model"] == "qwen-image-plus" and sent.outcome == "accepted"


def test_wan25_text2image(server: BackgroundServer) -> None:
    rsp = ImageSynthesis.call(model="wan2.5-t2i-preview", prompt="a fox", api_key=KEY, n=2, size="1024*1024")
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED"
    assert len(rsp.output.results) == 2


def test_video_synthesis(server: BackgroundServer) -> None:
    server.sim.config.time_scale = 0.001
    rsp = VideoSynthesis.call(model="wan2.6-t2v", prompt="a cat surfing", api_key=KEY, size="1280*720", duration=2)
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    assert rsp.output.task_status == "SUCCEEDED" and rsp.usage.video_duration == 2
    width, height, seconds, has_audio = probe_mp4(httpx.get(rsp.output.video_url).content)
    assert (width, height) == (1280, 720) and seconds == pytest.approx(2, abs=0.2) and has_audio
    body = server.sim.submissions[0].body
    assert body["input"]["function"] == "video-synthesis"  # the SDK's module name, tolerated
    assert server.sim.requests["GET /api/v1/tasks/{id}"] >= 2  # polled while PENDING/RUNNING


def test_sdk_sees_errors(server: BackgroundServer) -> None:
    rsp = ImageSynthesis.async_call(model="qwen-image-plus", prompt="x", api_key=KEY, size="7*7")
    assert rsp.status_code == 400 and rsp.code == "InvalidParameter" and "parameters.size" in rsp.message
    rsp = ImageSynthesis.async_call(model="qwen-image-plus", prompt="x", api_key="sk-sp-coding-plan")
    assert rsp.status_code == 403 and rsp.code == "InvalidApiKey"


def test_list_fetch_and_cancel(server: BackgroundServer) -> None:
    server.sim.config.pending_seconds = 60.0  # stays PENDING, so it can be canceled
    submitted = ImageSynthesis.async_call(model="qwen-image-plus", prompt="to cancel", api_key=KEY)
    task_id = submitted.output.task_id
    assert ImageSynthesis.fetch(submitted, api_key=KEY).output.task_status == "PENDING"
    tasks: Any = ImageSynthesis  # list and cancel come from a base class the SDK's annotations do not show
    listed = tasks.list(api_key=KEY, model_name="qwen-image-plus", status="PENDING")
    assert listed.status_code == 200 and listed.output["data"][0]["task_id"] == task_id
    assert tasks.cancel(submitted, api_key=KEY).status_code == 200
    assert ImageSynthesis.fetch(task_id, api_key=KEY).output.task_status == "CANCELED"
    again = tasks.cancel(task_id, api_key=KEY)
    assert again.status_code == 400 and again.code == "UnsupportedOperation"


async def test_aio_client_with_trailing_slash(server: BackgroundServer) -> None:
    try:
        rsp = await AioImageSynthesis.call(model="qwen-image-plus", prompt="aio poster", api_key=KEY)
    finally:
        await close_shared_aio_session()  # the SDK keeps one aiohttp session per loop
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    assert rsp.output.task_status == "SUCCEEDED"
    assert server.sim.trailing_slashes >= 1  # the aio SDK asked /tasks/{id}/ and was answered
