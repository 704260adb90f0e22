"""The HTTP face of the simulator: a Starlette app speaking the DashScope protocol.

Routes: the six generation routes, task get / cancel / list and getPolicy under `/api/v1` (each behind
`gate.api`); the OSS upload host at `/oss`; result files at `/files/...`. The edge layer around them all
tolerates trailing slashes, counts requests and answers, and turns a simulated drop into a cut socket.
"""

from __future__ import annotations

import asyncio
import re
from email.utils import formatdate

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qwentui.core.catalog import Route
from qwentui.sim.config import SimConfig
from qwentui.sim.errors import ApiError, SimulatedDrop, error_response, json_response
from qwentui.sim.gate import API, Kind, api, base_url, sim_of
from qwentui.sim.generation import submit_handler
from qwentui.sim.oss_routes import get_file, get_policy, oss_upload
from qwentui.sim.simulator import Simulator
from qwentui.sim.task_routes import cancel_task, get_task, list_tasks
from qwentui.sim.uploads import UPLOAD_PATH

_UUID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def index(request: Request) -> Response:
    """A no-auth health check that also tells how to point clients here."""
    sim = sim_of(request)
    base = base_url(request, sim.config)
    return json_response(
        {
            "service": "qwentui DashScope simulator",
            "api": base + API,
            "QWEN_BASE_URL": base,
            "DASHSCOPE_HTTP_BASE_URL": base + API,
        },
        sim.new_id(),
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    code = "NotFound" if status == 404 else "MethodNotAllowed"
    message = "The requested URL was not found." if status == 404 else "Method not allowed."
    return error_response(ApiError(status, code, message), sim_of(request).new_id())


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
                # the service's clock, as a real gateway sends it (uvicorn's own Date header is turned off)
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", formatdate(sim.now(), usegmt=True).encode()))
                    message = dict(message, headers=headers)
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
    app = Starlette(
        routes=routes, middleware=[Middleware(_Edge, sim=sim)], exception_handlers={404: _not_found, 405: _not_found}
    )
    app.state.sim = sim
    return app
