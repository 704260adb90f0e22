"""The client against the simulator for every (model, mode) of the catalog: submit, follow, parse, download,
and check the files are real images / videos of the requested size."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from qwentui.core.api import DashScopeClient
from qwentui.core.catalog import CATALOG, NAMED_SIZE_PIXELS, Field, Mode, ModelMode, size_of
from qwentui.core.download import download, safe_output_path
from qwentui.core.requests import GenerationRequest, build
from qwentui.core.results import TaskResult, TaskStatus
from tests.helpers import SimHarness, poll_until

REF = "https://example.com/ref.png"


def minimal_request(row: ModelMode) -> GenerationRequest:
    images = [REF] * row.images.min_count
    if row.mode is Mode.KF2V:
        images = [REF, "https://example.com/last.png"]
    req = GenerationRequest(mode=row.mode, model=row.model, prompt="a lighthouse at dusk", images=images)
    if row.mode is Mode.VACE:
        req.function = "image_reference"
        req.images = [REF]
    if row.takes(Field.MEDIA):  # wan2.7-i2v: the first frame goes in media[]
        req.media = [{"type": "first_frame", "url": REF}]
    return req


async def follow(client: DashScopeClient, task_id: str) -> TaskResult:
    seen: list[TaskResult] = []

    async def final() -> bool:
        seen.append(await client.get_task(task_id))
        return seen[-1].status.is_final

    await poll_until(final, timeout=30, what=f"task {task_id} to finish", interval=0.01)
    return seen[-1]


def expected_size(row: ModelMode, req: GenerationRequest, result: TaskResult) -> tuple[int, int]:
    """The size asked for; a named size (1K/2K/4K) is a pixel budget: the size the answer reports, near it."""
    body = build(req).body
    params = body["parameters"]
    budget = NAMED_SIZE_PIXELS.get(params.get("size") or "")
    if budget:
        assert result.width and result.height, "a named size is reported in usage.size"
        assert abs(result.width * result.height - budget) / budget < 0.03
        return result.width, result.height
    return size_of(row, params.get("size") or params.get("resolution"))


@pytest.mark.parametrize("row", CATALOG, ids=[f"{r.model}-{r.mode.value}" for r in CATALOG])
async def test_every_model_end_to_end(row: ModelMode, sim: SimHarness, tmp_path: Path) -> None:
    req = minimal_request(row)
    wire = build(req)
    async with sim.client() as client:
        submitted = await client.submit(wire)
        if row.is_async:
            assert submitted.task_id and submitted.status is TaskStatus.PENDING
            result = await follow(client, submitted.task_id)
        else:
            result = submitted
    assert result.status is TaskStatus.SUCCEEDED, (result.code, result.message)
    assert result.urls, "a successful task has result URLs"
    want_w, want_h = expected_size(row, req, result)
    async with sim.download_client() as http:
        for i, url in enumerate(result.urls, start=1):
            ext = "mp4" if row.is_video else "png"
            got = await download(http, url, safe_output_path(tmp_path, "job1", i, ext))
            assert got.sha256 == sim.sim.file_sha256(url)
            if row.is_video:
                with av.open(str(got.path)) as container:
                    stream = container.streams.video[0]
                    assert (stream.codec_context.width, stream.codec_context.height) == (want_w, want_h)
                    assert next(container.decode(video=0)) is not None
            else:
                with Image.open(got.path) as img:
                    img.load()
                    assert img.format == "PNG"
                    if row.mode is not Mode.INTERLEAVE:
                        assert img.size == (want_w, want_h)
    if row.mode is Mode.INTERLEAVE:
        assert result.text, "interleaved results keep their text"


async def test_upload_of_a_local_file_then_use(sim: SimHarness, tmp_path: Path) -> None:
    photo = tmp_path / "cat.png"
    Image.new("RGB", (640, 480), (200, 120, 40)).save(photo)
    req = GenerationRequest(mode=Mode.I2V, prompt="the cat turns its head", images=[str(photo)])
    wire = build(req)
    assert wire.local_files == [str(photo)]
    async with sim.client() as client:
        uploaded = await client.upload_local_files(wire)
        assert not uploaded.local_files
        assert uploaded.body["input"]["img_url"].startswith("oss://")
        assert uploaded.needs_oss_resolve
        submitted = await client.submit(uploaded)
        assert submitted.task_id
        result = await follow(client, submitted.task_id)
    assert result.status is TaskStatus.SUCCEEDED
