"""Helpers shared by the simulator tests: minimal requests per catalog row, following a task, probing files."""

from __future__ import annotations

import io
from typing import Any

import av
import httpx
from PIL import Image

from qwentui.core.catalog import Field, Mode, ModelMode
from qwentui.core.requests import GenerationRequest, WireRequest, build
from qwentui.sim import Simulator

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ASYNC = {**AUTH, "X-DashScope-Async": "enable"}
API = "/api/v1"
REF = "https://example.com/ref.png"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}


def minimal_request(row: ModelMode, prompt: str = "a lighthouse at dusk") -> GenerationRequest:
    """The smallest valid request for a catalog row (reference images as https URLs)."""
    images = [REF] * row.images.min_count
    if row.mode is Mode.KF2V:
        images = [REF, "https://example.com/last.png"]
    req = GenerationRequest(mode=row.mode, model=row.model, prompt=prompt, images=images)
    if row.mode is Mode.VACE:
        req.function = "image_reference"
        req.images = [REF]
    if row.takes(Field.MEDIA):  # wan2.7-i2v: the first frame goes in media[]
        req.media = [{"type": "first_frame", "url": REF}]
    return req


def headers_for(wire: WireRequest) -> dict[str, str]:
    headers = dict(ASYNC if wire.is_async else AUTH)
    if wire.needs_oss_resolve:
        headers["X-DashScope-OssResourceResolve"] = "enable"
    return headers


async def submit(api: httpx.AsyncClient, wire: WireRequest) -> httpx.Response:
    return await api.post(API + wire.route.value, json=wire.body, headers=headers_for(wire))


async def submit_row(api: httpx.AsyncClient, row: ModelMode, prompt: str = "a lighthouse at dusk") -> str:
    """Submit a row's minimal request to its (async) route and return the task id."""
    resp = await submit(api, build(minimal_request(row, prompt)))
    assert resp.status_code == 200, resp.text
    task_id: str = resp.json()["output"]["task_id"]
    return task_id


async def query(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    resp = await api.get(f"{API}/tasks/{task_id}", headers=AUTH)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def run_to_end(api: httpx.AsyncClient, sim: Simulator, task_id: str, step: float = 60.0) -> dict[str, Any]:
    """Poll, moving the fake clock forward between polls, until the task is terminal."""
    for _ in range(100):
        body = await query(api, task_id)
        if body["output"]["task_status"] in TERMINAL:
            return body
        sim.advance(step)
    raise AssertionError(f"task {task_id} never finished")


def result_urls(output: dict[str, Any]) -> list[str]:
    """Every file URL of a succeeded task or sync answer, whatever the route's result shape."""
    if "video_url" in output:
        return [output["video_url"]]
    if "results" in output:
        return [r["url"] for r in output["results"] if "url" in r]
    return [c["image"] for ch in output.get("choices", []) for c in ch["message"]["content"] if "image" in c]


def probe_png(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        img.load()
        return img.size


def probe_mp4(data: bytes) -> tuple[int, int, float, bool]:
    """(width, height, seconds, has_audio); decodes every video frame to prove the H.264 is real."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        width, height = stream.codec_context.width, stream.codec_context.height
        seconds = float(container.duration or 0) / av.time_base
        has_audio = bool(container.streams.audio)
        frames = sum(1 for _ in container.decode(video=0))
        assert frames >= 1
    return width, height, seconds, has_audio
