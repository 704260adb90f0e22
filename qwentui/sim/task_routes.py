"""Task routes: GET /tasks/{id}, POST /tasks/{id}/cancel and the paged, filtered GET /tasks."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from qwentui.sim.clock import parse_list_time
from qwentui.sim.errors import MSG_CANCEL, ApiError, json_response
from qwentui.sim.gate import base_url
from qwentui.sim.outputs import list_item, task_output
from qwentui.sim.simulator import Simulator
from qwentui.sim.tasks import Status

LIST_STATUSES = {s.value for s in Status} - {Status.UNKNOWN.value}


async def get_task(request: Request, sim: Simulator, request_id: str, key: str) -> Response:
    task_id = request.path_params["task_id"]
    task = sim.task(task_id)
    if task is None:
        body: dict[str, Any] = {"request_id": request_id, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
        return json_response(body, request_id)
    output, usage = task_output(task, sim.now(), sim.config, sim.files, base_url(request, sim.config))
    body = {"request_id": request_id, "output": output}
    if usage is not None:
        body["usage"] = usage
    return json_response(body, request_id)


async def cancel_task(request: Request, sim: Simulator, request_id: str, key: str) -> Response:
    task = sim.task(request.path_params["task_id"])
    now = sim.now()
    if task is None or task.status(now, sim.config.task_ttl) is not Status.PENDING:
        raise ApiError(400, "UnsupportedOperation", MSG_CANCEL)
    sim.store.cancel(task, now)
    return json_response({"request_id": request_id}, request_id)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ApiError.invalid(f"{name} must be an integer in [{lo}, {hi}].")
    return int(raw)


async def list_tasks(request: Request, sim: Simulator, request_id: str, key: str) -> Response:
    q = request.query_params
    cfg = sim.config
    page_no = _int_param(request, "page_no", 1, 1, 1_000_000)
    page_size = _int_param(request, "page_size", 10, 1, 100)
    window: list[float | None] = []
    for name in ("start_time", "end_time"):
        raw = q.get(name)
        try:
            window.append(parse_list_time(raw, cfg.tz_offset_hours) if raw else None)
        except ValueError:
            raise ApiError.invalid(f"{name} must be YYYYMMDDhhmmss, e.g. 20250101000000.") from None
    status = q.get("status") or None
    if status is not None and status not in LIST_STATUSES:
        raise ApiError.invalid(f"status must be one of: {', '.join(sorted(LIST_STATUSES))}.")
    now = sim.now()
    start, end = window
    model, key_filter = q.get("model_name") or None, q.get("api_key_id") or None
    rows = []
    for task in reversed(sim.store.all()):  # newest first already; cheap filters before the status
        if not task.listed or (model and task.model != model) or (key_filter and task.key_id != key_filter):
            continue
        if (start is not None and task.submitted < start) or (end is not None and task.submitted > end):
            continue
        st = task.status(now, cfg.task_ttl)
        if st is Status.UNKNOWN or (status and st.value != status):
            continue
        rows.append(task)
    rows.sort(key=lambda t: (t.submitted, t.seq), reverse=True)  # a clock may step back; nearly sorted: cheap
    page = rows[(page_no - 1) * page_size : page_no * page_size]
    body = {
        "request_id": request_id,
        "total": len(rows),
        "total_page": math.ceil(len(rows) / page_size),
        "page_no": page_no,
        "page_size": page_size,
        "data": [list_item(t, now, cfg) for t in page],
    }
    return json_response(body, request_id)
