"""The six generation routes: validate, create the task (or answer the sync call), and the two faults
that strike after the task exists (the answer lost, or a 500 for work that was done)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from qwentui.core.catalog import Route
from qwentui.sim.errors import (
    MSG_ASYNC_UNSUPPORTED,
    MSG_SYNC_UNSUPPORTED,
    ApiError,
    DroppedResponse,
    error_response,
    json_response,
)
from qwentui.sim.gate import Handler, base_url
from qwentui.sim.media import clip_seconds
from qwentui.sim.outputs import sync_body
from qwentui.sim.simulator import Simulator, Submission
from qwentui.sim.validate import Job, validate

_NOT_JSON = object()  # a body that did not parse (recorded as its raw bytes)


def submit_handler(route: Route) -> Handler:
    async def handle(request: Request, sim: Simulator, request_id: str, key: str) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw.strip() else _NOT_JSON
        except ValueError:
            body = _NOT_JSON
        record = Submission(sim.now(), route.value, body if body is not _NOT_JSON else raw, headers, request_id)
        sim.submissions.append(record)
        try:
            response = await _submit(request, sim, request_id, key, route, body, record)
        except ApiError as err:
            record.status = err.status
            raise
        record.status = response.status_code if not isinstance(response, DroppedResponse) else 0
        return response

    return handle


def _measured_clip(job: Job, sim: Simulator) -> Job:
    """A continuation of an uploaded clip bills the clip's real length (`usage.input_video_duration`)."""
    upload = sim.uploads.get(job.clip_url) if job.clip_url and job.clip_url.startswith("oss://") else None
    seconds = clip_seconds(upload.data) if upload is not None and upload.data is not None else None
    return replace(job, input_video_seconds=round(seconds)) if seconds else job


async def _submit(
    request: Request, sim: Simulator, request_id: str, key: str, route: Route, body: Any, record: Submission
) -> Response:
    async_header = request.headers.get("x-dashscope-async", "").strip().lower() == "enable"
    if route.is_async and not async_header:
        raise ApiError(403, "AccessDenied", MSG_SYNC_UNSUPPORTED)
    if not route.is_async and async_header:
        raise ApiError(403, "AccessDenied", MSG_ASYNC_UNSUPPORTED)
    if body is _NOT_JSON:
        raise ApiError.invalid("The request body is not valid JSON.")
    oss_header = request.headers.get("x-dashscope-ossresourceresolve", "").strip().lower() == "enable"
    now = sim.now()
    job = validate(route, body, oss_header, lambda url, model: sim.uploads.problem(url, model, now))
    job = _measured_clip(job, sim)
    base = base_url(request, sim.config)
    if route.is_async:
        task = sim.create_task(job, body, key, request_id)
        answer: dict[str, Any] = {
            "request_id": request_id,
            "output": {"task_id": task.task_id, "task_status": "PENDING"},
        }
        record.outcome = "accepted"
    else:
        failure = sim.faults.task_failure()
        pending, running = sim.durations(job)
        await asyncio.sleep(min(pending + running, sim.config.sync_max_seconds))
        if failure is not None:
            status = 500 if failure.code.startswith("InternalError") else 400
            raise ApiError(status, failure.code, failure.message)
        task = sim.create_task(job, body, key, request_id, listed=False)
        answer = sync_body(task, sim.files, base, request_id)
        record.outcome = "sync"
    record.task_id = task.task_id
    # The task exists from here on: these two faults lose or spoil the answer, not the work.
    if sim.faults.roll(sim.config.drop_after_rate):
        record.outcome = "dropped_after"
        return DroppedResponse()  # the work is done and billed; the client hears nothing
    if sim.faults.roll(sim.config.error_after_rate):
        record.outcome = "error_after"
        return error_response(ApiError.for_status(500), request_id)
    return json_response(answer, request_id)
