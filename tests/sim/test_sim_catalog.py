"""Every catalog row: its minimal wire body is accepted, the task finishes, and the files are real."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from qwentui.core.catalog import (
    CATALOG,
    NAMED_SIZE_PIXELS,
    SEED_MAX,
    Field,
    Mode,
    ModelMode,
    Route,
    parse_size,
    size_of,
    video_size,
)
from qwentui.core.requests import GenerationRequest, build
from qwentui.sim import Simulator
from tests.sim.helpers import minimal_request, probe_mp4, probe_png, result_urls, run_to_end, submit


def expected_size(row: ModelMode, params: dict[str, object], usage: dict[str, object]) -> tuple[int, int]:
    """The size asked for; for a named size (a pixel budget) the size the answer reports, checked against it."""
    value = params.get("size") or params.get("resolution")
    if isinstance(value, str) and value in NAMED_SIZE_PIXELS:
        reported = parse_size(str(usage["size"]))
        assert reported is not None
        budget = NAMED_SIZE_PIXELS[value]
        assert abs(reported[0] * reported[1] - budget) / budget < 0.03, (value, reported)
        return reported
    if isinstance(value, str) and isinstance(params.get("ratio"), str):
        sized = video_size(value, str(params["ratio"]))
        assert sized is not None
        return sized
    return size_of(row, value if isinstance(value, str) else None)


@pytest.mark.parametrize("row", CATALOG, ids=[f"{r.model}-{r.mode.value}" for r in CATALOG])
async def test_every_row_end_to_end(row: ModelMode, api: httpx.AsyncClient, simulator: Simulator) -> None:
    prompt = f"catalog test {row.model} {row.mode.value}"
    wire = build(minimal_request(row, prompt=prompt))
    resp = await submit(api, wire)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert resp.headers["x-request-id"] == body["request_id"]
    if row.is_async:
        assert body["output"]["task_status"] == "PENDING"
        body = await run_to_end(api, simulator, body["output"]["task_id"])
        assert body["output"]["task_status"] == "SUCCEEDED"
        assert {"submit_time", "scheduled_time", "end_time"} <= body["output"].keys()
    output, usage = body["output"], body["usage"]
    urls = result_urls(output)
    params = wire.body["parameters"]
    width, height = expected_size(row, params, usage)
    if row.is_video:
        assert "video_url" in output and len(urls) == 1
        seconds = usage["output_video_duration"] if row.new_protocol else usage["video_duration"]
        assert usage["video_count"] == 1 and seconds == params.get("duration", 5)
    else:
        wanted = params.get("max_images") if row.mode is Mode.INTERLEAVE else params.get("n", 1)
        assert len(urls) == wanted
        assert usage["image_count"] == wanted and usage["size"] == f"{width}*{height}"
        if row.route in (Route.TEXT2IMAGE, Route.IMAGE2IMAGE):
            assert all(r["orig_prompt"] == prompt for r in output["results"])
        else:
            assert output["choices"][0]["message"]["role"] == "assistant"
    if row.mode is Mode.INTERLEAVE:
        kinds = [c["type"] for c in output["choices"][0]["message"]["content"]]
        assert "text" in kinds and "image" in kinds
    for url in urls:
        got = await api.get(url)  # no auth header: result URLs are pre-signed
        assert got.status_code == 200, got.text
        assert simulator.file_sha256(url) == hashlib.sha256(got.content).hexdigest()
        assert int(got.headers["content-length"]) == len(got.content)
        if row.is_video:
            w, h, seconds, has_audio = probe_mp4(got.content)
            assert (w, h) == (width, height)
            assert seconds == pytest.approx(params.get("duration", 5), abs=0.2)
            assert has_audio == (row.takes(Field.AUDIO_URL) or row.takes(Field.AUDIO))
            assert got.headers["content-type"] == "video/mp4"
        else:
            assert probe_png(got.content) == (width, height)
            assert got.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    "row",
    [r for r in CATALOG if Route.MULTIMODAL in (r.route, *r.also_routes) and r.route is not Route.MULTIMODAL],
    ids=lambda r: f"{r.model}-{r.mode.value}",
)
async def test_rows_also_served_on_the_sync_route(row: ModelMode, api: httpx.AsyncClient) -> None:
    """wan2.6-t2i, wan2.6-image edit and qwen-image-plus/max answer synchronously with a messages body."""
    content: list[dict[str, str]] = [{"text": "a sync variant"}]
    content += [{"image": "https://example.com/r.png"}] * row.images.min_count
    body = {
        "model": row.model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": {"size": row.default_size},
    }
    resp = await api.post("/api/v1" + Route.MULTIMODAL.value, json=body, headers={"Authorization": "Bearer k"})
    assert resp.status_code == 200, resp.text
    assert result_urls(resp.json()["output"])


VARIANTS = [
    GenerationRequest(
        mode=Mode.T2V,
        model="wan2.6-t2v",
        prompt="p",
        negative_prompt="n",
        size="1920*1080",
        duration=15,
        seed=1,
        shot_type="multi",
        audio_url="https://a/voice.mp3",
        watermark=True,
    ),
    GenerationRequest(mode=Mode.T2V, model="wan2.5-t2v-preview", prompt="p", size="832*480", duration=10),
    GenerationRequest(
        mode=Mode.I2V,
        model="wan2.6-i2v-flash",
        prompt="",
        images=["https://a/f.png"],
        resolution="1080P",
        duration=2,
        audio=False,
        template="squish",
    ),
    GenerationRequest(
        mode=Mode.KF2V,
        model="wan2.2-kf2v-flash",
        prompt="",
        images=["https://a/f.png"],
        template="flying",
        resolution="480P",
    ),
    GenerationRequest(
        mode=Mode.R2V,
        model="wan2.6-r2v",
        prompt="character1 waves",
        images=["https://a/1.png", "https://a/2.mp4", "https://a/3.mp4", "https://a/4.jpg"],
    ),
    GenerationRequest(
        mode=Mode.VACE,
        model="wan2.1-vace-plus",
        prompt="",
        function="video_repainting",
        vace={"video_url": "https://a/v.mp4", "control_condition": "depth", "strength": 0.5},
    ),
    GenerationRequest(
        mode=Mode.VACE,
        model="wan2.1-vace-plus",
        prompt="x",
        function="video_edit",
        vace={
            "video_url": "https://a/v.mp4",
            "mask_image_url": "https://a/m.png",
            "mask_frame_id": 2,
            "mask_type": "tracking",
            "expand_ratio": 0.05,
        },
    ),
    GenerationRequest(
        mode=Mode.VACE,
        model="wan2.1-vace-plus",
        prompt="x",
        function="video_extension",
        vace={"first_clip_url": "https://a/c.mp4"},
    ),
    GenerationRequest(
        mode=Mode.VACE,
        model="wan2.1-vace-plus",
        prompt="x",
        function="video_outpainting",
        size="720*1280",
        vace={"video_url": "https://a/v.mp4", "top_scale": 1.5, "left_scale": 2.0},
    ),
    GenerationRequest(
        mode=Mode.VACE,
        model="wan2.1-vace-plus",
        prompt="x",
        function="image_reference",
        images=["https://a/1.png", "https://a/2.png"],
        vace={"obj_or_bg": ["obj", "bg"]},
    ),
    GenerationRequest(
        mode=Mode.EDIT,
        model="wan2.6-image",
        prompt="p",
        images=["https://a/i.png"] * 4,
        n=4,
        size="2K",
        negative_prompt="blur",
        seed=5,
    ),
    GenerationRequest(
        mode=Mode.INTERLEAVE,
        model="wan2.6-image",
        prompt="a story",
        images=["https://a/i.png"],
        max_images=2,
        size="1024*1024",
    ),
    GenerationRequest(
        mode=Mode.EDIT, model="qwen-image-2.0-pro", prompt="p", images=["https://a/i.png"] * 3, n=6, size="1664*928"
    ),
    GenerationRequest(
        mode=Mode.T2I,
        model="wan2.6-t2i",
        prompt="p",
        images=["https://a/ref.png"],
        n=4,
        size="1696*960",
        prompt_extend=False,
    ),
    GenerationRequest(
        mode=Mode.I2I,
        model="wan2.5-i2i-preview",
        prompt="p",
        images=["https://a/i.png"] * 3,
        n=2,
        size="1024*1024",
        negative_prompt="n",
    ),
    GenerationRequest(mode=Mode.T2I, model="wan2.2-t2i-flash", prompt="p", size="720*1280", n=4, seed=SEED_MAX),
]


@pytest.mark.parametrize("req", VARIANTS, ids=lambda r: f"{r.model}-{r.mode.value}-{r.function or ''}")
async def test_builder_variants_are_accepted(
    req: GenerationRequest, api: httpx.AsyncClient, simulator: Simulator
) -> None:
    """Every optional field the client can send, as `build()` writes it, is accepted."""
    wire = build(req)
    resp = await submit(api, wire)
    assert resp.status_code == 200, resp.text
    if wire.is_async:
        body = await run_to_end(api, simulator, resp.json()["output"]["task_id"])
        assert body["output"]["task_status"] == "SUCCEEDED"
    task = simulator.find_tasks(model=req.model)[-1]
    named = NAMED_SIZE_PIXELS.get(req.size or "")
    if named:  # a pixel budget: the aspect ratio is the model's choice
        assert abs(task.job.width * task.job.height - named) / named < 0.03
    else:
        assert (task.job.width, task.job.height) == size_of(task.job.row, req.size or req.resolution)
