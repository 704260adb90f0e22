"""The HTTP face of the simulator: a Starlette app speaking the DashScope protocol.

Routes: the six generation routes, task get / cancel / list and getPolicy under `/api/v1`; the OSS upload
host at `/oss`; result files at `/files/...`. Every API request passes the same gate in the same order as
the real service appears to: connection faults, auth, storms, rate limits, then the handler.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qwentui.core.catalog import Route, models
from qwentui.sim.auth import check_key
from qwentui.sim.clock import parse_list_time
from qwentui.sim.config import SimConfig
from qwentui.sim.errors import (
    MSG_ARREARAGE,
    MSG_ASYNC_UNSUPPORTED,
    MSG_CANCEL,
    MSG_EMPTY_MODEL,
    MSG_QUOTA,
    MSG_SYNC_UNSUPPORTED,
    ApiError,
    DroppedResponse,
    OssError,
    SimulatedDrop,
    error_response,
    json_response,
    oss_error_response,
)
from qwentui.sim.outputs import list_item, sync_body, task_output
from qwentui.sim.simulator import Simulator, Submission
from qwentui.sim.tasks import Status
from qwentui.sim.uploads import UPLOAD_PATH
from qwentui.sim.validate import validate

API = "/api/v1"
_UUID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LIST_STATUSES = {s.value for s in Status} - {Status.UNKNOWN.value}
_NOT_JSON = object()  # a body that did not parse (recorded as its raw bytes)


class Kind(StrEnum):
    SUBMIT = "submit"
    QUERY = "query"  # GET /tasks/{id} and GET /tasks share the account's 20 QPS
    CANCEL = "cancel"
    POLICY = "policy"


Handler = Callable[[Request, Simulator, str, str], Awaitable[Response]]


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def base_url(request: Request, config: SimConfig) -> str:
    """Where clients reach us: the configured public URL, else the scheme and host they used."""
    if config.public_url:
        return config.public_url.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


async def _gate(request: Request, sim: Simulator, kind: Kind) -> str:
    """Faults, auth, storms and rate limits, in that order; returns the key's fingerprint."""
    cfg = sim.config
    if sim.faults.roll(cfg.drop_before_rate):
        raise SimulatedDrop("connection dropped before the request was processed")
    if cfg.slow_seconds > 0:
        await asyncio.sleep(cfg.slow_seconds)
    key = check_key(request.headers.get("authorization"), cfg)
    now = sim.now()
    storm = sim.faults.storm(now)
    if storm is not None:
        raise storm
    if kind is Kind.QUERY and (err := sim.faults.throttle_query(now)) is not None:
        raise err
    if kind is Kind.SUBMIT:
        if cfg.arrearage:
            raise ApiError(400, "Arrearage", MSG_ARREARAGE)
        if cfg.quota_exhausted:
            raise ApiError(429, "Throttling.AllocationQuota", MSG_QUOTA)
        if (err := sim.faults.throttle_submit(now)) is not None:
            raise err
    return key


def api(kind: Kind, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: gate, handler, and the error envelope / dropped connection around both."""

    async def endpoint(request: Request) -> Response:
        sim = _sim(request)
        request_id = sim.new_id()
        try:
            key = await _gate(request, sim, kind)
            return await handler(request, sim, request_id, key)
        except ApiError as err:
            return error_response(err, request_id)
        except SimulatedDrop:
            return DroppedResponse()  # a reset: nothing of the answer is sent

    return endpoint


# ---- generation -------------------------------------------------------------------------------------------


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


async def _submit(request: Request, sim: Simulator, request_id: str, key: str, route: Route, body: Any,
                  record: Submission) -> Response:
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
    base = base_url(request, sim.config)
    if route.is_async:
        task = sim.create_task(job, body, key, request_id)
        answer: dict[str, Any] = {"request_id": request_id,
                                  "output": {"task_id": task.task_id, "task_status": "PENDING"}}
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


# ---- tasks ------------------------------------------------------------------------------------------------


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
    task.canceled_at = now
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
    page = rows[(page_no - 1) * page_size: page_no * page_size]
    body = {
        "request_id": request_id, "total": len(rows), "total_page": math.ceil(len(rows) / page_size),
        "page_no": page_no, "page_size": page_size, "data": [list_item(t, now, cfg) for t in page],
    }
    return json_response(body, request_id)


# ---- uploads ----------------------------------------------------------------------------------------------


async def get_policy(request: Request, sim: Simulator, request_id: str, key: str) -> Response:
    if request.query_params.get("action") != "getPolicy":
        raise ApiError.invalid("action must be getPolicy.")
    model = request.query_params.get("model", "")
    if not model:
        raise ApiError(400, "BadRequest.EmptyModel", MSG_EMPTY_MODEL)
    if model not in models():
        raise ApiError(404, "ModelNotFound", f"Model not found ({model}).")
    host = base_url(request, sim.config) + UPLOAD_PATH
    data = sim.uploads.issue(model, key, sim.now(), host, sim.new_id())
    return json_response({"data": data, "request_id": request_id}, request_id)


async def oss_upload(request: Request) -> Response:
    sim = _sim(request)
    request_id = sim.new_id().replace("-", "").upper()[:24]
    try:
        try:
            form = await request.form(max_files=4, max_fields=64)
        except Exception as exc:  # python-multipart raises several types for a malformed body
            raise OssError(400, "MalformedPOSTRequest",
                           "The body of your POST request is not well-formed multipart/form-data.") from exc
        fields: dict[str, str] = {}
        file: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name == "file":
                    file = value
                    break  # like OSS: whatever follows the file is not read
            else:
                fields[name] = value
        if file is None:
            raise OssError(400, "InvalidArgument", "The form field 'file' is missing (it must come last).")
        data = await file.read()
        upload = sim.uploads.store(fields, data, file.filename or "", file.content_type or "", sim.now())
    except OssError as err:
        return oss_error_response(err, request_id)
    status = fields.get("success_action_status", "")
    headers = {"x-oss-request-id": request_id, "ETag": f'"{upload.sha256[:32].upper()}"'}
    if status == "200":
        return Response(b"", status_code=200, headers=headers)
    if status == "201":
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Bucket>dashscope-file-mgr</Bucket>'
               f"<Key>{upload.key}</Key><ETag>{headers['ETag']}</ETag></PostResponse>")
        return Response(xml, status_code=201, headers=headers, media_type="application/xml")
    return Response(b"", status_code=204, headers=headers)


# ---- result files -----------------------------------------------------------------------------------------


async def get_file(request: Request) -> Response:
    sim = _sim(request)
    request_id = sim.new_id().replace("-", "").upper()[:24]
    try:
        ref = sim.files.resolve(request.url.path, request.query_params, sim.now())
    except OssError as err:
        return oss_error_response(err, request_id)
    data = await anyio.to_thread.run_sync(sim.files.data, ref)  # rendering a video takes a moment
    response = sim.files.response(ref, data, request.method, request.headers.get("range"))
    response.headers["x-oss-request-id"] = request_id
    return response


async def index(request: Request) -> Response:
    base = base_url(request, _sim(request).config)
    return json_response({"service": "qwentui DashScope simulator", "api": base + API,
                          "QWEN_BASE_URL": base, "DASHSCOPE_HTTP_BASE_URL": base + API}, "index")


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    code = "NotFound" if status == 404 else "MethodNotAllowed"
    message = "The requested URL was not found." if status == 404 else "Method not allowed."
    return error_response(ApiError(status, code, message), "none")


# ---- the app ----------------------------------------------------------------------------------------------


class _Edge:
    """Tolerate trailing slashes (the aio SDK asks `/tasks/{id}/`), count what goes in and out, and turn
    a `SimulatedDrop` into a cut connection."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sim = self.sim
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            sim.trailing_slashes += 1
            path = path.rstrip("/") or "/"
            scope = dict(scope, path=path, raw_path=path.encode())
        sim.requests[f"{scope['method']} {_UUID.sub('/{id}', path)}"] += 1
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                sim.statuses[message["status"]] += 1
                if message["status"] == 429:
                    sim.throttled += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except SimulatedDrop:
            sim.dropped += 1
            if started or not await _abort(receive):
                raise  # uvicorn closes a started response's socket; ASGITransport hands this to the client


async def _abort(receive: Receive) -> bool:
    """Reset the socket before anything was sent, if the server lets us reach it (uvicorn's request cycle
    keeps its transport). Waiting a tick lets uvicorn see the disconnect, so it does not answer 500."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)
    return True


def create_app(config: SimConfig | None = None, sim: Simulator | None = None) -> Starlette:
    """The ASGI app; its simulator is `app.state.sim`. Pass `sim` to share one, or a `config` for a new one."""
    if sim is None:
        sim = Simulator(config)
    routes = [HttpRoute(API + r.value, api(Kind.SUBMIT, submit_handler(r)), methods=["POST"]) for r in Route]
    routes += [
        HttpRoute(API + "/tasks", api(Kind.QUERY, list_tasks), methods=["GET"]),
        HttpRoute(API + "/tasks/{task_id}", api(Kind.QUERY, get_task), methods=["GET"]),
        HttpRoute(API + "/tasks/{task_id}/cancel", api(Kind.CANCEL, cancel_task), methods=["POST"]),
        HttpRoute(API + "/uploads", api(Kind.POLICY, get_policy), methods=["GET"]),
        HttpRoute(UPLOAD_PATH, oss_upload, methods=["POST"]),
        HttpRoute("/files/{path:path}", get_file, methods=["GET", "HEAD"]),
        HttpRoute("/", index, methods=["GET"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Edge, sim=sim)],
                    exception_handlers={404: _not_found, 405: _not_found})
    app.state.sim = sim
    sim._app = app
    return app
