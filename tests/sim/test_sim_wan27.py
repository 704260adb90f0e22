"""The simulator speaks Wan 2.7: the media[] combinations of wan2.7-i2v, resolution + ratio of wan2.7-t2v, image
sets, 4K, thinking mode, palettes and region boxes of wan2.7-image(-pro), the documented `usage` shapes (named
sizes at a real pixel size), and the two protocol gaps: `task_metric` in sync answers, `user_api_unique_key`
in the task list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qwentui.core.catalog import NAMED_SIZE_PIXELS, Mode, Route, lookup, parse_size
from qwentui.sim import Simulator
from tests.sim.helpers import API, ASYNC, AUTH, KEY, probe_mp4, probe_png, query, result_urls, run_to_end

I2V = lookup("wan2.7-i2v", Mode.I2V)
T2V = lookup("wan2.7-t2v", Mode.T2V)
FRAME = "https://example.com/first.png"
LAST = "https://example.com/last.png"
CLIP = "https://example.com/clip.mp4"
AUDIO = "https://example.com/voice.mp3"


def messages(prompt: str, *images: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": prompt}, *({"image": i} for i in images)]}]}


async def post(api: httpx.AsyncClient, route: Route, body: dict[str, Any]) -> httpx.Response:
    return await api.post(API + route.value, json=body, headers=ASYNC if route.is_async else AUTH)


async def image(
    api: httpx.AsyncClient,
    model: str,
    params: dict[str, Any],
    *images: str,
    route: Route = Route.MULTIMODAL,
    prompt: str = "a clock in a quiet room",
) -> httpx.Response:
    return await post(api, route, {"model": model, "input": messages(prompt, *images), "parameters": params})


async def i2v(api: httpx.AsyncClient, media: list[dict[str, str]], **params: Any) -> httpx.Response:
    body = {"model": I2V.model, "input": {"prompt": "it moves", "media": media}, "parameters": params}
    return await post(api, Route.VIDEO, body)


def refused(resp: httpx.Response, *fragments: str) -> str:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "InvalidParameter"
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body["message"])
    message: str = body["message"]
    return message


# ---- wan2.7-image(-pro) ---------------------------------------------------------------------------------------


async def test_sync_image_answer_has_task_metric_real_size_and_tokens(api: httpx.AsyncClient) -> None:
    resp = await image(api, "wan2.7-image-pro", {"size": "2K", "n": 2})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    output, usage = body["output"], body["usage"]
    assert output["task_metric"] == {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0}
    assert output["finished"] is True and "task_status" not in output
    size = parse_size(usage["size"])
    assert size is not None
    budget = NAMED_SIZE_PIXELS["2K"]
    assert abs(size[0] * size[1] - budget) / budget < 0.03
    assert usage["image_count"] == 2 and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    for url in result_urls(output):
        assert probe_png((await api.get(url)).content) == size


async def test_named_size_is_a_budget_whose_aspect_the_model_picks(api: httpx.AsyncClient) -> None:
    sizes = set()
    for prompt in ("a lighthouse", "a tall tower", "a wide valley", "a clock", "two cats", "a street"):
        resp = await image(api, "wan2.7-image", {"size": "2K", "n": 1}, prompt=prompt)
        size = parse_size(resp.json()["usage"]["size"])
        assert size is not None and abs(size[0] * size[1] - NAMED_SIZE_PIXELS["2K"]) / NAMED_SIZE_PIXELS["2K"] < 0.03
        sizes.add(size)
    assert len(sizes) > 1 and any(w != h for w, h in sizes)  # not a guessed square


async def test_every_sync_image_answer_has_task_metric(api: httpx.AsyncClient) -> None:
    """The recorded sync answers carry `output.task_metric` (singular); the simulator lacked it."""
    body = {"model": "wan2.6-t2i", "input": messages("a fox"), "parameters": {"size": "1280*1280", "n": 1}}
    output = (await post(api, Route.MULTIMODAL, body)).json()["output"]
    assert output["task_metric"] == {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}


async def test_wan26_image_named_size_is_a_pixel_budget(api: httpx.AsyncClient) -> None:
    resp = await image(api, "wan2.6-image", {"size": "1K", "n": 1, "enable_interleave": False}, FRAME)
    width, height = parse_size(resp.json()["usage"]["size"]) or (0, 0)
    assert abs(width * height - NAMED_SIZE_PIXELS["1K"]) / NAMED_SIZE_PIXELS["1K"] < 0.03


async def test_async_image_set_of_twelve(api: httpx.AsyncClient, simulator: Simulator) -> None:
    resp = await image(
        api, "wan2.7-image", {"size": "2K", "n": 12, "enable_sequential": True}, route=Route.IMAGE_GENERATION
    )
    assert resp.status_code == 200, resp.text
    body = await run_to_end(api, simulator, resp.json()["output"]["task_id"])
    assert body["output"]["task_status"] == "SUCCEEDED" and body["output"]["finished"] is True
    assert len(result_urls(body["output"])) == 12 and body["usage"]["image_count"] == 12
    assert body["output"]["task_metrics"]["TOTAL"] == 12


async def test_4k_only_for_pro_text_to_image(api: httpx.AsyncClient) -> None:
    resp = await image(api, "wan2.7-image-pro", {"size": "4K", "n": 1, "thinking_mode": True})
    assert resp.status_code == 200, resp.text
    width, height = parse_size(resp.json()["usage"]["size"]) or (0, 0)
    assert abs(width * height - NAMED_SIZE_PIXELS["4K"]) / NAMED_SIZE_PIXELS["4K"] < 0.03
    refused(await image(api, "wan2.7-image", {"size": "4K"}), "parameters.size", "'4K'", "wan2.7-image")
    refused(await image(api, "wan2.7-image-pro", {"size": "4K"}, FRAME), "parameters.size", "'4K'")
    refused(await image(api, "wan2.7-image-pro", {"size": "4K", "enable_sequential": True}), "enable_sequential")


@pytest.mark.parametrize(
    ("params", "images", "fragments"),
    [
        ({"n": 5}, 0, ("parameters.n", "[1, 4]")),
        ({"n": 13, "enable_sequential": True}, 0, ("parameters.n", "[1, 12]")),
        ({"enable_sequential": "yes"}, 0, ("enable_sequential", "true or false")),
        ({"thinking_mode": True, "enable_sequential": True, "n": 2}, 0, ("thinking_mode", "enable_sequential")),
        ({"color_palette": [{"hex": "#FF0000", "ratio": "50%"}] * 3}, 0, ("color_palette", "100%")),
        ({"color_palette": [{"hex": "red", "ratio": "50%"}] * 2}, 0, ("color_palette",)),
        ({"bbox_list": [[[1, 2, 3, 4]]]}, 2, ("bbox_list", "one list of boxes per input image")),
        ({"bbox_list": [[], [[5, 5, 1, 1]]]}, 2, ("bbox_list", "x1 < x2")),
        ({"size": "9000*9000"}, 0, ("parameters.size",)),
    ],
)
async def test_image_rules(
    api: httpx.AsyncClient, params: dict[str, Any], images: int, fragments: tuple[str, ...]
) -> None:
    refs = [f"https://example.com/r{i}.png" for i in range(images)]
    refused(await image(api, "wan2.7-image-pro", params, *refs), *fragments)


async def test_ten_references_are_refused_and_nine_accepted(api: httpx.AsyncClient) -> None:
    refs = [f"https://example.com/r{i}.png" for i in range(10)]
    refused(await image(api, "wan2.7-image", {"n": 1}, *refs), "1-9", "10 given")
    resp = await image(api, "wan2.7-image", {"n": 1, "bbox_list": [[]] * 8 + [[[0, 0, 10, 10]]]}, *refs[:9])
    assert resp.status_code == 200, resp.text


# ---- wan2.7-i2v -----------------------------------------------------------------------------------------------

ALLOWED = [
    [("first_frame", FRAME)],
    [("first_frame", FRAME), ("driving_audio", AUDIO)],
    [("first_frame", FRAME), ("last_frame", LAST)],
    [("first_frame", FRAME), ("last_frame", LAST), ("driving_audio", AUDIO)],
    [("first_clip", CLIP)],
    [("first_clip", CLIP), ("last_frame", LAST)],
]
FORBIDDEN = [
    ([], "first_frame or a first_clip"),
    ([("last_frame", LAST)], "not a supported combination"),
    ([("driving_audio", AUDIO)], "not a supported combination"),
    ([("first_frame", FRAME), ("first_clip", CLIP)], "not a supported combination"),
    ([("first_clip", CLIP), ("driving_audio", AUDIO)], "not a supported combination"),
    ([("first_frame", FRAME), ("first_frame", LAST)], "twice"),
    ([("reference_image", FRAME)], "'reference_image' is not supported"),
    ([("first_frame", "/home/me/frame.png")], "input.media[0].url"),
]


def media(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"type": t, "url": u} for t, u in pairs]


@pytest.mark.parametrize("pairs", ALLOWED, ids=lambda p: "+".join(t for t, _ in p))
async def test_every_allowed_media_combination_runs(
    pairs: list[tuple[str, str]], api: httpx.AsyncClient, simulator: Simulator
) -> None:
    resp = await i2v(api, media(pairs), resolution="720P", duration=3)
    assert resp.status_code == 200, resp.text
    body = await run_to_end(api, simulator, resp.json()["output"]["task_id"])
    assert body["output"]["task_status"] == "SUCCEEDED" and body["output"]["orig_prompt"] == "it moves"
    clip = any(t == "first_clip" for t, _ in pairs)
    usage = body["usage"]
    assert usage["output_video_duration"] == 3 and usage["video_count"] == 1 and usage["SR"] == 720
    assert usage["input_video_duration"] == (2 if clip else 0)
    assert usage["duration"] == usage["input_video_duration"] + usage["output_video_duration"]
    assert "video_duration" not in usage  # the wan2.6 shape is not mixed in
    width, height, seconds, _ = probe_mp4((await api.get(body["output"]["video_url"])).content)
    assert (width, height) == (1280, 720) and seconds == pytest.approx(3, abs=0.2)


@pytest.mark.parametrize(("pairs", "fragment"), FORBIDDEN, ids=lambda x: str(x)[:40] if isinstance(x, list) else None)
async def test_forbidden_media_combinations_are_refused(
    pairs: list[tuple[str, str]], fragment: str, api: httpx.AsyncClient
) -> None:
    refused(await i2v(api, media(pairs)), fragment)


async def test_media_missing_or_malformed(api: httpx.AsyncClient) -> None:
    no_media = {"model": I2V.model, "input": {"prompt": "p"}, "parameters": {}}
    refused(await post(api, Route.VIDEO, no_media), "input.media")
    refused(await i2v(api, [{"url": FRAME}]), "input.media[0]")
    refused(await i2v(api, media([("first_frame", FRAME)]), duration=16), "parameters.duration")
    refused(await i2v(api, media([("first_frame", FRAME)]), resolution="480P"), "parameters.resolution")


# ---- wan2.7-t2v -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "ratio", "size"),
    [("720P", "9:16", (720, 1280)), ("720P", "4:3", (1088, 832)), ("1080P", "1:1", (1440, 1440))],
)
async def test_t2v_resolution_and_ratio_give_the_frame_size(
    resolution: str, ratio: str, size: tuple[int, int], api: httpx.AsyncClient, simulator: Simulator
) -> None:
    body = {
        "model": T2V.model,
        "input": {"prompt": "a boat", "negative_prompt": "blur", "audio_url": AUDIO},
        "parameters": {"resolution": resolution, "ratio": ratio, "duration": 2, "seed": 3},
    }
    resp = await post(api, Route.VIDEO, body)
    assert resp.status_code == 200, resp.text
    done = await run_to_end(api, simulator, resp.json()["output"]["task_id"])
    assert done["usage"]["output_video_duration"] == 2 and done["usage"]["input_video_duration"] == 0
    width, height, _, _ = probe_mp4((await api.get(done["output"]["video_url"])).content)
    assert (width, height) == size


async def test_t2v_refusals(api: httpx.AsyncClient) -> None:
    def body(**params: Any) -> dict[str, Any]:
        return {"model": T2V.model, "input": {"prompt": "p" * 10}, "parameters": params}

    refused(await post(api, Route.VIDEO, body(ratio="21:9")), "parameters.ratio", "16:9")
    refused(await post(api, Route.VIDEO, body(duration="5")), "parameters.duration")
    long = {"model": T2V.model, "input": {"prompt": "p" * 5001}, "parameters": {}}
    refused(await post(api, Route.VIDEO, long), "5000")


# ---- the task list --------------------------------------------------------------------------------------------


async def test_list_rows_carry_user_api_unique_key(api: httpx.AsyncClient, simulator: Simulator) -> None:
    resp = await i2v(api, media([("first_frame", FRAME)]))
    task_id = resp.json()["output"]["task_id"]
    await query(api, task_id)
    row = (await api.get(f"{API}/tasks", headers=AUTH)).json()["data"][0]
    assert row["task_id"] == task_id
    assert row["user_api_unique_key"] == f"apikey:v1:{row['api_key_id']}"
    assert KEY not in row["user_api_unique_key"]  # a fingerprint, never the key
