"""Parse every response shape of the generation and task APIs into one `TaskResult`.

Shapes met on the wire (`docs/protocol.md` §4-§7): `output.results[].url` (text2image / image2image),
`output.choices[].message.content[]` with `image` and `text` items (multimodal routes, interleave),
`output.video_url` (video), top-level `usage`, `output.task_metrics`, and the flat task list of `GET /tasks`.
The parser is defensive: a server answer is untrusted input, and anything unexpected becomes
`MalformedResponse` with a short reason, never a KeyError or TypeError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qwentui.core.catalog import parse_size
from qwentui.core.errors import MalformedResponse


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: Any) -> TaskStatus:
        try:
            return cls(str(value).upper())
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED)


@dataclass(frozen=True)
class ResultItem:
    kind: str  # "image" | "video" | "text"
    url: str | None = None
    text: str | None = None


@dataclass
class TaskResult:
    """A task (or a sync call) as the service last described it."""

    status: TaskStatus
    task_id: str | None = None
    request_id: str = ""
    items: list[ResultItem] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    submit_time: str | None = None
    end_time: str | None = None
    code: str | None = None
    message: str | None = None
    actual_prompt: str | None = None
    orig_prompt: str | None = None  # the prompt as the service received it (results and video routes echo it)
    width: int | None = None
    height: int | None = None
    partial_failures: list[str] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [i.url for i in self.items if i.url]

    @property
    def text(self) -> str:
        return "\n\n".join(i.text for i in self.items if i.kind == "text" and i.text)

    @property
    def image_count(self) -> int:
        value = self.usage.get("image_count")
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return int(value)
        return sum(1 for i in self.items if i.kind == "image")

    @property
    def video_seconds(self) -> float:
        for key in ("video_duration", "output_video_duration", "duration"):
            value = self.usage.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return 0.0


def _dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedResponse(f"{where} is {type(value).__name__}, expected an object")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_task(payload: Any) -> TaskResult:
    """A submit, query or sync-generation response body -> TaskResult."""
    body = _dict(payload, "response")
    if not body:
        raise MalformedResponse("empty response body")
    output = _dict(body.get("output"), "output")
    usage = _dict(body.get("usage"), "usage")
    status_raw = output.get("task_status")
    items: list[ResultItem] = []
    partial: list[str] = []

    choices = output.get("choices")
    if choices is not None:
        if not isinstance(choices, list):
            raise MalformedResponse("output.choices is not a list")
        for choice in choices:
            message = _dict(_dict(choice, "choice").get("message"), "choice.message")
            content = message.get("content") or []
            if isinstance(content, str):
                items.append(ResultItem("text", text=content))
                continue
            if not isinstance(content, list):
                raise MalformedResponse("message.content is not a list")
            for part in content:
                part = _dict(part, "content item")
                if url := _str(part.get("image")):
                    items.append(ResultItem("image", url=url))
                elif url := _str(part.get("video")):
                    items.append(ResultItem("video", url=url))
                elif (text := part.get("text")) is not None and isinstance(text, str):
                    items.append(ResultItem("text", text=text))
    results = output.get("results")
    if results is not None:
        if not isinstance(results, list):
            raise MalformedResponse("output.results is not a list")
        for entry in results:
            entry = _dict(entry, "result")
            if url := _str(entry.get("url")):
                items.append(ResultItem("video" if _looks_video(url) else "image", url=url))
            elif entry.get("code") or entry.get("message"):
                partial.append(f"{entry.get('code', '')}: {entry.get('message', '')}".strip(": "))
    if url := _str(output.get("video_url")):
        items.append(ResultItem("video", url=url))

    if status_raw is None:
        # a sync multimodal answer has no task status: its presence of results is its success
        if choices is None and not items:
            raise MalformedResponse("response has neither a task status nor results")
        status = TaskStatus.SUCCEEDED
    else:
        status = TaskStatus.parse(status_raw)

    width = height = None
    if isinstance(usage.get("size"), str) and (wh := parse_size(usage["size"])):
        width, height = wh
    elif isinstance(usage.get("width"), int) and isinstance(usage.get("height"), int):
        width, height = usage["width"], usage["height"]

    actual, orig = output.get("actual_prompt"), output.get("orig_prompt")
    echoed = [entry for entry in results if isinstance(entry, dict)] if isinstance(results, list) else []
    if actual is None and echoed:
        actual = echoed[0].get("actual_prompt")
    if orig is None:  # a failed item of a partly failed task carries no prompt: take the first that does
        orig = next((entry["orig_prompt"] for entry in echoed if isinstance(entry.get("orig_prompt"), str)), None)
    metrics = output.get("task_metrics") or output.get("task_metric") or {}
    return TaskResult(
        status=status,
        task_id=_str(output.get("task_id")),
        request_id=_str(body.get("request_id")) or "",
        items=items,
        usage=usage,
        metrics=metrics if isinstance(metrics, dict) else {},
        submit_time=_str(output.get("submit_time")),
        end_time=_str(output.get("end_time")),
        code=_str(output.get("code")),
        message=_str(output.get("message")),
        actual_prompt=_str(actual),
        orig_prompt=orig if isinstance(orig, str) else None,
        width=width,
        height=height,
        partial_failures=partial,
    )


def _looks_video(url: str) -> bool:
    return url.split("?", 1)[0].lower().endswith((".mp4", ".mov", ".webm"))


@dataclass(frozen=True)
class TaskSummary:
    """One row of `GET /tasks`."""

    task_id: str
    status: TaskStatus
    model_name: str = ""
    created_ms: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    request_id: str = ""


@dataclass
class TaskPage:
    total: int
    total_page: int
    page_no: int
    page_size: int
    tasks: list[TaskSummary]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdecimal() and len(value) <= 18:  # isdigit() lets '²' through to int()
        return int(value)
    return None


def parse_task_list(payload: Any) -> TaskPage:
    """The flat `GET /tasks` answer (also tolerates `output`-wrapped and `tasks`-keyed variants)."""
    if payload is None:
        raise MalformedResponse("empty response body")
    body = _dict(payload, "response")
    if "output" in body and "data" not in body and isinstance(body["output"], dict):
        body = body["output"]
    rows = body.get("data", body.get("tasks", []))
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise MalformedResponse("task list 'data' is not a list")
    tasks: list[TaskSummary] = []
    for row in rows:
        row = _dict(row, "task list row")
        task_id = _str(row.get("task_id"))
        if not task_id:
            continue
        tasks.append(
            TaskSummary(
                task_id=task_id,
                status=TaskStatus.parse(row.get("status", row.get("task_status"))),
                model_name=_str(row.get("model_name")) or "",
                created_ms=_int(row.get("gmt_create")),
                start_ms=_int(row.get("start_time")),
                end_ms=_int(row.get("end_time")),
                request_id=_str(row.get("request_id")) or "",
            )
        )
    return TaskPage(
        total=_int(body.get("total")) or len(tasks),
        total_page=_int(body.get("total_page")) or 1,
        page_no=_int(body.get("page_no")) or 1,
        page_size=_int(body.get("page_size")) or len(tasks),
        tasks=tasks,
    )
