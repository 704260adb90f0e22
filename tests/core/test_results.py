"""The response parser on every shape in docs/protocol.md §4-§7 (fixtures copied from the doc) and on bad ones."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qwentui.core.errors import MalformedResponse
from qwentui.core.results import ResultItem, TaskPage, TaskResult, TaskStatus, parse_task, parse_task_list

# ---- fixtures, as printed in docs/protocol.md --------------------------------------------------------------

SUBMIT = '{"request_id":"4909100c-...","output":{"task_id":"0385dc79-...","task_status":"PENDING"}}'

RUNNING = """{"request_id":"...","output":{"task_id":"...","task_status":"RUNNING",
  "submit_time":"2024-03-01 17:38:24.817","scheduled_time":"2024-03-01 17:38:24.831",
  "task_metrics":{"TOTAL":4,"SUCCEEDED":0,"FAILED":0}}}"""

UNKNOWN = '{"request_id":"...","output":{"task_id":"1111","task_status":"UNKNOWN"}}'

SYNC_CHOICES = """{"output":{"choices":[{"finish_reason":"stop","message":{"role":"assistant",
   "content":[{"image":"https://...png?Expires=...","type":"image"}]}}],"finished":true},
 "usage":{"image_count":1,"input_tokens":0,"output_tokens":0,"size":"1280*1280","total_tokens":0},
 "request_id":"815505c6-..."}"""

I2I_RESULTS = """{"request_id":"...","output":{"task_id":"...","task_status":"SUCCEEDED","submit_time":"...",
  "scheduled_time":"...",
  "end_time":"...","results":[{"orig_prompt":"...","actual_prompt":"...","url":"https://..."}],
  "task_metrics":{"TOTAL":1,"FAILED":0,"SUCCEEDED":1}},"usage":{"image_count":1}}"""

VIDEO = """{"request_id":"...","output":{"task_id":"...","task_status":"SUCCEEDED",
  "submit_time":"2025-07-27 21:05:15.212","scheduled_time":"...","end_time":"...","video_url":"https://dashscope-result-...mp4?Expires=...",
  "orig_prompt":"...","actual_prompt":"..."},
 "usage":{"video_duration":5,"video_count":1,"SR":1080}}"""

TASK_LIST = """{"request_id":"fcb29ae5-...","total":1,"total_page":1,"page_no":1,"page_size":10,
 "data":[{"task_id":"6075262c-...","status":"SUCCEEDED","model_name":"text-embedding-async-v2","region":"cn-beijing",
   "api_key_id":"42677","caller_parent_id":"1493478651020171","caller_uid":"1493478651020171",
   "gmt_create":1709260684485,"start_time":1709260684527,"end_time":1709260685184,
   "request_id":"db5ce040-...","user_api_unique_key":"apikey:v1:..."}]}"""

SIGNED = "https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/1d/a.png?Expires=1&OSSAccessKeyId=k&Signature=s"


def load(text: str) -> Any:
    return json.loads(text)


# ---- §4 envelopes -----------------------------------------------------------------------------------------


def test_async_submit() -> None:
    r = parse_task(load(SUBMIT))
    assert r.status is TaskStatus.PENDING
    assert r.task_id == "0385dc79-..."
    assert r.request_id == "4909100c-..."
    assert r.items == [] and r.urls == []
    assert not r.status.is_final


def test_running_query_with_metrics() -> None:
    r = parse_task(load(RUNNING))
    assert r.status is TaskStatus.RUNNING
    assert r.submit_time == "2024-03-01 17:38:24.817"
    assert r.end_time is None
    assert r.metrics == {"TOTAL": 4, "SUCCEEDED": 0, "FAILED": 0}


@pytest.mark.parametrize("status", list(TaskStatus))
def test_every_status(status: TaskStatus) -> None:
    r = parse_task({"request_id": "r", "output": {"task_id": "t", "task_status": status.value}})
    assert r.status is status
    assert r.status.is_final is (status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED))


def test_unknown_task() -> None:
    r = parse_task(load(UNKNOWN))
    assert r.status is TaskStatus.UNKNOWN
    assert r.task_id == "1111"
    assert not r.status.is_final


@pytest.mark.parametrize("raw", ["EXPIRED", "", "succeeded", 7, None, ["SUCCEEDED"]])
def test_odd_status_values(raw: Any) -> None:
    r = parse_task(
        {"output": {"task_id": "t", "task_status": raw}}
        if raw is not None
        else {"output": {"task_id": "t", "task_status": None, "video_url": "https://x/v.mp4"}}
    )
    expected = {"succeeded": TaskStatus.SUCCEEDED}.get(raw if isinstance(raw, str) else "", TaskStatus.UNKNOWN)
    if raw is None:
        expected = TaskStatus.SUCCEEDED  # no status, but results: a sync answer
    assert r.status is expected


def test_failed_task() -> None:
    body = {
        "request_id": "r1",
        "output": {
            "task_id": "t",
            "task_status": "FAILED",
            "code": "DataInspectionFailed",
            "message": "Input data may contain inappropriate content.",
            "submit_time": "2025-01-01 00:00:00.000",
            "end_time": "2025-01-01 00:00:03.000",
        },
    }
    r = parse_task(body)
    assert r.status is TaskStatus.FAILED
    assert r.code == "DataInspectionFailed"
    assert r.message == "Input data may contain inappropriate content."
    assert r.end_time == "2025-01-01 00:00:03.000"
    assert r.items == []


def test_failed_missing_field_message() -> None:
    r = parse_task(
        {
            "output": {
                "task_id": "t",
                "task_status": "FAILED",
                "code": "InvalidParameter",
                "message": "Field required: input.prompt",
            }
        }
    )
    assert (r.code, r.message) == ("InvalidParameter", "Field required: input.prompt")


# ---- §5 images --------------------------------------------------------------------------------------------


def test_sync_choices_with_usage_size() -> None:
    r = parse_task(load(SYNC_CHOICES))
    assert r.status is TaskStatus.SUCCEEDED
    assert r.task_id is None
    assert r.request_id == "815505c6-..."
    assert r.items == [ResultItem("image", url="https://...png?Expires=...")]
    assert (r.width, r.height) == (1280, 1280)
    assert r.image_count == 1


def test_multiple_choices_and_images() -> None:
    body = {
        "output": {
            "choices": [
                {"message": {"content": [{"image": "https://a/1.png"}, {"image": "https://a/2.png"}]}},
                {"message": {"content": [{"image": "https://a/3.png", "type": "image"}]}},
            ]
        },
        "usage": {"image_count": 3, "size": "1376*768"},
    }
    r = parse_task(body)
    assert r.urls == ["https://a/1.png", "https://a/2.png", "https://a/3.png"]
    assert (r.width, r.height) == (1376, 768)
    assert r.image_count == 3


def test_qwen_image_max_usage_width_height_and_task_metric() -> None:
    """The recorded qwen-image-max sync answer: width/height in usage, items without type, task_metric."""
    body = {
        "request_id": "q",
        "output": {
            "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": [{"image": SIGNED}]}}],
            "task_metric": {"TOTAL": 1, "FAILED": 0, "SUCCEEDED": 1},
        },
        "usage": {"height": 928, "image_count": 1, "width": 1664},
    }
    r = parse_task(body)
    assert r.status is TaskStatus.SUCCEEDED
    assert r.urls == [SIGNED]
    assert (r.width, r.height) == (1664, 928)
    assert r.metrics == {"TOTAL": 1, "FAILED": 0, "SUCCEEDED": 1}


def test_task_metrics_preferred_over_task_metric() -> None:
    r = parse_task({"output": {"task_status": "RUNNING", "task_metrics": {"TOTAL": 2}, "task_metric": {"TOTAL": 9}}})
    assert r.metrics == {"TOTAL": 2}


def test_async_poll_with_choices() -> None:
    body = {
        "request_id": "r",
        "output": {
            "task_id": "t",
            "task_status": "SUCCEEDED",
            "choices": [
                {
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": [{"image": SIGNED, "type": "image"}]},
                }
            ],
        },
        "usage": {"image_count": 1, "size": "1280*1280"},
    }
    r = parse_task(body)
    assert (r.status, r.task_id, r.urls) == (TaskStatus.SUCCEEDED, "t", [SIGNED])


def test_interleave_text_and_images_in_order() -> None:
    body = {
        "output": {
            "task_id": "t",
            "task_status": "SUCCEEDED",
            "choices": [
                {
                    "message": {
                        "content": [
                            {"type": "text", "text": "Step 1: mix."},
                            {"type": "image", "image": "https://a/1.png"},
                            {"type": "text", "text": "Step 2: bake."},
                            {"type": "image", "image": "https://a/2.png"},
                        ]
                    }
                }
            ],
        },
        "usage": {"image_count": 2},
    }
    r = parse_task(body)
    assert [i.kind for i in r.items] == ["text", "image", "text", "image"]
    assert r.urls == ["https://a/1.png", "https://a/2.png"]
    assert r.text == "Step 1: mix.\n\nStep 2: bake."
    assert r.image_count == 2


def test_content_as_plain_string() -> None:
    r = parse_task({"output": {"choices": [{"message": {"content": "just words"}}]}})
    assert r.items == [ResultItem("text", text="just words")]
    assert r.text == "just words"


def test_content_video_item() -> None:
    r = parse_task({"output": {"choices": [{"message": {"content": [{"video": "https://a/v.mp4"}]}}]}})
    assert r.items == [ResultItem("video", url="https://a/v.mp4")]


def test_results_url_list() -> None:
    r = parse_task(load(I2I_RESULTS))
    assert r.status is TaskStatus.SUCCEEDED
    assert r.items == [ResultItem("image", url="https://...")]
    assert r.actual_prompt == "..."
    assert r.metrics == {"TOTAL": 1, "FAILED": 0, "SUCCEEDED": 1}
    assert r.usage == {"image_count": 1}
    assert r.width is None and r.height is None


def test_results_with_partial_failures() -> None:
    body = {
        "output": {
            "task_id": "t",
            "task_status": "SUCCEEDED",
            "results": [
                {"url": "https://a/1.png", "actual_prompt": "a fox, detailed"},
                {"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content."},
                {"url": "https://a/3.png"},
                {"code": "InternalError"},
                {"message": "only a message"},
                {},
            ],
            "task_metrics": {"TOTAL": 6, "SUCCEEDED": 2, "FAILED": 4},
        },
        "usage": {"image_count": 2},
    }
    r = parse_task(body)
    assert r.urls == ["https://a/1.png", "https://a/3.png"]
    assert r.partial_failures == [
        "DataInspectionFailed: Output data may contain inappropriate content.",
        "InternalError",
        "only a message",
    ]
    assert r.actual_prompt == "a fox, detailed"
    assert r.image_count == 2


def test_wanx_results_four_images() -> None:
    body = {
        "output": {
            "task_id": "t",
            "task_status": "SUCCEEDED",
            "results": [{"url": f"https://a/{i}.png"} for i in range(4)],
            "task_metrics": {"TOTAL": 4, "SUCCEEDED": 4, "FAILED": 0},
        },
        "usage": {"image_count": 4},
    }
    r = parse_task(body)
    assert len(r.urls) == 4
    assert r.image_count == 4


def test_results_url_that_is_a_video() -> None:
    r = parse_task({"output": {"task_status": "SUCCEEDED", "results": [{"url": "https://a/v.MP4?Expires=1"}]}})
    assert r.items == [ResultItem("video", url="https://a/v.MP4?Expires=1")]


# ---- §6 video ---------------------------------------------------------------------------------------------


def test_video_success() -> None:
    r = parse_task(load(VIDEO))
    assert r.status is TaskStatus.SUCCEEDED
    assert r.items == [ResultItem("video", url="https://dashscope-result-...mp4?Expires=...")]
    assert r.actual_prompt == "..."
    assert r.submit_time == "2025-07-27 21:05:15.212"
    assert r.video_seconds == 5.0
    assert r.image_count == 0


@pytest.mark.parametrize(
    ("usage", "seconds"),
    [
        ({"video_duration": 5, "video_count": 1, "video_ratio": "16:9", "SR": 720}, 5.0),
        ({"output_video_duration": 10, "input_video_duration": 3, "size": "1280*720"}, 10.0),
        ({"duration": 7.5}, 7.5),
        ({"video_duration": "5"}, 0.0),
        ({"video_duration": True}, 0.0),
        ({}, 0.0),
    ],
)
def test_video_usage_variants(usage: dict[str, Any], seconds: float) -> None:
    r = parse_task({"output": {"task_status": "SUCCEEDED", "video_url": "https://a/v.mp4"}, "usage": usage})
    assert r.video_seconds == seconds


def test_video_usage_size_gives_dimensions() -> None:
    r = parse_task(
        {
            "output": {"task_status": "SUCCEEDED", "video_url": "https://a/v.mp4"},
            "usage": {"size": "1280*720", "duration": 5},
        }
    )
    assert (r.width, r.height) == (1280, 720)


def test_video_url_falls_back_to_results() -> None:
    r = parse_task({"output": {"task_status": "SUCCEEDED", "results": [{"url": "https://a/v.mp4"}]}})
    assert r.items == [ResultItem("video", url="https://a/v.mp4")]


# ---- §7 task list -----------------------------------------------------------------------------------------


def test_flat_task_list() -> None:
    page = parse_task_list(load(TASK_LIST))
    assert isinstance(page, TaskPage)
    assert (page.total, page.total_page, page.page_no, page.page_size) == (1, 1, 1, 10)
    (task,) = page.tasks
    assert task.task_id == "6075262c-..."
    assert task.status is TaskStatus.SUCCEEDED
    assert task.model_name == "text-embedding-async-v2"
    assert (task.created_ms, task.start_ms, task.end_ms) == (1709260684485, 1709260684527, 1709260685184)
    assert task.request_id == "db5ce040-..."


def test_task_list_output_wrapped() -> None:
    body = load(TASK_LIST)
    request_id = body.pop("request_id")
    page = parse_task_list({"request_id": request_id, "output": body})
    assert page.tasks[0].task_id == "6075262c-..."
    assert page.page_size == 10


def test_task_list_tasks_key_and_task_status() -> None:
    page = parse_task_list(
        {
            "tasks": [
                {"task_id": "a", "task_status": "RUNNING"},
                {"task_id": "b", "status": "failed", "gmt_create": "1709260684485"},
            ]
        }
    )
    assert [(t.task_id, t.status) for t in page.tasks] == [("a", TaskStatus.RUNNING), ("b", TaskStatus.FAILED)]
    assert page.tasks[1].created_ms == 1709260684485
    assert (page.total, page.total_page, page.page_no, page.page_size) == (2, 1, 1, 2)


def test_task_list_empty_and_partial_rows() -> None:
    assert parse_task_list({"data": []}).tasks == []
    assert parse_task_list({"data": None}).tasks == []
    assert parse_task_list({}).tasks == []
    page = parse_task_list(
        {
            "data": [
                {"status": "SUCCEEDED"},
                {"task_id": "", "status": "x"},
                {
                    "task_id": "ok",
                    "status": "NEW",
                    "gmt_create": -5,
                    "start_time": "soon",
                    "end_time": True,
                    "model_name": 3,
                },
            ]
        }
    )
    (task,) = page.tasks
    assert task.task_id == "ok"
    assert task.status is TaskStatus.UNKNOWN
    assert (task.created_ms, task.start_ms, task.end_ms, task.model_name) == (-5, None, None, "")


@pytest.mark.parametrize("total", ["²", "9" * 5000, "12a", -1.5, None, [1]], ids=lambda v: repr(v)[:20])
def test_task_list_odd_numbers(total: Any) -> None:
    page = parse_task_list({"total": total, "page_no": total, "data": [{"task_id": "a", "gmt_create": total}]})
    assert page.total == 1
    assert page.tasks[0].created_ms is None


# ---- malformed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        [],
        "",
        "not json",
        42,
        ["output"],
        {"output": "PENDING"},
        {"output": []},
        {"output": {"choices": "image"}},
        {"output": {"choices": ["x"]}},
        {"output": {"choices": [{"message": "hi"}]}},
        {"output": {"choices": [{"message": {"content": {"image": "x"}}}]}},
        {"output": {"choices": [{"message": {"content": ["x"]}}]}},
        {"output": {"choices": [{"message": {"content": 5}}]}},
        {"output": {"results": "https://a/1.png"}},
        {"output": {"results": ["https://a/1.png"]}},
        {"output": {"results": [[{"url": "x"}]]}},
        {"output": {"task_id": "t"}},
        {"request_id": "r"},
        {"request_id": "r", "code": "InvalidApiKey", "message": "Invalid API-key provided."},
        {"output": {"task_status": "SUCCEEDED"}, "usage": "lots"},
        {"output": {"task_status": "SUCCEEDED"}, "usage": [1]},
        {"output": {"video_url": 5}},
    ],
)
def test_malformed_responses(payload: Any) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_task(payload)
    assert str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "x",
        3,
        {"data": "rows"},
        {"data": {"task_id": "a"}},
        {"data": ["a"]},
        {"tasks": 5},
        {"output": {"data": 5}},
    ],
)
def test_malformed_task_lists(payload: Any) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_task_list(payload)
    assert str(info.value)


def test_tolerated_oddities() -> None:
    """Wrong types in optional places are ignored rather than refused."""
    assert parse_task({"output": {"choices": [None]}}).items == []
    assert parse_task_list({"data": [None, {"task_id": "a"}]}).tasks[0].task_id == "a"
    r = parse_task(
        {
            "request_id": 5,
            "output": {
                "task_id": 7,
                "task_status": "SUCCEEDED",
                "video_url": "",
                "task_metrics": [1, 2],
                "code": 400,
                "actual_prompt": ["x"],
                "choices": [{"message": {"content": [{"image": None}, {"text": 5}, {"image": ""}, {}]}}],
            },
            "usage": {"size": "big", "width": "1280", "height": 720, "image_count": "3"},
        }
    )
    assert r.status is TaskStatus.SUCCEEDED
    assert (r.task_id, r.request_id, r.code, r.actual_prompt) == (None, "", None, None)
    assert r.metrics == {}
    assert r.items == []
    assert (r.width, r.height) == (None, None)
    assert r.image_count == 0


@pytest.mark.parametrize("size", ["²*1", "1*" + "9" * 5000, "-1*5", "1280*720*2"], ids=lambda v: v[:20])
def test_usage_size_that_is_not_w_by_h(size: str) -> None:
    r = parse_task({"output": {"task_status": "SUCCEEDED"}, "usage": {"size": size}})
    assert (r.width, r.height) == (None, None)


@pytest.mark.parametrize("count", [float("inf"), float("nan"), -float("inf"), 2.0, True])
def test_image_count_odd_numbers(count: Any) -> None:
    r = parse_task(
        {
            "output": {"task_status": "SUCCEEDED", "results": [{"url": "https://a/1.png"}]},
            "usage": {"image_count": count},
        }
    )
    assert isinstance(r.image_count, int)


def test_nan_and_infinity_from_json() -> None:
    """Python's json accepts NaN/Infinity, so a server can send them."""
    r = parse_task(
        json.loads(
            '{"output":{"task_status":"SUCCEEDED","video_url":"https://a/v.mp4"},'
            '"usage":{"video_duration":NaN,"image_count":Infinity,"width":1,"height":-Infinity}}'
        )
    )
    assert r.urls == ["https://a/v.mp4"]
    assert isinstance(r.image_count, int)
    assert (r.width, r.height) == (None, None)


def test_huge_strings_pass_through() -> None:
    big = "x" * 1_000_000
    r = parse_task(
        {
            "request_id": big,
            "output": {"task_id": big, "task_status": big, "message": big, "video_url": "https://a/" + big},
        }
    )
    assert r.status is TaskStatus.UNKNOWN
    assert r.task_id == big
    assert r.urls == ["https://a/" + big]


def test_deep_nesting_is_refused_or_ignored() -> None:
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    with pytest.raises(MalformedResponse):
        parse_task({"output": {"choices": deep}})
    with pytest.raises(MalformedResponse):
        parse_task({"output": {"results": deep}})
    r = parse_task({"output": {"task_status": "RUNNING", "extra": deep, "task_metrics": {"deep": deep}}})
    assert r.status is TaskStatus.RUNNING
    r = parse_task({"output": {"task_status": "SUCCEEDED", "results": [{"code": deep}]}})
    assert len(r.partial_failures) == 1


def test_task_result_defaults() -> None:
    r = TaskResult(status=TaskStatus.PENDING)
    assert (r.urls, r.text, r.image_count, r.video_seconds) == ([], "", 0, 0.0)


def test_status_parse() -> None:
    assert TaskStatus.parse("running") is TaskStatus.RUNNING
    assert TaskStatus.parse("SUSPENDED") is TaskStatus.SUSPENDED
    assert TaskStatus.parse(None) is TaskStatus.UNKNOWN
    assert TaskStatus.parse({"a": 1}) is TaskStatus.UNKNOWN


# ---- Wan 2.7 answers (the official examples) ---------------------------------------------------------------------


def test_wan27_image_sync_answer() -> None:
    """A named size comes back at the real pixel size the model chose: 2K gave 2985*1405."""
    body = {
        "output": {
            "choices": [
                {
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": [{"image": SIGNED, "type": "image"}]},
                }
            ],
            "finished": True,
            "task_metric": {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0},
        },
        "usage": {
            "image_count": 1,
            "input_tokens": 18790,
            "output_tokens": 2,
            "size": "2985*1405",
            "total_tokens": 18792,
        },
        "request_id": "a3f4befe-1",
    }
    r = parse_task(body)
    assert r.status is TaskStatus.SUCCEEDED and r.urls == [SIGNED]
    assert (r.width, r.height) == (2985, 1405) and r.image_count == 1
    assert r.metrics == {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}


def test_wan27_video_continuation_counts_only_the_new_footage() -> None:
    body = {
        "request_id": "2ca1c497-1",
        "output": {
            "task_id": "af6efbc0-1",
            "task_status": "SUCCEEDED",
            "submit_time": "2025-09-25 11:07:28.590",
            "scheduled_time": "2025-09-25 11:07:35.349",
            "end_time": "2025-09-25 11:17:11.650",
            "orig_prompt": "the wave breaks",
            "video_url": "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/x.mp4?Expires=1",
        },
        "usage": {"duration": 12, "input_video_duration": 2, "output_video_duration": 10, "video_count": 1, "SR": 720},
    }
    r = parse_task(body)
    assert r.status is TaskStatus.SUCCEEDED and r.items[0].kind == "video"
    assert r.video_seconds == 10.0  # the billed `duration` includes the input clip
    assert r.actual_prompt is None and (r.width, r.height) == (None, None)


def test_task_list_row_with_user_api_unique_key() -> None:
    page = parse_task_list(
        {
            "total": 1,
            "data": [
                {"task_id": "t", "status": "RUNNING", "model_name": "wan2.7-i2v", "user_api_unique_key": "apikey:v1:x"}
            ],
        }
    )
    assert page.tasks[0].task_id == "t" and page.tasks[0].model_name == "wan2.7-i2v"
