"""The official `dashscope` SDK drives Wan 2.7 tasks against the simulator on loopback: a wan2.7-image-pro edit
(sync), a wan2.7-image set (async + wait), a wan2.7-i2v first+last-frame video and a wan2.7-t2v video with a
ratio. Tasks finish at once (time_scale=0), so the SDK's first poll already sees the result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis
from dashscope.aigc.image_generation import ImageGeneration
from dashscope.api_entities.dashscope_response import ImageGenerationResponse, Message

from qwentui.core.catalog import NAMED_SIZE_PIXELS, Route, parse_size
from qwentui.sim import BackgroundServer, SimConfig, running
from tests.sim.helpers import probe_mp4, probe_png

KEY = "sdk-test-key"


def answer(rsp: object) -> ImageGenerationResponse:
    """The SDK types a non-streaming call as 'a response or a generator'; these calls give a response."""
    assert isinstance(rsp, ImageGenerationResponse)
    return rsp


def user(*content: dict[str, str]) -> list[Message]:
    return [Message(role="user", content=list(content))]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BackgroundServer]:
    with running(SimConfig(seed=11, time_scale=0.0)) as srv:
        monkeypatch.setattr(dashscope, "base_http_api_url", srv.api_url)
        monkeypatch.setenv("DASHSCOPE_DISABLE_SDK_HEADERS", "1")
        yield srv


def test_wan27_image_pro_edit_with_two_references_and_a_region(server: BackgroundServer) -> None:
    messages = user(
        {"text": "Put the clock from image 1 at the marked spot in image 2"},
        {"image": "https://example.com/clock.jpg"},
        {"image": "https://example.com/room.png"},
    )
    rsp = answer(
        ImageGeneration.call(
            model="wan2.7-image-pro",
            api_key=KEY,
            messages=messages,
            size="2K",
            n=1,
            bbox_list=[[], [[989, 515, 1138, 681]]],
            watermark=False,
        )
    )
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    assert rsp.output.task_metric == {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}
    content: Any = rsp.output.choices[0].message.content
    (item,) = content
    size = parse_size(rsp.usage.size)
    assert size is not None and abs(size[0] * size[1] - NAMED_SIZE_PIXELS["2K"]) / NAMED_SIZE_PIXELS["2K"] < 0.03
    assert probe_png(httpx.get(item["image"]).content) == size
    sent = server.sim.submissions[0]
    assert sent.route == Route.MULTIMODAL.value and sent.outcome == "sync"
    assert sent.body["parameters"]["bbox_list"] == [[], [[989, 515, 1138, 681]]]


def test_wan27_image_set_async(server: BackgroundServer) -> None:
    messages = user({"text": "the same fox in four seasons"})
    task = answer(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=KEY, messages=messages, size="1K", n=4, enable_sequential=True
        )
    )
    assert task.status_code == 200, (task.code, task.message)
    rsp = ImageGeneration.wait(task, api_key=KEY)
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED"
    assert len(rsp.output.choices[0].message.content) == 4 and rsp.usage.image_count == 4
    assert server.sim.submissions[0].route == Route.IMAGE_GENERATION.value


def test_wan27_i2v_first_and_last_frame(server: BackgroundServer) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.7-i2v",
        api_key=KEY,
        prompt="the door opens",
        media=[
            {"type": "first_frame", "url": "https://example.com/closed.png"},
            {"type": "last_frame", "url": "https://example.com/open.png"},
        ],
        resolution="720P",
        duration=2,
    )
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.usage.output_video_duration == 2 and rsp.usage.input_video_duration == 0
    width, height, seconds, _ = probe_mp4(httpx.get(rsp.output.video_url).content)
    assert (width, height) == (1280, 720) and seconds == pytest.approx(2, abs=0.2)
    body = server.sim.submissions[0].body
    assert [m["type"] for m in body["input"]["media"]] == ["first_frame", "last_frame"]


def test_wan27_t2v_with_a_ratio(server: BackgroundServer) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.7-t2v", api_key=KEY, prompt="a paper boat", resolution="720P", ratio="9:16", duration=2
    )
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    width, height, _, _ = probe_mp4(httpx.get(rsp.output.video_url).content)
    assert (width, height) == (720, 1280)


def test_sdk_sees_a_forbidden_media_combination(server: BackgroundServer) -> None:
    rsp = VideoSynthesis.async_call(
        model="wan2.7-i2v",
        api_key=KEY,
        media=[
            {"type": "first_clip", "url": "https://example.com/c.mp4"},
            {"type": "driving_audio", "url": "https://example.com/a.mp3"},
        ],
    )
    assert rsp.status_code == 400 and rsp.code == "InvalidParameter" and "combination" in rsp.message
