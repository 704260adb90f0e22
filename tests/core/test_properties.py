"""Property-based tests: random and malformed requests and responses never crash the protocol layer.

A request is either accepted (its body is strict JSON and its route is its catalog row's) or refused with
InvalidRequest / UnknownModel carrying a message. A response is either parsed or refused with MalformedResponse.
Nothing else may escape: no KeyError, TypeError, AttributeError, ValueError, OverflowError or RecursionError.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwentui.core.catalog import CATALOG, Field, Mode, UnknownModel, lookup, models, parse_size
from qwentui.core.errors import MalformedResponse
from qwentui.core.requests import GenerationRequest, InvalidRequest, build, validate
from qwentui.core.results import TaskPage, TaskResult, TaskStatus, parse_task, parse_task_list

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- value strategies -------------------------------------------------------------------------------------

huge_text = st.sampled_from([1_000, 5_000, 200_000]).map(lambda n: "x" * n)
digits = st.sampled_from(
    [
        "1280*720",
        "1280x1280",
        " 1024 * 1024 ",
        "0*0",
        "²*1",
        "1*³",
        "١٢٨٠*٧٢٠",
        "12*",
        "-5*5",
        "1.5*2",
        "9" * 30 + "*1",
        "1K",
        "*",
        "",
    ]
)
urlish = st.sampled_from(
    [
        "https://example.com/a.png",
        "https://example.com/v.mp4",
        "oss://dashscope-instant/a/b.png",
        "file:///etc/hosts",
        "ftp://x/y.png",
        "",
        "   ",
        "~nobody_qwentui/a.png",
        "/nonexistent/a.png",
        "a\x00b",
        "x" * 5000,
        "..",
        "/",
    ]
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    digits,
    urlish,
    huge_text,
    st.sampled_from(
        [m.value for m in Mode]
        + models()
        + ["1K", "2K", "720P", "1080P", "multi", "single", "depth", "image_reference", "video_edit", "obj", "bg"]
    ),
)
json_value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=25,
)

pytestmark = pytest.mark.slow  # not in `dev.py test --fast`: property tests (hypothesis)

REQUEST_KEYS = [
    "prompt",
    "model",
    "negative_prompt",
    "size",
    "n",
    "seed",
    "prompt_extend",
    "watermark",
    "images",
    "duration",
    "resolution",
    "audio_url",
    "audio",
    "shot_type",
    "template",
    "max_images",
    "function",
    "vace",
    "mode",
    "reference_images",
    "reference_image",
    "img_url",
    "first_frame_url",
    "last_frame_url",
    "reference_urls",
    "ref_images_url",
    "enable_interleave",
    "poll_interval_s",
    "timeout_s",
    "obj_or_bg",
    "control_condition",
    "strength",
    "mask_type",
    "expand_ratio",
    "top_scale",
    "bottom_scale",
    "left_scale",
    "right_scale",
    "video_url",
    "mask_image_url",
    "mask_video_url",
    "first_clip_url",
    "last_clip_url",
    "mask_frame_id",
]
request_key = st.one_of(st.sampled_from(REQUEST_KEYS), st.text(max_size=12))
random_request = st.dictionaries(request_key, json_value, max_size=10)


@st.composite
def plausible_request(draw: st.DrawFn) -> dict[str, Any]:
    """A request for a real row with mostly-right fields and a few random ones: reaches the deep rules."""
    row = draw(st.sampled_from(CATALOG))
    data: dict[str, Any] = {
        "mode": row.mode.value,
        "model": row.model,
        "prompt": draw(st.one_of(st.just("a fox"), st.text(max_size=50), huge_text)),
    }
    count = draw(st.integers(min_value=0, max_value=6))
    data["images"] = draw(st.lists(urlish, min_size=count, max_size=count))
    for f in row.fields:
        if draw(st.booleans()):
            choices: list[Any] = [draw(json_value)]
            if f is Field.SIZE and row.size is not None:
                choices += [*row.size.choices, draw(digits)]
            if f is Field.DURATION:
                choices += list(row.durations)
            if f is Field.RESOLUTION:
                choices += list(row.resolutions)
            if f is Field.FUNCTION:
                choices += ["image_reference", "video_repainting", "video_edit", "video_extension", "video_outpainting"]
            data[f.value] = draw(st.sampled_from(choices))
    if row.mode is Mode.VACE or draw(st.booleans()):
        data["vace"] = draw(st.dictionaries(st.sampled_from([*REQUEST_KEYS[-14:], "bogus"]), json_value, max_size=4))
    return data


def check_request(data: Any, mode: Any = None) -> None:
    try:
        req = GenerationRequest.from_dict(data, mode=mode)
        problems = validate(req)
        wire = build(req)
    except (InvalidRequest, UnknownModel) as exc:
        assert str(exc).strip()
        if isinstance(exc, InvalidRequest):
            assert exc.problems
            assert all(p.field and p.message for p in exc.problems)
        return
    assert problems == []
    row = lookup(wire.model, wire.mode)
    assert wire.route is row.route
    assert wire.body["model"] == row.model
    text = json.dumps(wire.body, allow_nan=False)
    assert json.loads(text) == wire.body
    assert isinstance(wire.needs_oss_resolve, bool)
    assert all(isinstance(p, str) for p in wire.local_files)
    json.dumps(req.to_dict(), allow_nan=False)


@SETTINGS
@given(random_request)
def test_random_requests_never_crash(data: dict[str, Any]) -> None:
    check_request(data)


@SETTINGS
@given(random_request, st.one_of(st.sampled_from([m.value for m in Mode]), json_value))
def test_random_requests_with_a_mode_never_crash(data: dict[str, Any], mode: Any) -> None:
    check_request(data, mode=mode if mode else None)


@SETTINGS
@given(plausible_request())
def test_plausible_requests_never_crash(data: dict[str, Any]) -> None:
    check_request(data)


@SETTINGS
@given(json_value)
def test_any_json_as_a_request_never_crashes(data: Any) -> None:
    check_request(data)


@SETTINGS
@given(st.sampled_from(CATALOG), st.text(max_size=40))
def test_valid_rows_accept_any_ordinary_prompt(row: Any, prompt: str) -> None:
    images = [
        f"https://example.com/{i}.png"
        for i in range(max(row.images.min_count, 2 if row.mode is Mode.KF2V else 1 if row.mode is Mode.VACE else 0))
    ]
    data: dict[str, Any] = {"mode": row.mode.value, "model": row.model, "prompt": prompt or "p", "images": images}
    if row.mode is Mode.VACE:
        data["function"] = "image_reference"
    if row.media:  # wan2.7-i2v: its first frame goes in media[]
        data["first_frame_url"] = "https://example.com/first.png"
    if not (prompt or "p").strip() and row.prompt_required:
        return
    wire = build(GenerationRequest.from_dict(data))
    assert wire.route is row.route


@SETTINGS
@given(st.text(max_size=30))
def test_parse_size_never_crashes(text: str) -> None:
    wh = parse_size(text)
    assert wh is None or (isinstance(wh[0], int) and isinstance(wh[1], int))


# ---- responses --------------------------------------------------------------------------------------------

RESPONSE_KEYS = [
    "request_id",
    "output",
    "usage",
    "task_id",
    "task_status",
    "submit_time",
    "scheduled_time",
    "end_time",
    "choices",
    "message",
    "content",
    "image",
    "text",
    "video",
    "type",
    "results",
    "url",
    "code",
    "video_url",
    "actual_prompt",
    "orig_prompt",
    "task_metrics",
    "task_metric",
    "size",
    "width",
    "height",
    "image_count",
    "video_duration",
    "output_video_duration",
    "duration",
    "data",
    "tasks",
    "status",
    "total",
    "total_page",
    "page_no",
    "page_size",
    "gmt_create",
    "start_time",
    "model_name",
    "finished",
]
response_scalar = st.one_of(
    scalar,
    st.floats(),
    st.sampled_from([s.value for s in TaskStatus] + ["EXPIRED", "succeeded", "1280*720", "²*1", "https://a/b.mp4"]),
)
response_value = st.recursive(
    response_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(RESPONSE_KEYS), st.text(max_size=8)), inner, max_size=3),
    ),
    max_leaves=25,
)


@st.composite
def shaped_response(draw: st.DrawFn) -> dict[str, Any]:
    """Close to a real answer, with random values in every slot."""
    content = draw(
        st.lists(
            st.dictionaries(st.sampled_from(["image", "text", "video", "type"]), response_scalar, max_size=3),
            max_size=3,
        )
    )
    output: dict[str, Any] = {
        "task_id": draw(response_scalar),
        "task_status": draw(st.one_of(st.sampled_from([s.value for s in TaskStatus]), response_value)),
    }
    if draw(st.booleans()):
        output["choices"] = [{"message": {"content": draw(st.one_of(st.just(content), response_value))}}]
    if draw(st.booleans()):
        output["results"] = draw(
            st.lists(
                st.dictionaries(
                    st.sampled_from(["url", "code", "message", "actual_prompt"]), response_scalar, max_size=3
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        output["video_url"] = draw(response_value)
    for key in ("task_metrics", "task_metric", "code", "message", "submit_time", "end_time", "actual_prompt"):
        if draw(st.booleans()):
            output[key] = draw(response_scalar)
    body: dict[str, Any] = {"request_id": draw(response_scalar), "output": output}
    if draw(st.booleans()):
        body["usage"] = draw(
            st.dictionaries(
                st.sampled_from(["size", "width", "height", "image_count", "video_duration", "duration"]),
                response_scalar,
            )
        )
    return body


@st.composite
def shaped_task_list(draw: st.DrawFn) -> Any:
    rows = draw(
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "task_id",
                        "status",
                        "task_status",
                        "model_name",
                        "gmt_create",
                        "start_time",
                        "end_time",
                        "request_id",
                    ]
                ),
                response_scalar,
                max_size=8,
            ),
            max_size=4,
        )
    )
    key = draw(st.sampled_from(["data", "tasks"]))
    page = {key: draw(st.one_of(st.just(rows), response_value))}
    for k in ("total", "total_page", "page_no", "page_size"):
        if draw(st.booleans()):
            page[k] = draw(response_scalar)
    return {"output": page} if draw(st.booleans()) else page


def check_task(payload: Any) -> None:
    try:
        result = parse_task(payload)
    except MalformedResponse as exc:
        assert str(exc)
        return
    assert isinstance(result, TaskResult)
    assert isinstance(result.status, TaskStatus)
    assert all(isinstance(u, str) and u for u in result.urls)
    assert isinstance(result.text, str)
    assert isinstance(result.image_count, int)
    assert isinstance(result.video_seconds, float)
    assert result.width is None or isinstance(result.width, int)


def check_list(payload: Any) -> None:
    try:
        page = parse_task_list(payload)
    except MalformedResponse as exc:
        assert str(exc)
        return
    assert isinstance(page, TaskPage)
    for t in page.tasks:
        assert isinstance(t.task_id, str) and t.task_id
        assert isinstance(t.status, TaskStatus)
    assert all(isinstance(v, int) for v in (page.total, page.total_page, page.page_no, page.page_size))


@SETTINGS
@given(response_value)
def test_random_responses_never_crash(payload: Any) -> None:
    check_task(payload)
    check_list(payload)


@SETTINGS
@given(shaped_response())
def test_shaped_responses_never_crash(payload: dict[str, Any]) -> None:
    check_task(payload)


@SETTINGS
@given(shaped_task_list())
def test_shaped_task_lists_never_crash(payload: Any) -> None:
    check_list(payload)


@SETTINGS
@given(st.integers(min_value=1, max_value=300), st.sampled_from(["choices", "results", "output", "usage", "data"]))
def test_deeply_nested_responses(depth: int, key: str) -> None:
    deep: Any = {"image": "https://a/1.png"}
    for _ in range(depth):
        deep = [deep] if depth % 2 else {key: deep}
    payload = {"output": {"task_status": "SUCCEEDED", key: deep}, key: deep}
    check_task(payload)
    check_list(payload)
